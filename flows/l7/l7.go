// Package l7 identifies the application protocol of a flow from its payload
// and runs one small parser per protocol over it.
//
// The engine (engine.go) reassembles each TCP direction in stream order into a
// bounded buffer, offers the first bytes to every Parser whose transport
// matches (ports only break ties), and hands the flow to the first Parser that
// says VerdictYes. Its Session then sees the rest of the flow until it says it
// needs no more; after that the flow costs nothing more to inspect.
//
// Parsers live in sub-packages (l7/ftp, l7/smb, ...); the list in use is built
// in cmd/ and passed to NewEngine.
package l7

import (
	"net/netip"

	"outflow/flows/ecs"
)

// Dir is the direction of payload relative to the flow's initiator.
type Dir uint8

const (
	FromClient Dir = 0 // sent by the flow initiator
	FromServer Dir = 1 // sent by the responder
)

// Transport says which transports a parser understands.
type Transport uint8

const (
	TCP Transport = 1 << iota
	UDP
)

// Verdict is a Parser's answer to Probe.
type Verdict uint8

const (
	VerdictNo    Verdict = iota // not this protocol; never asked again for this flow
	VerdictMaybe                // cannot tell yet; ask again with more data
	VerdictYes                  // this protocol: NewSession is called next
)

// FlowInfo is what a parser knows about the flow it inspects.
type FlowInfo struct {
	Transport Transport
	Client    netip.AddrPort // flow initiator
	Server    netip.AddrPort // responder
}

// Parser recognises one application protocol. Parsers are shared by all
// flows and must keep no per-flow state: that goes in the Session.
type Parser interface {
	// Name is the network.protocol value: lowercase, e.g. "ftp".
	Name() string
	// Transports says which transports Probe should be offered.
	Transports() Transport
	// Probe looks at the first bytes of a flow in direction dir (for TCP, the
	// stream from its start, up to the engine's probe limit; for UDP, one
	// datagram) and says whether this is the parser's protocol. It must not
	// keep data and must not allocate. Ports may be used to break ties only.
	Probe(f *FlowInfo, dir Dir, data []byte) Verdict
	// NewSession starts per-flow state after Probe said VerdictYes. The data
	// that was probed is then passed to Session.Feed.
	NewSession(f *FlowInfo) Session
}

// Session parses one identified flow.
type Session interface {
	// Feed passes the next bytes of direction dir: for TCP the next
	// contiguous part of the stream, in order; for UDP one datagram. data is
	// only valid during the call. Feed returns false when the session wants
	// no more data, after which the engine frees its buffers. It must never
	// panic, whatever the bytes, and must bound any state it keeps.
	Feed(ctx *Context, dir Dir, data []byte) bool
	// Gap says n bytes of direction dir were lost (capture loss, or a hole
	// the engine gave up waiting for). The session resynchronises or returns
	// false to stop.
	Gap(ctx *Context, dir Dir, n int) bool
	// Fields adds the session's fields to the flow record, with ECS names
	// where ECS has them (url.*, http.*, tls.*, dns.*, file.*, user.name)
	// and outflow.<protocol>.* for the rest.
	Fields(d *ecs.Doc)
	// Summary fills what detectors need to know about the flow so far.
	Summary(s *Summary)
}

// TransferDir is the direction of a file transfer from the client's view.
type TransferDir uint8

const (
	TransferUnknown  TransferDir = iota
	TransferUpload               // client sends file data to the server
	TransferDownload             // client receives file data from the server
)

func (d TransferDir) String() string {
	switch d {
	case TransferUpload:
		return "upload"
	case TransferDownload:
		return "download"
	}
	return "unknown"
}

// FileOp is one file operation seen in a session.
type FileOp struct {
	Op    string // protocol command: RETR, STOR, RRQ, WRQ, READ, WRITE, ...
	Name  string // file name or path as sent
	Dir   TransferDir
	Bytes uint64 // file data bytes moved so far
}

// MaxFileOps bounds how many file operations a session keeps for its record
// and the detectors; later ones are counted in Summary.FilesDropped.
const MaxFileOps = 16

// Summary is the protocol-independent view of a session that detectors use.
type Summary struct {
	Protocol     string
	Domain       string // HTTP Host, TLS SNI or DNS question, when known
	Resource     string // what was asked for: the first HTTP request's path, without the query
	User         string
	Encrypted    bool     // TLS, AUTH TLS, SMB3 encryption, SSH
	Files        []FileOp // at most MaxFileOps
	FilesDropped int
	Uploaded     uint64 // file data bytes client -> server
	Downloaded   uint64 // file data bytes server -> client
}

// Resetter is optionally implemented by a Session that can serve another
// flow once its own has been released: the engine keeps released sessions
// of each parser and calls Reset instead of the parser's NewSession, so
// that busy protocols (DNS, HTTP, TLS) allocate nothing per flow. Reset
// must leave the session as NewSession(f) would (buffers may be kept) and
// must drop every reference to the previous flow's data.
type Resetter interface {
	Reset(f *FlowInfo)
}

// Namer is optionally implemented by a Session whose Summary sets Domain:
// State.Domain runs on every flow event and asks a Namer directly instead of
// building a Summary.
type Namer interface {
	Domain() string
}

// Expectation announces a flow that a session expects to open, such as an FTP
// data channel (PASV/EPSV/PORT/EPRT) or a TFTP transfer on new ports.
//
// A new flow matches when its responder is Listener (port 0 matches any port)
// and its initiator's address is Peer (port 0 matches any port). Peer.Port
// is usually 0.
type Expectation struct {
	Transport Transport
	Listener  netip.AddrPort
	Peer      netip.AddrPort
	// Session parses the expected flow once it opens; its Name() is what
	// network.protocol becomes (e.g. "ftp-data", "tftp").
	Protocol string
	Session  Session
	// ListenerIsClient says the listener is the client of the session that
	// announced the flow (FTP PORT/EPRT, TFTP), so the announcing session's
	// client is who moves the data even though the peer opens the flow.
	ListenerIsClient bool
}

// Context is the session's window on the engine during Feed and Gap.
type Context struct {
	Now  int64 // packet time, Unix nanoseconds
	Flow *FlowInfo
	// LearnOnly: nothing of this session will be reported; it runs only
	// for what it teaches the engine (Engine.Announce, names from another
	// worker's DNS answers). Sessions may skip building their record.
	LearnOnly bool
	host      host
}

// host is implemented by the engine; nil in parser unit tests, where the
// Context methods then do nothing.
type host interface {
	expect(e Expectation, now int64)
	learnName(addr netip.Addr, name string, ttl uint32, now int64)
	malformed(protocol string)
}

// Expect registers a flow this session expects to open. Expectations are
// bounded in number and time by the engine.
func (c *Context) Expect(e Expectation) {
	if c != nil && c.host != nil {
		c.host.expect(e, c.Now)
	}
}

// LearnName records that addr answers to name (a DNS answer), for ttl
// seconds, so later flows to addr get destination.domain.
func (c *Context) LearnName(addr netip.Addr, name string, ttl uint32) {
	if c != nil && c.host != nil {
		c.host.learnName(addr, name, ttl, c.Now)
	}
}

// Malformed counts a malformed or hostile payload the session abandoned.
func (c *Context) Malformed(protocol string) {
	if c != nil && c.host != nil {
		c.host.malformed(protocol)
	}
}

// Recorded is what sessions asked of a recording Context (NewRecordingContext).
type Recorded struct {
	Expectations []Expectation
	Names        []LearnedName
	Malformed    []string
}

// LearnedName is one Context.LearnName call.
type LearnedName struct {
	Addr netip.Addr
	Name string
	TTL  uint32
}

// NewRecordingContext returns a Context that records the sessions' requests
// instead of acting on them, for parser tests that check what a session
// announces (expectations, DNS names) without an Engine.
func NewRecordingContext(f *FlowInfo) (*Context, *Recorded) {
	r := &Recorded{}
	return &Context{Flow: f, host: r}, r
}

func (r *Recorded) expect(e Expectation, _ int64) { r.Expectations = append(r.Expectations, e) }
func (r *Recorded) learnName(addr netip.Addr, name string, ttl uint32, _ int64) {
	r.Names = append(r.Names, LearnedName{addr, name, ttl})
}
func (r *Recorded) malformed(protocol string) { r.Malformed = append(r.Malformed, protocol) }
