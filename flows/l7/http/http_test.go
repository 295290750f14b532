package http

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

var ctx = &l7.Context{}

type msg struct {
	dir  l7.Dir
	data string
}

// run feeds a conversation to a new session and returns it with the flat
// fields it produced.
func run(t testing.TB, conv []msg) (*session, map[string]any) {
	t.Helper()
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP}).(*session)
	for _, m := range conv {
		s.Feed(ctx, m.dir, []byte(m.data))
	}
	return s, l7test.Fields(t, s)
}

func c(s string) msg  { return msg{l7.FromClient, s} }
func sv(s string) msg { return msg{l7.FromServer, s} }

func TestProbe(t *testing.T) {
	tests := []struct {
		in   string
		want l7.Verdict
	}{
		{"", l7.VerdictMaybe},
		{"G", l7.VerdictMaybe},
		{"GE", l7.VerdictMaybe},
		{"GET", l7.VerdictMaybe},
		{"GET ", l7.VerdictMaybe},
		{"GET /index.html", l7.VerdictMaybe},
		{"GET /index.html HTTP/1", l7.VerdictMaybe},
		{"GET /index.html HTTP/1.1", l7.VerdictMaybe},
		{"GET /index.html HTTP/1.1\r", l7.VerdictMaybe},
		{"GET /index.html HTTP/1.1\r\n", l7.VerdictYes},
		{"GET / HTTP/1.0\n", l7.VerdictYes},
		{"PROPFIND /dav/ HTTP/1.1\r\n", l7.VerdictYes},
		{"PROPPATCH /dav/x HTTP/1.1\r\n", l7.VerdictYes},
		{"MKCOL /dav/new/ HTTP/1.1\r\n", l7.VerdictYes},
		{"COPY /a HTTP/1.1\r\n", l7.VerdictYes},
		{"MOVE /a HTTP/1.1\r\n", l7.VerdictYes},
		{"LOCK /a HTTP/1.1\r\n", l7.VerdictYes},
		{"UNLOCK /a HTTP/1.1\r\n", l7.VerdictYes},
		{"CONNECT example.com:443 HTTP/1.1\r\n", l7.VerdictYes},
		{"PATCH /api/1 HTTP/1.1\r\n", l7.VerdictYes},
		{"OPTIONS * HTTP/1.1\r\n", l7.VerdictYes},
		{"VERSION-CONTROL /x HTTP/1.1\r\n", l7.VerdictYes},
		{"UPDATEREDIRECTREF /x HTTP/1.1\r\n", l7.VerdictYes},
		{"GET http://example.com/x?y=1 HTTP/1.1\r\n", l7.VerdictYes},
		{"HTTP/1.1 200 OK\r\n", l7.VerdictYes},
		{"HTTP/1.0 404\r\n", l7.VerdictYes},
		{"HTTP/1.1 20", l7.VerdictMaybe},
		{"HTTP/1.1 200", l7.VerdictMaybe},
		{"HTTP/", l7.VerdictMaybe},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", l7.VerdictYes},
		{"PRI * HT", l7.VerdictMaybe},
		// Not HTTP/1.x.
		{"get / HTTP/1.1\r\n", l7.VerdictNo},
		{"GETX / HTTP/1.1\r\n", l7.VerdictNo},
		{"GET  / HTTP/1.1\r\n", l7.VerdictNo},
		{"GET / HTTP/2.0\r\n", l7.VerdictNo},
		{"GET / HTTP/1.1 \r\n", l7.VerdictNo},
		{"GET /a\x00b HTTP/1.1\r\n", l7.VerdictNo},
		{"OPTIONS sip:bob@example.com SIP/2.0\r\n", l7.VerdictNo},
		{"OPTIONS rtsp://cam/stream RTSP/1.0\r\n", l7.VerdictNo},
		{"HTTP/2 200\r\n", l7.VerdictNo},
		{"HTTP/1.1 2x0 OK\r\n", l7.VerdictNo},
		{"HTTP/1.1 200OK\r\n", l7.VerdictNo},
		{"SSH-2.0-OpenSSH_9.6\r\n", l7.VerdictNo},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", l7.VerdictNo},
		{"220 ftp.example.com ready\r\n", l7.VerdictNo},
		{"PRI / HTTP/2.0\r\n", l7.VerdictNo},
		{"GET " + strings.Repeat("a", maxHeaderBytes), l7.VerdictNo},
		{"THISISNOTAMETHODATALL", l7.VerdictNo},
	}
	p := New()
	for _, tt := range tests {
		for _, dir := range []l7.Dir{l7.FromClient, l7.FromServer} {
			if got := p.Probe(&l7.FlowInfo{Transport: l7.TCP}, dir, []byte(tt.in)); got != tt.want {
				t.Errorf("Probe(%q, dir %d) = %d, want %d", tt.in, dir, got, tt.want)
			}
		}
	}
}

func TestSession(t *testing.T) {
	longHeader := "X-Pad: " + strings.Repeat("p", maxHeaderBytes) + "\r\n"
	tests := []struct {
		name    string
		conv    []msg
		want    map[string]any // flat fields expected (others may exist)
		absent  []string       // fields that must not be set
		sum     l7.Summary
		stopped bool
	}{
		{
			name: "keep-alive GET pairs",
			conv: []msg{
				c("GET /a/b.html?q=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
				c("GET /second HTTP/1.1\r\nHost: other.example\r\nUser-Agent: other\r\n\r\n"),
				sv("HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nnop"),
			},
			want: map[string]any{
				"http.request.method": "GET", "url.original": "/a/b.html?q=1", "url.path": "/a/b.html",
				"url.domain": "example.com", "user_agent.original": "curl/8.5.0",
				"http.response.status_code": 200.0, "http.version": "1.1",
				"http.request.body.bytes": 0.0, "http.response.body.bytes": 8.0,
				"outflow.http.requests": 2.0, "outflow.http.responses": 2.0,
				"outflow.http.methods": []any{"GET"},
			},
			sum: l7.Summary{Protocol: "http", Domain: "example.com", Downloaded: 8},
		},
		{
			name: "pipelined with HEAD, 204 and 304",
			conv: []msg{
				c("HEAD /h HTTP/1.1\r\nHost: h.example\r\n\r\nGET /n HTTP/1.1\r\nHost: h.example\r\n\r\nGET /c HTTP/1.1\r\n\r\nDELETE /d HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" +
					"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n" +
					"HTTP/1.1 304 Not Modified\r\n\r\n" +
					"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: map[string]any{
				"http.request.method": "HEAD", "http.response.status_code": 200.0,
				"http.response.body.bytes": 2.0, "outflow.http.requests": 4.0, "outflow.http.responses": 4.0,
				"outflow.http.methods": []any{"HEAD", "GET", "DELETE"},
			},
			sum: l7.Summary{Protocol: "http", Domain: "h.example", Downloaded: 2},
		},
		{
			name: "chunked response with extensions and trailers",
			conv: []msg{
				c("GET /stream HTTP/1.1\r\nHost: s.example\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
					"a;ext=1\r\n0123456789\r\n1F\r\n" + strings.Repeat("x", 31) + "\r\n0\r\nX-Trailer: 1\r\n\r\n"),
				c("GET /next HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"),
			},
			want: map[string]any{"http.response.body.bytes": 45.0, "outflow.http.responses": 2.0},
			sum:  l7.Summary{Protocol: "http", Domain: "s.example", Downloaded: 45},
		},
		{
			name: "chunked request body and 100-continue",
			conv: []msg{
				c("POST /up HTTP/1.1\r\nHost: u.example\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"),
				sv("HTTP/1.1 100 Continue\r\n\r\n"),
				c("4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"),
				sv("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
			},
			want: map[string]any{
				"http.request.method": "POST", "http.response.status_code": 201.0,
				"http.request.body.bytes": 7.0, "outflow.http.responses": 1.0,
			},
			sum: l7.Summary{Protocol: "http", Domain: "u.example", Uploaded: 7},
		},
		{
			name: "response body until close",
			conv: []msg{
				c("GET / HTTP/1.0\r\n\r\n"),
				sv("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"),
				sv("part one, "),
				sv("part two"),
			},
			want: map[string]any{"http.version": "1.0", "http.response.body.bytes": 18.0},
			sum:  l7.Summary{Protocol: "http", Downloaded: 18},
		},
		{
			name: "WebDAV file operations",
			conv: []msg{
				c("PUT /dav/report.pdf HTTP/1.1\r\nHost: dav.example\r\nContent-Length: 10\r\n\r\n0123456789"),
				sv("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
				c("MOVE /dav/report.pdf HTTP/1.1\r\nDestination: /dav/old.pdf\r\n\r\n"),
				sv("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
				c("COPY /dav/old.pdf?x HTTP/1.1\r\n\r\nPROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\nContent-Length: 4\r\n\r\n<a/>"),
				sv("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 207 Multi-Status\r\nContent-Length: 6\r\n\r\n<ms/>\n"),
			},
			want: map[string]any{
				"http.request.method": "PUT", "http.request.body.bytes": 14.0, "http.response.body.bytes": 6.0,
				"outflow.http.methods": []any{"PUT", "MOVE", "COPY", "PROPFIND"},
			},
			sum: l7.Summary{Protocol: "http", Domain: "dav.example", Uploaded: 14, Downloaded: 6, Files: []l7.FileOp{
				{Op: "PUT", Name: "/dav/report.pdf", Dir: l7.TransferUpload, Bytes: 10},
				{Op: "MOVE", Name: "/dav/report.pdf"},
				{Op: "COPY", Name: "/dav/old.pdf"},
			}},
		},
		{
			name: "CONNECT tunnel stops the session",
			conv: []msg{
				c("CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\nUser-Agent: proxy-client\r\n\r\n"),
				sv("HTTP/1.1 200 Connection established\r\n\r\n"),
			},
			want: map[string]any{
				"http.request.method": "CONNECT", "url.original": "api.example:443", "url.domain": "api.example",
				"http.response.status_code": 200.0,
			},
			absent:  []string{"url.path"},
			sum:     l7.Summary{Protocol: "http", Domain: "api.example"},
			stopped: true,
		},
		{
			name: "refused CONNECT keeps parsing",
			conv: []msg{
				c("CONNECT api.example:443 HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nno!"),
				c("GET http://plain.example/x/y?z HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: map[string]any{"http.response.status_code": 407.0, "outflow.http.requests": 2.0, "outflow.http.responses": 2.0, "http.response.body.bytes": 5.0},
			sum:  l7.Summary{Protocol: "http", Domain: "api.example", Downloaded: 5},
		},
		{
			name: "absolute-form target",
			conv: []msg{c("GET http://user@Proxy.Example:3128/p/q?r=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n")},
			want: map[string]any{"url.path": "/p/q", "url.domain": "proxy.example", "url.original": "http://user@Proxy.Example:3128/p/q?r=1"},
			sum:  l7.Summary{Protocol: "http", Domain: "proxy.example"},
		},
		{
			name: "IPv6 Host",
			conv: []msg{c("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n")},
			want: map[string]any{"url.domain": "2001:db8::1"},
			sum:  l7.Summary{Protocol: "http", Domain: "2001:db8::1"},
		},
		{
			name: "HTTP/2 prior knowledge",
			conv: []msg{c("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00")},
			want: map[string]any{"http.version": "2"},
			absent: []string{
				"http.request.method", "outflow.http.requests",
			},
			sum:     l7.Summary{Protocol: "http"},
			stopped: true,
		},
		{
			name: "oversized header block is malformed",
			conv: []msg{
				c("GET /big HTTP/1.1\r\n" + longHeader + "\r\n"),
				sv("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n"),
			},
			want: map[string]any{"http.request.method": "GET", "http.response.status_code": 431.0},
			sum:  l7.Summary{Protocol: "http"},
		},
		{
			name: "garbage between requests resynchronises",
			conv: []msg{
				c("GET /1 HTTP/1.1\r\n\r\n\x00\x01binary junk\r\nmore junk\nGET /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
			},
			want: map[string]any{"outflow.http.requests": 2.0, "http.request.body.bytes": 3.0},
			sum:  l7.Summary{Protocol: "http", Uploaded: 3},
		},
		{
			name: "responses without their requests",
			conv: []msg{sv("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx")},
			want: map[string]any{"http.response.status_code": 200.0, "http.version": "1.1", "outflow.http.responses": 2.0, "http.response.body.bytes": 4.0},
			absent: []string{
				"http.request.method", "outflow.http.requests",
			},
			sum: l7.Summary{Protocol: "http", Downloaded: 4},
		},
		{
			name: "conflicting Content-Length on a request",
			conv: []msg{
				c("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc\nGET /y HTTP/1.1\r\n\r\n"),
			},
			want: map[string]any{"outflow.http.requests": 2.0},
			sum:  l7.Summary{Protocol: "http"},
		},
		{
			name: "101 switching protocols stops",
			conv: []msg{
				c("GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
				sv("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
			},
			want:    map[string]any{"http.response.status_code": 101.0},
			sum:     l7.Summary{Protocol: "http", Domain: "ws.example"},
			stopped: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := run(t, tt.conv)
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s set to %#v, want absent", k, got[k])
				}
			}
			var sum l7.Summary
			s.Summary(&sum)
			if len(sum.Files) == 0 {
				sum.Files = nil
			}
			// Resource is the first request's path: checked against url.path.
			if p, _ := got["url.path"].(string); sum.Resource != p {
				t.Errorf("Summary.Resource = %q, want url.path %q", sum.Resource, p)
			}
			sum.Resource = ""
			if !reflect.DeepEqual(sum, tt.sum) {
				t.Errorf("Summary = %+v, want %+v", sum, tt.sum)
			}
			if s.stopped != tt.stopped {
				t.Errorf("stopped = %v, want %v", s.stopped, tt.stopped)
			}
		})
	}
}

func TestOversizedHeaderKillsDirectionOnly(t *testing.T) {
	s, _ := run(t, []msg{c("GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeaderBytes))})
	if s.half[0].st != stDead {
		t.Fatalf("client state = %d, want dead", s.half[0].st)
	}
	if !s.Feed(ctx, l7.FromServer, []byte("HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")) {
		t.Fatal("session stopped with the server direction still parseable")
	}
	if s.status != 400 {
		t.Errorf("status = %d, want 400", s.status)
	}
	if cap(s.half[0].buf) > 2*maxHeaderBytes {
		t.Errorf("buffer grew to %d", cap(s.half[0].buf))
	}
}

func TestGap(t *testing.T) {
	s := New().NewSession(nil).(*session)
	s.Feed(ctx, l7.FromClient, []byte("POST /u HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789"))
	if !s.Gap(ctx, l7.FromClient, 50) {
		t.Fatal("gap inside a body stopped the session")
	}
	s.Feed(ctx, l7.FromClient, []byte(strings.Repeat("z", 40)+"GET /after HTTP/1.1\r\n\r\n"))
	if s.reqBody != 100 || s.requests != 2 {
		t.Fatalf("after gap in body: body %d requests %d, want 100 and 2", s.reqBody, s.requests)
	}
	// A gap in a header block loses the framing: the next request line
	// resynchronises.
	s.Feed(ctx, l7.FromClient, []byte("GET /third HTTP/1.1\r\nHost: x\r\n"))
	s.Gap(ctx, l7.FromClient, 30)
	s.Feed(ctx, l7.FromClient, []byte("tail of a lost header\r\n\r\nPUT /fourth HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"))
	if s.requests != 4 || s.reqBody != 102 {
		t.Fatalf("after gap in headers: requests %d body %d, want 4 and 102", s.requests, s.reqBody)
	}
}

// conversation is a flow exercising every framing path, used to check that
// splitting the streams anywhere changes nothing.
var conversation = []msg{
	c("POST /upload HTTP/1.1\r\nHost: up.example\r\nUser-Agent: split-test\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n10;x=y\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n" +
		"HEAD /h HTTP/1.1\r\n\r\n" +
		"PUT /f.bin HTTP/1.1\r\nContent-Length: 6\r\n\r\nabcdef" +
		"\r\nGET /last HTTP/1.1\r\n\r\n"),
	sv("HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes" +
		"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" +
		"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\n\r\nuntil close"),
}

func summaryOf(s l7.Session) l7.Summary {
	var sum l7.Summary
	s.Summary(&sum)
	return sum
}

func TestEverySplit(t *testing.T) {
	ref, want := run(t, conversation)
	wantSum := summaryOf(ref)
	if wantSum.Uploaded != 27 || wantSum.Downloaded != 16 || ref.requests != 4 || ref.responses != 4 {
		t.Fatalf("reference: up %d down %d req %d resp %d, want 27 16 4 4",
			wantSum.Uploaded, wantSum.Downloaded, ref.requests, ref.responses)
	}
	check := func(t *testing.T, s *session, how string) {
		t.Helper()
		if got := l7test.Fields(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: fields %v, want %v", how, got, want)
		}
		if got := summaryOf(s); !reflect.DeepEqual(got, wantSum) {
			t.Fatalf("%s: summary %+v, want %+v", how, got, wantSum)
		}
	}
	for side := range conversation {
		data := []byte(conversation[side].data)
		for i := 0; i <= len(data); i++ {
			s := New().NewSession(nil).(*session)
			for k, m := range conversation {
				if k != side {
					s.Feed(ctx, m.dir, []byte(m.data))
					continue
				}
				s.Feed(ctx, m.dir, data[:i])
				s.Feed(ctx, m.dir, data[i:])
			}
			check(t, s, fmt.Sprintf("stream %d split at %d", side, i))
		}
	}
	s := New().NewSession(nil).(*session)
	for _, m := range conversation {
		for i := 0; i < len(m.data); i++ {
			s.Feed(ctx, m.dir, []byte{m.data[i]})
		}
	}
	check(t, s, "byte by byte")
}

// TestAgainstNetHTTP frames messages written by net/http, an independent
// implementation, and checks the body byte counts.
func TestAgainstNetHTTP(t *testing.T) {
	var client, server bytes.Buffer
	var wantUp, wantDown int
	bodies := []string{"", "x", strings.Repeat("body", 1000), "tail\r\n0\r\n\r\n"}
	for i, b := range bodies {
		u, _ := url.Parse(fmt.Sprintf("http://h%d.example/p/%d?q", i, i))
		req := &nethttp.Request{Method: "POST", URL: u, Header: nethttp.Header{"User-Agent": {"go-test"}},
			Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b)), Host: u.Host, ProtoMajor: 1, ProtoMinor: 1}
		if i%2 == 1 {
			req.ContentLength = -1 // net/http sends chunked
			req.TransferEncoding = []string{"chunked"}
		}
		if err := req.Write(&client); err != nil {
			t.Fatal(err)
		}
		wantUp += len(b)
		resp := &nethttp.Response{StatusCode: 200 + i, ProtoMajor: 1, ProtoMinor: 1, Header: nethttp.Header{},
			Body: io.NopCloser(strings.NewReader(b + b)), ContentLength: int64(2 * len(b)), Request: req}
		if i%2 == 0 {
			resp.ContentLength = -1
			resp.TransferEncoding = []string{"chunked"}
		}
		if err := resp.Write(&server); err != nil {
			t.Fatal(err)
		}
		wantDown += 2 * len(b)
	}
	// net/http must read back what it wrote, or the comparison is moot.
	br := bufio.NewReader(bytes.NewReader(client.Bytes()))
	for range bodies {
		r, err := nethttp.ReadRequest(br)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
	}
	s, got := run(t, []msg{c(client.String()), sv(server.String())})
	if s.reqBody != uint64(wantUp) || s.respBody != uint64(wantDown) {
		t.Errorf("body bytes up %d down %d, want %d %d", s.reqBody, s.respBody, wantUp, wantDown)
	}
	if got["outflow.http.requests"] != float64(len(bodies)) || got["outflow.http.responses"] != float64(len(bodies)) {
		t.Errorf("counts %v %v", got["outflow.http.requests"], got["outflow.http.responses"])
	}
	if got["url.domain"] != "h0.example" || got["url.path"] != "/p/0" || got["user_agent.original"] != "go-test" {
		t.Errorf("first request fields: %v", got)
	}
}

func TestBounds(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 3*maxMethods; i++ {
		fmt.Fprintf(&b, "M%d /x HTTP/1.1\r\n\r\n", i)
	}
	for i := 0; i < 2*l7.MaxFileOps; i++ {
		b.WriteString("MOVE /a HTTP/1.1\r\n\r\n")
	}
	long := strings.Repeat("u", 3*maxURL)
	s, got := run(t, []msg{c("GET /" + long + " HTTP/1.1\r\nUser-Agent: " + strings.Repeat("a", 2*maxUA) + "\r\nHost: " + strings.Repeat("h", 2*maxHost) + "\r\n\r\n" + b.String())})
	if s.nMethods != maxMethods || len(got["outflow.http.methods"].([]any)) != maxMethods {
		t.Errorf("methods kept: %d", s.nMethods)
	}
	sum := summaryOf(s)
	if len(sum.Files) != l7.MaxFileOps || sum.FilesDropped != l7.MaxFileOps {
		t.Errorf("files %d dropped %d", len(sum.Files), sum.FilesDropped)
	}
	if len(s.target) != maxURL || len(s.path) != maxPath || len(s.ua) != maxUA || len(s.host) != maxHost {
		t.Errorf("lengths: url %d path %d ua %d host %d", len(s.target), len(s.path), len(s.ua), len(s.host))
	}
	if s.requests != uint64(1+3*maxMethods+2*l7.MaxFileOps) {
		t.Errorf("requests = %d", s.requests)
	}
}

func TestReset(t *testing.T) {
	join := func(conv []msg) (s [2][]byte) {
		for _, m := range conv {
			s[m.dir] = append(s[m.dir], m.data...)
		}
		return s
	}
	f := &l7.FlowInfo{Transport: l7.TCP}
	second := join([]msg{c("GET /b HTTP/1.1\r\nHost: b.example\r\n\r\n"), sv("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")})
	l7test.CheckReset(t, New(), f, f, join(conversation), second)
}
