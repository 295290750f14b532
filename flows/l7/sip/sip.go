// Package sip identifies SIP over UDP and TCP from a request line
// ("INVITE sip:bob@example.com SIP/2.0") or a status line ("SIP/2.0 200
// OK") and reads the first message's start line and a few headers. The
// session stops after that message's header block.
package sip

import (
	"bytes"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	maxHeader = 4 << 10 // bytes of the first message kept until its header ends
	maxURI    = 256
	maxCallID = 128
	maxUA     = 256
	version   = "SIP/2.0"
)

var methods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK",
	"SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}

const maxMethodLen = len("SUBSCRIBE")

func knownMethod(b []byte) (string, bool) {
	for _, m := range methods {
		if string(b) == m {
			return m, true
		}
	}
	return "", false
}

type parser struct{}

// New returns the SIP parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string             { return "sip" }
func (parser) Transports() l7.Transport { return l7.TCP | l7.UDP }
func (parser) Ports() []uint16          { return []uint16{5060, 5061} }
func (parser) NewSession(f *l7.FlowInfo) l7.Session {
	return &session{udp: f != nil && f.Transport == l7.UDP}
}

// Probe accepts "METHOD SP sip:|sips:|tel: URI SP SIP/2.0 CRLF" with a
// known method, or "SIP/2.0 SP 3DIGIT SP". Leading CRLFs (keep-alives) are
// skipped; a prefix of either form is VerdictMaybe.
func (parser) Probe(_ *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	if len(data) == 0 {
		return l7.VerdictMaybe
	}
	if data[0] == 'S' {
		if v := probeStatus(data); v != l7.VerdictNo {
			return v
		}
	}
	return probeRequest(data)
}

// match compares data with pattern where '#' is any digit; it returns
// VerdictMaybe when data is a matching prefix.
func match(data []byte, pattern string) l7.Verdict {
	for i := 0; i < len(pattern); i++ {
		if i >= len(data) {
			return l7.VerdictMaybe
		}
		c := data[i]
		if pattern[i] == '#' {
			if c < '0' || c > '9' {
				return l7.VerdictNo
			}
		} else if c != pattern[i] {
			return l7.VerdictNo
		}
	}
	return l7.VerdictYes
}

func probeStatus(data []byte) l7.Verdict {
	return match(data, version+" ### ")
}

func probeRequest(data []byte) l7.Verdict {
	sp := bytes.IndexByte(data[:min(len(data), maxMethodLen+1)], ' ')
	if sp < 0 {
		if len(data) > maxMethodLen {
			return l7.VerdictNo
		}
		for _, m := range methods {
			if len(data) <= len(m) && m[:len(data)] == string(data) {
				return l7.VerdictMaybe
			}
		}
		return l7.VerdictNo
	}
	if _, ok := knownMethod(data[:sp]); !ok {
		return l7.VerdictNo
	}
	rest := data[sp+1:]
	scheme := l7.VerdictNo
	for _, s := range [...]string{"sip:", "sips:", "tel:"} {
		if v := match(rest, s); v == l7.VerdictYes {
			scheme = v
			break
		} else if v == l7.VerdictMaybe {
			scheme = v
		}
	}
	if scheme != l7.VerdictYes {
		return scheme
	}
	end := -1
	for i, c := range rest {
		if c == ' ' {
			end = i
			break
		}
		if c < 0x21 || c == 0x7f {
			return l7.VerdictNo
		}
	}
	if end < 0 {
		if len(rest) > maxHeader {
			return l7.VerdictNo
		}
		return l7.VerdictMaybe
	}
	v := rest[end+1:]
	if r := match(v, version); r != l7.VerdictYes {
		return r
	}
	v = v[len(version):]
	if len(v) == 0 || len(v) == 1 && v[0] == '\r' {
		return l7.VerdictMaybe
	}
	if v[0] == '\n' || v[0] == '\r' && v[1] == '\n' {
		return l7.VerdictYes
	}
	return l7.VerdictNo
}

type session struct {
	udp    bool
	buf    []byte // the first message's header until complete (TCP)
	done   bool
	have   bool
	method string
	status int
	uri    string
	callID string
	ua     string
	cseq   string
}

// Feed parses the first message. Over UDP it is the first datagram; over
// TCP it is gathered (bounded) until its blank line.
func (s *session) Feed(ctx *l7.Context, _ l7.Dir, data []byte) bool {
	if s.done {
		return false
	}
	if len(s.buf) == 0 {
		for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
			data = data[1:]
		}
		if len(data) == 0 {
			return true
		}
		if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
			s.parse(ctx, data[:i+2])
			return false
		}
		if s.udp { // a datagram is a whole message, blank line or not
			s.parse(ctx, data[:min(len(data), maxHeader)])
			return false
		}
	}
	room := maxHeader - len(s.buf)
	s.buf = append(s.buf, data[:min(len(data), room)]...)
	if i := bytes.Index(s.buf, []byte("\r\n\r\n")); i >= 0 {
		s.parse(ctx, s.buf[:i+2])
		return false
	}
	if len(s.buf) >= maxHeader {
		s.parse(ctx, s.buf)
		return false
	}
	return true
}

// Gap ends the first message where it was cut.
func (s *session) Gap(ctx *l7.Context, _ l7.Dir, _ int) bool {
	if !s.done && len(s.buf) > 0 {
		s.parse(ctx, s.buf)
	}
	s.done = true
	return false
}

// parse reads the start line and headers in hdr (lines ending in CRLF).
func (s *session) parse(ctx *l7.Context, hdr []byte) {
	s.done = true
	line, rest := cutLine(hdr)
	if probeStatus(line) == l7.VerdictYes {
		s.status = int(line[8]-'0')*100 + int(line[9]-'0')*10 + int(line[10]-'0')
	} else if sp := bytes.IndexByte(line, ' '); sp > 0 {
		m, ok := knownMethod(line[:sp])
		uri := line[sp+1:]
		if e := bytes.IndexByte(uri, ' '); e > 0 && ok {
			s.method = m
			s.uri = string(uri[:min(e, maxURI)])
		}
	}
	if s.status == 0 && s.method == "" {
		ctx.Malformed("sip")
		s.buf = nil
		return
	}
	s.have = true
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name, v := bytes.TrimSpace(line[:colon]), bytes.TrimSpace(line[colon+1:])
		switch {
		case l7.EqualFoldASCII(name, "call-id") || l7.EqualFoldASCII(name, "i"):
			s.callID = string(v[:min(len(v), maxCallID)])
		case l7.EqualFoldASCII(name, "user-agent") || l7.EqualFoldASCII(name, "server"):
			if s.ua == "" {
				s.ua = string(v[:min(len(v), maxUA)])
			}
		case l7.EqualFoldASCII(name, "cseq"):
			s.cseq = string(v[:min(len(v), 64)])
		}
	}
	s.buf = nil
}

func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

func (s *session) Fields(d *ecs.Doc) {
	if !s.have {
		return
	}
	d.Str("outflow.sip.method", s.method)
	if s.status > 0 {
		d.Int("outflow.sip.status_code", int64(s.status))
	}
	d.Str("outflow.sip.uri", s.uri)
	d.Str("outflow.sip.call_id", s.callID)
	d.Str("outflow.sip.cseq", s.cseq)
	d.Str("user_agent.original", s.ua)
}

func (s *session) Summary(sum *l7.Summary) { sum.Protocol = "sip" }
