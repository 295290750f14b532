// Package tftp identifies TFTP requests (RFC 1350, options RFC 2347-2349
// and 7440) by content and follows the transfer they start: the server
// answers from a new port, so the request session announces that flow and
// the engine hands it to a transfer session that counts the file's bytes.
package tftp

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// Name is the network.protocol value of requests and transfers.
const Name = "tftp"

// Opcodes.
const (
	OpRRQ   = 1
	OpWRQ   = 2
	OpDATA  = 3
	OpACK   = 4
	OpERROR = 5
	OpOACK  = 6
)

// Limits.
const (
	DefaultBlockSize = 512
	MinBlockSize     = 8     // RFC 2348
	MaxBlockSize     = 65464 // RFC 2348
	maxRequest       = 512   // RFC 2347 bounds a request packet to 512 octets
	maxLenient       = 1500  // what port 69 may carry before it is not TFTP
	maxName          = 255   // bytes of a file name kept
	maxErrMsg        = 128
	maxOptions       = 16
)

// Parser recognises TFTP read and write requests.
type Parser struct{}

// New returns the TFTP parser.
func New() Parser { return Parser{} }

var ports = []uint16{69}

func (Parser) Name() string             { return Name }
func (Parser) Transports() l7.Transport { return l7.UDP }
func (Parser) Ports() []uint16          { return ports }

// Probe accepts a well-formed RRQ or WRQ from the client; a request that is
// only roughly right (unknown mode, missing final NUL, oversized) is
// accepted on port 69 alone.
func (Parser) Probe(f *l7.FlowInfo, dir l7.Dir, data []byte) l7.Verdict {
	if dir != l7.FromClient {
		return l7.VerdictNo
	}
	_, strict, ok := ParseRequest(data)
	if ok && (strict || f.Server.Port() == 69) {
		return l7.VerdictYes
	}
	return l7.VerdictNo
}

func (Parser) NewSession(f *l7.FlowInfo) l7.Session { return &request{flow: *f} }

// Request is a parsed RRQ or WRQ; its byte slices alias the packet.
type Request struct {
	Opcode     uint16
	Filename   []byte
	Mode       []byte
	Blksize    int   // requested, 0 if not
	Tsize      int64 // -1 if not given
	Timeout    int
	Windowsize int
	Options    int
}

// ParseRequest parses an RRQ or WRQ. ok says it has the shape of one;
// strict that it is exactly as the RFCs say (known mode, every string
// NUL-terminated, no trailing bytes, at most 512 octets).
func ParseRequest(b []byte) (r Request, strict, ok bool) {
	r.Tsize = -1
	if len(b) < 4 || len(b) > maxLenient {
		return r, false, false
	}
	r.Opcode = binary.BigEndian.Uint16(b)
	if r.Opcode != OpRRQ && r.Opcode != OpWRQ {
		return r, false, false
	}
	strict = len(b) <= maxRequest
	rest := b[2:]
	name, rest, term := cstring(rest)
	if len(name) == 0 || !term || !text(name) {
		return r, false, false
	}
	r.Filename = name
	mode, rest, term := cstring(rest)
	if len(mode) == 0 || len(mode) > 16 || !letters(mode) {
		return r, false, false
	}
	r.Mode = mode
	strict = strict && term && knownMode(mode)
	for len(rest) > 0 {
		var opt, val []byte
		var t1, t2 bool
		opt, rest, t1 = cstring(rest)
		val, rest, t2 = cstring(rest)
		if len(opt) == 0 || !text(opt) || !text(val) || r.Options >= maxOptions {
			// Junk after the mode: still roughly a request.
			return r, false, true
		}
		strict = strict && t1 && t2 && len(val) > 0
		r.Options++
		applyOption(opt, val, &r.Blksize, &r.Tsize, &r.Timeout, &r.Windowsize)
	}
	return r, strict, true
}

// applyOption records the options outflow uses; unknown ones are skipped.
func applyOption(opt, val []byte, blksize *int, tsize *int64, timeout, window *int) {
	n, ok := number(val)
	if !ok {
		return
	}
	switch {
	case l7.EqualFoldASCII(opt, "blksize"):
		if n >= MinBlockSize && n <= MaxBlockSize {
			*blksize = int(n)
		}
	case l7.EqualFoldASCII(opt, "tsize"):
		*tsize = n
	case l7.EqualFoldASCII(opt, "timeout"):
		if n >= 1 && n <= 255 {
			*timeout = int(n)
		}
	case l7.EqualFoldASCII(opt, "windowsize"):
		if n >= 1 && n <= 65535 {
			*window = int(n)
		}
	}
}

// cstring splits a NUL-terminated string off b; term is false when b ran
// out first.
func cstring(b []byte) (s, rest []byte, term bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

func text(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func letters(b []byte) bool {
	for _, c := range b {
		if c|0x20 < 'a' || c|0x20 > 'z' {
			return false
		}
	}
	return true
}

func knownMode(m []byte) bool {
	return l7.EqualFoldASCII(m, "netascii") || l7.EqualFoldASCII(m, "octet") || l7.EqualFoldASCII(m, "mail")
}

// number parses a decimal option value of at most 18 digits.
func number(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func lowerString(b []byte, n int) string {
	b = b[:min(len(b), n)]
	s := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s[i] = c
	}
	return string(s)
}

// info is what a transfer knows of its request. It is shared by the
// request and transfer sessions and not changed after the request.
type info struct {
	op      uint16
	name    string
	mode    string
	blksize int // requested
	tsize   int64
	window  int
}

func (in *info) dir() l7.TransferDir {
	switch in.op {
	case OpRRQ:
		return l7.TransferDownload
	case OpWRQ:
		return l7.TransferUpload
	}
	return l7.TransferUnknown
}

func (in *info) opName() string {
	switch in.op {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	}
	return ""
}

// state follows DATA, ACK, ERROR and OACK packets of one transfer.
type state struct {
	blksize   int // in force: 512, the OACK's, or the largest block seen
	oack      bool
	tsize     int64 // from the OACK, -1 if none
	started   bool
	lastBlock uint16
	blocks    uint64
	dups      uint64 // retransmitted DATA blocks, not counted in bytes
	bytes     uint64
	acks      uint64
	complete  bool // the short final block was seen
	errCode   int
	errMsg    string
	hasErr    bool
	malformed bool
}

func (s *state) init() {
	s.blksize = DefaultBlockSize
	s.tsize = -1
}

// packet handles one non-request datagram. It returns false once the
// transfer is over (final ACK, ERROR) or the packet is not TFTP.
func (s *state) packet(ctx *l7.Context, b []byte) bool {
	if len(b) < 4 && !(len(b) >= 2 && binary.BigEndian.Uint16(b) == OpOACK) {
		return s.bad(ctx)
	}
	switch binary.BigEndian.Uint16(b) {
	case OpDATA:
		s.data(binary.BigEndian.Uint16(b[2:]), len(b)-4)
	case OpACK:
		s.acks++
		if s.complete && binary.BigEndian.Uint16(b[2:]) == s.lastBlock {
			return false // final block acknowledged
		}
	case OpERROR:
		s.hasErr = true
		s.errCode = int(binary.BigEndian.Uint16(b[2:]))
		msg, _, _ := cstring(b[4:])
		s.errMsg = string(msg[:min(len(msg), maxErrMsg)])
		return false
	case OpOACK:
		s.oack = true
		var blksize, timeout, window int
		rest := b[2:]
		for i := 0; len(rest) > 0 && i < maxOptions; i++ {
			var opt, val []byte
			opt, rest, _ = cstring(rest)
			val, rest, _ = cstring(rest)
			applyOption(opt, val, &blksize, &s.tsize, &timeout, &window)
		}
		if blksize > 0 {
			s.blksize = blksize
		}
	case OpRRQ, OpWRQ:
		// A retransmitted request reaching the transfer's port: ignore.
	default:
		return s.bad(ctx)
	}
	return true
}

func (s *state) bad(ctx *l7.Context) bool {
	s.malformed = true
	ctx.Malformed(Name)
	return false
}

func (s *state) data(block uint16, n int) {
	switch {
	case !s.started:
		s.started = true
	case block == s.lastBlock:
		s.dups++
		return
	case int16(block-s.lastBlock) < 0 && !(s.lastBlock == 65535 && block <= 1):
		s.dups++ // an old block again (rollover to 0 or 1 is new)
		return
	}
	s.lastBlock = block
	s.blocks++
	s.bytes += uint64(n)
	if !s.oack && n > s.blksize {
		s.blksize = n // a negotiated size whose OACK was not seen
	}
	s.complete = n < s.blksize
}

func infoFields(d *ecs.Doc, in *info) {
	if in == nil {
		return
	}
	d.Str("file.name", in.name)
	d.Str("outflow.tftp.request", in.opName())
	d.Str("outflow.tftp.mode", in.mode)
	if dir := in.dir(); dir != l7.TransferUnknown {
		d.Str("outflow.tftp.direction", dir.String())
	}
	if in.window > 0 {
		d.Int("outflow.tftp.windowsize", int64(in.window))
	}
}

func (s *state) fields(d *ecs.Doc) {
	if s.started {
		d.Uint("outflow.tftp.bytes", s.bytes)
		d.Uint("outflow.tftp.blocks", s.blocks)
		d.Int("outflow.tftp.blksize", int64(s.blksize))
		d.Bool("outflow.tftp.complete", s.complete)
	}
	if s.acks > 0 {
		d.Uint("outflow.tftp.acks", s.acks)
	}
	if s.dups > 0 {
		d.Uint("outflow.tftp.retransmitted_blocks", s.dups)
	}
	if s.tsize >= 0 {
		d.Int("outflow.tftp.tsize", s.tsize)
	}
	if s.hasErr {
		d.Int("outflow.tftp.error_code", int64(s.errCode))
		d.Str("outflow.tftp.error", s.errMsg)
	}
	if s.malformed {
		d.Bool("outflow.tftp.malformed", true)
	}
}

func summary(sum *l7.Summary, in *info, bytes uint64) {
	sum.Protocol = Name
	if in == nil {
		return
	}
	dir := in.dir()
	sum.Files = append(sum.Files, l7.FileOp{Op: in.opName(), Name: in.name, Dir: dir, Bytes: bytes})
	switch dir {
	case l7.TransferUpload:
		sum.Uploaded = bytes
	case l7.TransferDownload:
		sum.Downloaded = bytes
	}
}

// request is the session of the flow that carries the request to port 69.
type request struct {
	flow     l7.FlowInfo
	in       *info
	requests int // requests seen, retransmissions included
	other    int // requests for something else on the same flow, ignored
	xfer     *transfer
	local    state // answers sent from the request's own port
	localSet bool
}

func (r *request) Feed(ctx *l7.Context, dir l7.Dir, b []byte) bool {
	if len(b) >= 2 && dir == l7.FromClient {
		if op := binary.BigEndian.Uint16(b); op == OpRRQ || op == OpWRQ {
			return r.request(ctx, b)
		}
	}
	if !r.localSet {
		r.local.init()
		r.localSet = true
	}
	return r.local.packet(ctx, b)
}

func (r *request) request(ctx *l7.Context, b []byte) bool {
	req, _, ok := ParseRequest(b)
	if !ok {
		if !r.localSet {
			r.local.init()
			r.localSet = true
		}
		return r.local.bad(ctx)
	}
	r.requests++
	if r.in != nil {
		if req.Opcode != r.in.op || string(req.Filename[:min(len(req.Filename), maxName)]) != r.in.name {
			r.other++
		}
		return true // a retransmission: the transfer is already expected
	}
	r.in = &info{op: req.Opcode, name: string(req.Filename[:min(len(req.Filename), maxName)]),
		mode: lowerString(req.Mode, 16), blksize: req.Blksize, tsize: req.Tsize, window: req.Windowsize}
	r.xfer = &transfer{in: r.in}
	r.xfer.st.init()
	// The server answers from a new port to the client's port.
	ctx.Expect(l7.Expectation{
		Transport: l7.UDP,
		Listener:  r.flow.Client,
		Peer:      netip.AddrPortFrom(r.flow.Server.Addr(), 0),
		Protocol:  Name,
		Session:   r.xfer,
		// The client's request asked for this transfer.
		ListenerIsClient: true,
	})
	return true
}

func (r *request) Gap(*l7.Context, l7.Dir, int) bool { return true }

func (r *request) bytes() uint64 {
	n := r.local.bytes
	if r.xfer != nil {
		n += r.xfer.st.bytes
	}
	return n
}

// Fields describe the request; bytes and completion are the transfer's,
// which ran on another flow.
func (r *request) Fields(d *ecs.Doc) {
	infoFields(d, r.in)
	if r.localSet {
		r.local.fields(d)
	}
	if x := r.xfer; x != nil && x.st.started {
		d.Uint("outflow.tftp.bytes", r.bytes()) // the last value set wins
		d.Bool("outflow.tftp.complete", x.st.complete || r.local.complete)
	}
	if r.requests > 1 {
		d.Int("outflow.tftp.requests", int64(r.requests))
	}
}

// Summary includes the bytes of the transfer flow the request started
// (they are also in that flow's own summary).
func (r *request) Summary(s *l7.Summary) { summary(s, r.in, r.bytes()) }

// transfer is the session of the flow from the server's new port.
type transfer struct {
	in *info
	st state
}

func (t *transfer) Feed(ctx *l7.Context, _ l7.Dir, b []byte) bool { return t.st.packet(ctx, b) }
func (t *transfer) Gap(*l7.Context, l7.Dir, int) bool             { return true }
func (t *transfer) Fields(d *ecs.Doc)                             { infoFields(d, t.in); t.st.fields(d) }
func (t *transfer) Summary(s *l7.Summary)                         { summary(s, t.in, t.st.bytes) }
