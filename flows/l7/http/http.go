// Package http identifies HTTP/1.x (and the HTTP/2 prior-knowledge preface)
// and follows every request/response pair of a flow: pipelined and
// keep-alive messages, bodies framed by Content-Length, chunked encoding or
// connection close.
//
// A flow carries many requests but a record has one set of ECS fields: the
// method, URL, Host, User-Agent and status code are those of the first
// request (and the response to it); body byte counts are sums over the
// whole flow; outflow.http.requests counts requests and outflow.http.methods
// lists the distinct methods seen.
//
// Headers are parsed line by line as they arrive, so a session keeps at
// most one partial line per direction (bounded by the 8 KiB header limit)
// and never buffers a body: chunk sizes are parsed and chunk data skipped.
package http

import (
	"bytes"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	// maxHeaderBytes bounds a start line plus its header block, as most
	// servers do; beyond it the direction is abandoned as malformed.
	maxHeaderBytes = 8 << 10
	maxChunkLine   = 1 << 10  // chunk-size line including extensions
	maxPending     = 16       // requests awaiting a response (pipelining)
	maxMethods     = 8        // distinct methods kept for the record
	resyncBudget   = 64 << 10 // bytes searched for a start line after a gap
	maxURL         = 2048
	maxPath        = 1024
	maxUA          = 512
	maxHost        = 255
	maxMethodLen   = 20
)

// knownMethods are the request methods Probe accepts: RFC 9110, PATCH,
// WebDAV (RFC 4918, 3253, 3648, 3744, 5323, 5842, 4791) and a few common
// extensions. Sessions also accept other token methods later in a flow.
var knownMethods = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
	"PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
	"UNLOCK", "SEARCH", "REPORT", "MKCALENDAR", "ACL", "BIND", "UNBIND",
	"REBIND", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "VERSION-CONTROL",
	"MERGE", "MKWORKSPACE", "MKACTIVITY", "BASELINE-CONTROL", "LABEL",
	"UPDATE", "ORDERPATCH", "MKREDIRECTREF", "UPDATEREDIRECTREF", "LINK",
	"UNLINK", "PURGE", "QUERY",
}

// maxKnownMethod is the length of the longest known method.
const maxKnownMethod = len("UPDATEREDIRECTREF")

// knownMethod returns the canonical string for a known method, so that
// recording it allocates nothing.
func knownMethod(b []byte) (string, bool) {
	for _, m := range knownMethods {
		if string(b) == m {
			return m, true
		}
	}
	return "", false
}

// methodPrefix reports whether b could still grow into a known method.
func methodPrefix(b []byte) bool {
	for _, m := range knownMethods {
		if len(b) <= len(m) && m[:len(b)] == string(b) {
			return true
		}
	}
	return false
}

var versions = [10]string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9"}

const h2Preface = "PRI * HTTP/2.0\r\n"

type parser struct{}

// New returns the HTTP parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string             { return "http" }
func (parser) Transports() l7.Transport { return l7.TCP }
func (parser) Ports() []uint16          { return []uint16{80, 8080, 8000, 8008, 8888, 3128} }
func (parser) NewSession(*l7.FlowInfo) l7.Session {
	s := &session{}
	s.half[0].fileIdx = -1
	s.half[1].fileIdx = -1
	return s
}

var _ l7.Resetter = (*session)(nil)

// Reset implements l7.Resetter, keeping the line buffers.
func (s *session) Reset(*l7.FlowInfo) {
	b0, b1 := s.half[0].buf[:0], s.half[1].buf[:0]
	files := s.files[:0]
	clear(files[:cap(files)]) // drop the previous flow's names
	*s = session{files: files}
	s.half[0].buf, s.half[1].buf = b0, b1
	s.half[0].fileIdx = -1
	s.half[1].fileIdx = -1
}

// Probe accepts a stream that starts with a request line or a status line
// (either direction, so that a flow picked up with its roles swapped still
// parses), or with the HTTP/2 prior-knowledge preface.
func (parser) Probe(_ *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	if len(data) == 0 {
		return l7.VerdictMaybe
	}
	if data[0] == 'H' {
		if v := probeStatus(data); v != l7.VerdictNo {
			return v
		}
	}
	return probeRequest(data)
}

// probeStatus checks "HTTP/1.x NNN" followed by SP, CR or LF.
func probeStatus(data []byte) l7.Verdict {
	const pre = "HTTP/1."
	n := min(len(data), len(pre))
	if string(data[:n]) != pre[:n] {
		return l7.VerdictNo
	}
	for i := len(pre); i < len(pre)+5; i++ { // digit SP D D D
		if i >= len(data) {
			return l7.VerdictMaybe
		}
		c := data[i]
		switch {
		case i == len(pre)+1:
			if c != ' ' {
				return l7.VerdictNo
			}
		case !isDigit(c):
			return l7.VerdictNo
		}
	}
	i := len(pre) + 5
	if i >= len(data) {
		return l7.VerdictMaybe
	}
	if c := data[i]; c != ' ' && c != '\r' && c != '\n' {
		return l7.VerdictNo
	}
	return l7.VerdictYes
}

// probeRequest checks "METHOD SP target SP HTTP/1.x CRLF" with a known
// method, or the HTTP/2 preface.
func probeRequest(data []byte) l7.Verdict {
	if c := data[0]; c < 'A' || c > 'Z' {
		return l7.VerdictNo // every known method starts with a capital
	}
	sp := bytes.IndexByte(data[:min(len(data), maxKnownMethod+1)], ' ')
	if sp < 0 {
		if len(data) <= maxKnownMethod && methodPrefix(data) {
			return l7.VerdictMaybe
		}
		return l7.VerdictNo
	}
	if string(data[:sp]) == "PRI" {
		n := min(len(data), len(h2Preface))
		if string(data[:n]) == h2Preface[:n] {
			if n == len(h2Preface) {
				return l7.VerdictYes
			}
			return l7.VerdictMaybe
		}
		return l7.VerdictNo
	}
	if _, ok := knownMethod(data[:sp]); !ok {
		return l7.VerdictNo
	}
	rest := data[sp+1:]
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
		if len(rest) >= maxHeaderBytes {
			return l7.VerdictNo
		}
		return l7.VerdictMaybe
	}
	if end == 0 {
		return l7.VerdictNo
	}
	return probeVersion(rest[end+1:])
}

// probeVersion checks "HTTP/1.x" then CRLF or LF.
func probeVersion(v []byte) l7.Verdict {
	const want = "HTTP/1.#\r\n"
	for i := 0; i < len(want); i++ {
		if i >= len(v) {
			return l7.VerdictMaybe
		}
		c := v[i]
		switch want[i] {
		case '#':
			if !isDigit(c) {
				return l7.VerdictNo
			}
		case '\r':
			if c == '\n' {
				return l7.VerdictYes
			}
			if c != '\r' {
				return l7.VerdictNo
			}
		default:
			if c != want[i] {
				return l7.VerdictNo
			}
		}
	}
	return l7.VerdictYes
}

// state of one direction.
type state uint8

const (
	stStart     state = iota // expecting a request or status line
	stHeader                 // inside a header block
	stBody                   // Content-Length body: remain bytes left
	stChunkSize              // expecting a chunk-size line
	stChunkData              // inside chunk data: remain bytes left
	stChunkEnd               // expecting the CRLF after chunk data
	stTrailer                // trailer fields after the last chunk
	stClose                  // body runs until the connection closes
	stResync                 // looking for a start line after a gap or garbage
	stTunnel                 // not HTTP any more (CONNECT); ignored
	stDead                   // unparseable; ignored
)

// kind of a direction: what its messages are.
const (
	kindUnknown uint8 = iota
	kindRequest
	kindResponse
)

// request classes that change how the response is framed.
const (
	reqOther uint8 = iota
	reqHead
	reqConnect
)

type half struct {
	st       state
	kind     uint8
	skipping bool   // in resync: discarding the rest of an overlong line
	buf      []byte // partial line carried over between Feeds
	hdr      int    // bytes of the current start line and header block
	remain   uint64 // body or chunk bytes left
	resync   int    // bytes examined while resynchronising

	// The message being parsed.
	cl      int64 // Content-Length, -1 when absent
	chunked bool
	teOther bool // Transfer-Encoding other than chunked last
	badLen  bool // unusable Content-Length
	isReq   bool
	reqKind uint8
	status  int
	fileIdx int // index of the PUT in session.files receiving body bytes, or -1
}

type session struct {
	half    [2]half
	pend    [maxPending]uint8
	pendOff int
	pendN   int
	stopped bool

	// First request (and its response): the record's ECS fields.
	method, target, path, host, ua, version string
	status                                  int
	sawRequest                              bool

	requests, responses uint64
	reqBody, respBody   uint64
	methods             [maxMethods]string
	nMethods            int
	files               []l7.FileOp
	filesDropped        int
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	if s.stopped {
		return false
	}
	h := &s.half[dir&1]
	for len(data) > 0 && !s.stopped {
		switch h.st {
		case stBody, stChunkData:
			n := uint64(len(data))
			if n > h.remain {
				n = h.remain
			}
			s.countBody(h, n)
			h.remain -= n
			data = data[n:]
			if h.remain == 0 {
				if h.st == stBody {
					s.endMessage(h)
				} else {
					h.st = stChunkEnd
				}
			}
		case stClose:
			s.countBody(h, uint64(len(data)))
			data = nil
		case stTunnel, stDead:
			data = nil
		case stResync:
			data = s.resyncFeed(ctx, h, data)
		default:
			limit := maxHeaderBytes - h.hdr
			switch h.st {
			case stChunkSize:
				limit = maxChunkLine
			case stChunkEnd:
				limit = 64
			}
			line, rest, over := h.nextLine(data, limit)
			if over {
				ctx.Malformed("http")
				s.kill(h)
				break
			}
			data = rest
			if line != nil {
				s.line(ctx, h, line)
			}
		}
	}
	return !s.stopped
}

// nextLine returns the next complete line (LF included) of data, joined to a
// partial line kept from earlier Feeds, and the data after it. When data
// ends mid-line the part is kept and line is nil. over reports that the line
// would exceed limit bytes.
func (h *half) nextLine(data []byte, limit int) (line, rest []byte, over bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if len(h.buf)+len(data) > limit {
			return nil, nil, true
		}
		h.buf = append(h.buf, data...)
		return nil, nil, false
	}
	if len(h.buf)+i+1 > limit {
		return nil, nil, true
	}
	if len(h.buf) == 0 {
		return data[:i+1], data[i+1:], false
	}
	h.buf = append(h.buf, data[:i+1]...)
	line = h.buf
	h.buf = h.buf[:0] // line is consumed before buf is appended to again
	return line, data[i+1:], false
}

// kill abandons a direction; the session stops when both are abandoned.
func (s *session) kill(h *half) {
	h.st = stDead
	h.buf = h.buf[:0]
	if s.half[0].st == stDead && s.half[1].st == stDead {
		s.stopped = true
	}
}

func (s *session) startResync(h *half) {
	h.st = stResync
	h.buf = h.buf[:0]
	h.resync = 0
	h.skipping = false
	h.fileIdx = -1
}

// resyncFeed discards data line by line until a line parses as a start line
// of this direction, within a byte budget.
func (s *session) resyncFeed(ctx *l7.Context, h *half, data []byte) []byte {
	for len(data) > 0 && h.st == stResync {
		if h.resync >= resyncBudget {
			s.kill(h)
			return nil
		}
		i := bytes.IndexByte(data, '\n')
		n := len(data)
		if i >= 0 {
			n = i + 1
		}
		h.resync += n
		if h.skipping {
			data = data[n:]
			h.skipping = i < 0
			continue
		}
		line, rest, over := h.nextLine(data, 512)
		if over {
			h.buf = h.buf[:0]
			h.skipping = i < 0
			data = data[n:]
			continue
		}
		data = rest
		if line == nil {
			continue
		}
		if h.startLine(line) {
			h.hdr = 0
			h.st = stStart
			s.line(ctx, h, line)
		}
	}
	return data
}

// startLine reports whether line looks like the start of a message of the
// direction's kind.
func (h *half) startLine(line []byte) bool {
	if h.kind == kindResponse {
		return probeStatus(line) == l7.VerdictYes
	}
	if h.kind == kindRequest {
		// Only known methods: body bytes of a lost message often end in
		// something token-like.
		m, _, _, ok := parseRequestLine(trimEOL(line))
		if !ok {
			return false
		}
		_, known := knownMethod(m)
		return known
	}
	return false
}

func (s *session) line(ctx *l7.Context, h *half, line []byte) {
	switch h.st {
	case stStart:
		s.start(ctx, h, line)
	case stHeader, stTrailer:
		h.hdr += len(line)
		s.header(ctx, h, trimEOL(line))
	case stChunkSize:
		s.chunkSize(ctx, h, trimEOL(line))
	case stChunkEnd:
		if len(trimEOL(line)) != 0 {
			ctx.Malformed("http")
			s.startResync(h)
			return
		}
		h.st = stChunkSize
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// parseRequestLine splits "METHOD SP target SP HTTP/1.x"; the method must
// be a token.
func parseRequestLine(l []byte) (method, target []byte, minor byte, ok bool) {
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 || sp > maxMethodLen {
		return nil, nil, 0, false
	}
	method = l[:sp]
	for _, c := range method {
		if !isTchar(c) {
			return nil, nil, 0, false
		}
	}
	rest := l[sp+1:]
	sp = bytes.LastIndexByte(rest, ' ')
	if sp <= 0 {
		return nil, nil, 0, false
	}
	target, v := rest[:sp], rest[sp+1:]
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || !isDigit(v[7]) {
		if string(method) == "PRI" && string(target) == "*" && string(v) == "HTTP/2.0" {
			return method, target, '2', true
		}
		return nil, nil, 0, false
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return nil, nil, 0, false
		}
	}
	return method, target, v[7], true
}

func (s *session) start(ctx *l7.Context, h *half, line []byte) {
	l := trimEOL(line)
	if len(l) == 0 {
		return // stray CRLF between messages is tolerated (RFC 9112 2.2)
	}
	h.hdr = len(line)
	h.cl, h.chunked, h.teOther, h.badLen = -1, false, false, false
	h.reqKind, h.status, h.fileIdx = reqOther, 0, -1
	if h.kind == kindUnknown {
		h.kind = kindRequest
		if bytes.HasPrefix(l, []byte("HTTP/")) {
			h.kind = kindResponse
		}
	}
	if h.kind == kindResponse {
		if probeStatus(line) != l7.VerdictYes {
			ctx.Malformed("http")
			s.startResync(h)
			return
		}
		s.response(h, l)
		h.st = stHeader
		return
	}
	method, target, minor, ok := parseRequestLine(l)
	if !ok {
		ctx.Malformed("http")
		s.startResync(h)
		return
	}
	if minor == '2' { // HTTP/2 prior knowledge: binary frames follow
		if !s.sawRequest {
			s.version = "2"
		}
		s.stopped = true
		return
	}
	s.request(h, method, target, minor)
	h.st = stHeader
}

func (s *session) request(h *half, method, target []byte, minor byte) {
	h.isReq = true
	s.requests++
	m, known := knownMethod(method)
	if !s.hasMethod(method) && s.nMethods < maxMethods {
		if !known {
			m = string(method)
		}
		s.methods[s.nMethods] = m
		s.nMethods++
	}
	switch m {
	case "HEAD":
		h.reqKind = reqHead
	case "CONNECT":
		h.reqKind = reqConnect
	case "PUT", "MOVE", "COPY":
		s.addFile(h, m, target)
	}
	if s.pendN < maxPending {
		s.pend[(s.pendOff+s.pendN)%maxPending] = h.reqKind
		s.pendN++
	}
	if s.sawRequest {
		return
	}
	s.sawRequest = true
	if !known {
		m = string(method)
	}
	s.method = m
	s.version = versions[minor-'0']
	s.target = string(target[:min(len(target), maxURL)])
	s.path = string(urlPath(target, maxPath))
	if a := authority(target); len(a) > 0 {
		s.host = hostOnly(a)
	}
}

func (s *session) hasMethod(m []byte) bool {
	for _, x := range s.methods[:s.nMethods] {
		if x == string(m) {
			return true
		}
	}
	return false
}

func (s *session) addFile(h *half, op string, target []byte) {
	if len(s.files) >= l7.MaxFileOps {
		s.filesDropped++
		return
	}
	d := l7.TransferUnknown
	if op == "PUT" {
		d = l7.TransferUpload
		h.fileIdx = len(s.files)
	}
	s.files = append(s.files, l7.FileOp{Op: op, Name: string(urlPath(target, maxPath)), Dir: d})
}

// urlPath is the path of a request target: origin-form up to '?' or '#',
// the path of an absolute-form URL, empty for authority-form (CONNECT).
func urlPath(t []byte, limit int) []byte {
	if i := bytes.Index(t, []byte("://")); i > 0 && t[0] != '/' {
		rest := t[i+3:]
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return nil
		}
		t = rest[j:]
	} else if len(t) > 0 && t[0] != '/' && t[0] != '*' {
		return nil
	}
	if i := bytes.IndexAny(t, "?#"); i >= 0 {
		t = t[:i]
	}
	return t[:min(len(t), limit)]
}

// authority is the host[:port] of an absolute-form or authority-form target.
func authority(t []byte) []byte {
	if len(t) == 0 || t[0] == '/' || t[0] == '*' {
		return nil
	}
	if i := bytes.Index(t, []byte("://")); i > 0 {
		t = t[i+3:]
		if j := bytes.IndexAny(t, "/?#"); j >= 0 {
			t = t[:j]
		}
		if j := bytes.LastIndexByte(t, '@'); j >= 0 {
			t = t[j+1:]
		}
	}
	return t
}

// hostOnly returns the host of a Host value, without port or IPv6
// brackets, lowercased and bounded.
func hostOnly(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '[' {
		if i := bytes.IndexByte(v, ']'); i > 0 {
			v = v[1:i]
		}
	} else if i := bytes.LastIndexByte(v, ':'); i >= 0 && bytes.IndexByte(v[:i], ':') < 0 {
		v = v[:i]
	}
	v = v[:min(len(v), maxHost)]
	b := make([]byte, len(v))
	for i, c := range v {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b)
}

func (s *session) response(h *half, l []byte) {
	h.isReq = false
	h.status = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
	if h.status >= 100 && h.status < 200 && h.status != 101 {
		return // interim: the request still awaits its final response
	}
	s.responses++
	if s.pendN > 0 {
		h.reqKind = s.pend[s.pendOff]
		s.pendOff = (s.pendOff + 1) % maxPending
		s.pendN--
	}
	if s.status == 0 {
		s.status = h.status
		if s.version == "" {
			s.version = versions[l[7]-'0']
		}
	}
}

func (s *session) header(ctx *l7.Context, h *half, l []byte) {
	if len(l) == 0 {
		if h.st == stTrailer {
			s.endMessage(h)
			return
		}
		s.endHeaders(ctx, h)
		return
	}
	if h.st == stTrailer || l[0] == ' ' || l[0] == '\t' {
		return // trailers and obsolete line folding carry nothing we use
	}
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return // not a field line; tolerated like most servers do
	}
	name, v := l[:colon], bytes.TrimSpace(l[colon+1:])
	switch {
	case l7.EqualFoldASCII(name, "content-length"):
		n, ok := parseContentLength(v)
		if !ok || (h.cl >= 0 && h.cl != n) {
			h.badLen = true
			return
		}
		h.cl = n
	case l7.EqualFoldASCII(name, "transfer-encoding"):
		last := v
		if i := bytes.LastIndexByte(v, ','); i >= 0 {
			last = bytes.TrimSpace(v[i+1:])
		}
		h.chunked = l7.EqualFoldASCII(last, "chunked")
		h.teOther = !h.chunked
	case !h.isReq || s.requests != 1:
		// Host and User-Agent are kept from the first request only.
	case l7.EqualFoldASCII(name, "host"):
		if s.host == "" && len(v) > 0 {
			s.host = hostOnly(v)
		}
	case l7.EqualFoldASCII(name, "user-agent"):
		if s.ua == "" && len(v) > 0 {
			s.ua = string(v[:min(len(v), maxUA)])
		}
	}
}

// endHeaders decides how the message body is framed (RFC 9112 6.3).
func (s *session) endHeaders(ctx *l7.Context, h *half) {
	h.hdr = 0
	if h.isReq {
		switch {
		case h.chunked:
			h.st = stChunkSize
		case h.teOther:
			h.st = stClose
		case h.badLen:
			ctx.Malformed("http")
			s.startResync(h)
		case h.cl > 0:
			h.st, h.remain = stBody, uint64(h.cl)
		case h.reqKind == reqConnect:
			// The client's next bytes belong to the tunnel if the server
			// agrees; the response decides.
			h.st = stTunnel
		default:
			s.endMessage(h)
		}
		return
	}
	if h.reqKind == reqConnect && h.status >= 300 {
		// Refused CONNECT: the client's stream is HTTP again.
		for i := range s.half {
			if s.half[i].st == stTunnel {
				s.startResync(&s.half[i])
			}
		}
	}
	switch {
	case h.status == 101:
		s.stopped = true // the protocol switches (WebSocket, h2c)
	case h.status < 200:
		h.st = stStart
	case h.reqKind == reqConnect && h.status < 300:
		s.stopped = true // a tunnel: whatever follows is not HTTP
	case h.reqKind == reqHead || h.status == 204 || h.status == 304:
		s.endMessage(h)
	case h.chunked:
		h.st = stChunkSize
	case h.teOther:
		h.st = stClose
	case h.badLen:
		ctx.Malformed("http")
		h.st = stClose
	case h.cl > 0:
		h.st, h.remain = stBody, uint64(h.cl)
	case h.cl == 0:
		s.endMessage(h)
	default:
		h.st = stClose
	}
}

func (s *session) endMessage(h *half) {
	h.st = stStart
	h.hdr = 0
	h.fileIdx = -1
}

func (s *session) chunkSize(ctx *l7.Context, h *half, l []byte) {
	var n uint64
	digits := 0
	for _, c := range l {
		d := unhex(c)
		if d < 0 {
			break
		}
		if digits == 15 { // more than 2^60 bytes is no chunk
			digits = -1
			break
		}
		n = n<<4 | uint64(d)
		digits++
	}
	if digits <= 0 {
		ctx.Malformed("http")
		s.startResync(h)
		return
	}
	if n == 0 {
		h.st = stTrailer
		h.hdr = 0
		return
	}
	h.st, h.remain = stChunkData, n
}

func (s *session) countBody(h *half, n uint64) {
	if h.isReq {
		s.reqBody += n
		if h.fileIdx >= 0 && h.fileIdx < len(s.files) {
			s.files[h.fileIdx].Bytes += n
		}
	} else {
		s.respBody += n
	}
}

// Gap skips lost bytes inside a body of known length or one running to the
// connection close; anywhere else the direction resynchronises on the next
// start line.
func (s *session) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	if s.stopped {
		return false
	}
	if n <= 0 {
		return true
	}
	h := &s.half[dir&1]
	switch h.st {
	case stBody, stChunkData:
		if uint64(n) < h.remain {
			s.countBody(h, uint64(n))
			h.remain -= uint64(n)
			return true
		}
		s.countBody(h, h.remain)
		s.startResync(h)
	case stClose:
		s.countBody(h, uint64(n))
	case stTunnel, stDead:
	default:
		if h.kind == kindUnknown {
			s.kill(h)
		} else {
			s.startResync(h)
		}
	}
	return !s.stopped
}

func (s *session) Fields(d *ecs.Doc) {
	d.Str("http.request.method", s.method)
	d.Str("url.original", s.target)
	d.Str("url.path", s.path)
	d.Str("url.domain", s.host)
	d.Str("user_agent.original", s.ua)
	d.Str("http.version", s.version)
	if s.status > 0 {
		d.Int("http.response.status_code", int64(s.status))
	}
	if s.requests > 0 {
		d.Uint("http.request.body.bytes", s.reqBody)
		d.Uint("outflow.http.requests", s.requests)
	}
	if s.responses > 0 {
		d.Uint("http.response.body.bytes", s.respBody)
		d.Uint("outflow.http.responses", s.responses)
	}
	d.Strs("outflow.http.methods", s.methods[:s.nMethods])
}

var _ l7.Namer = (*session)(nil)

// Domain implements l7.Namer.
func (s *session) Domain() string { return s.host }

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "http"
	sum.Domain = s.host
	sum.Resource = s.path
	sum.Uploaded = s.reqBody
	sum.Downloaded = s.respBody
	sum.Files = append(sum.Files[:0], s.files...)
	sum.FilesDropped = s.filesDropped
}

// parseContentLength accepts digits, or a list of identical values
// ("5, 5") as RFC 9110 8.6 allows.
func parseContentLength(v []byte) (int64, bool) {
	n := int64(-1)
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = bytes.TrimSpace(v[:i]), v[i+1:]
		} else {
			part, v = bytes.TrimSpace(v), nil
		}
		if len(part) == 0 || len(part) > 18 {
			return 0, false
		}
		var x int64
		for _, c := range part {
			if !isDigit(c) {
				return 0, false
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
	}
	return n, n >= 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isTchar reports whether c may appear in a token (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
