package synth

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPRequest is an HTTP/1.1 request. Content-Length is set from Body when
// the body is not empty or the method is POST or PUT.
type HTTPRequest struct {
	Method      string // default GET
	Host        string
	Path        string // default "/"
	UserAgent   string // omitted when empty
	ContentType string // sent with a body
	Header      [][2]string
	Body        Payload
}

// Payload renders the request.
func (r HTTPRequest) Payload() Payload {
	m := r.Method
	if m == "" {
		m = http.MethodGet
	}
	p := r.Path
	if p == "" {
		p = "/"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", m, p, r.Host)
	if r.UserAgent != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", r.UserAgent)
	}
	b.WriteString("Accept: */*\r\n")
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.Body.Len() > 0 || m == http.MethodPost || m == http.MethodPut {
		if r.ContentType != "" {
			fmt.Fprintf(&b, "Content-Type: %s\r\n", r.ContentType)
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n", r.Body.Len())
	}
	b.WriteString("\r\n")
	return Concat(String(b.String()), r.Body)
}

// HTTPResponse is an HTTP/1.1 response with a Content-Length body.
type HTTPResponse struct {
	Status      int    // default 200
	Server      string // omitted when empty
	ContentType string // sent with a body
	Header      [][2]string
	Body        Payload
}

// Payload renders the response.
func (r HTTPResponse) Payload() Payload {
	st := r.Status
	if st == 0 {
		st = http.StatusOK
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", st, http.StatusText(st))
	if r.Server != "" {
		fmt.Fprintf(&b, "Server: %s\r\n", r.Server)
	}
	if r.Body.Len() > 0 && r.ContentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", r.ContentType)
	}
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: keep-alive\r\n\r\n", r.Body.Len())
	return Concat(String(b.String()), r.Body)
}

// HTTPExchange is one request and its response on a connection.
type HTTPExchange struct {
	Request  HTTPRequest
	Response HTTPResponse
	Think    time.Duration // client pause before the request
	Server   time.Duration // server time to respond (default 1ms)
}

// HTTP plans a TCP connection carrying the exchanges in order, closed by
// the client. The manifest notes the first request's host, method, uri,
// user_agent and status.
func (s *Scenario) HTTP(ep Endpoints, at time.Duration, ex []HTTPExchange, opt TCPOptions) *TCP {
	c := s.TCP(ep, at, "http", opt)
	for i, e := range ex {
		if i == 0 {
			m := e.Request.Method
			if m == "" {
				m = http.MethodGet
			}
			p := e.Request.Path
			if p == "" {
				p = "/"
			}
			st := e.Response.Status
			if st == 0 {
				st = http.StatusOK
			}
			c.Note("host", e.Request.Host)
			c.Note("method", m)
			c.Note("uri", p)
			c.Note("status", strconv.Itoa(st))
			if e.Request.UserAgent != "" {
				c.Note("user_agent", e.Request.UserAgent)
			}
		}
		c.Send(ToServer, e.Request.Payload(), e.Think)
		srv := e.Server
		if srv <= 0 {
			srv = time.Millisecond
		}
		c.Send(ToClient, e.Response.Payload(), srv)
	}
	c.Note("requests", strconv.Itoa(len(ex)))
	c.Close(ToServer, 200*time.Microsecond)
	return c
}
