package l7

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// EngineConfig bounds the engine. Zero fields take the defaults.
type EngineConfig struct {
	ProbeBytes      int   // stream bytes kept per direction for probing (default 2048)
	ProbePackets    int   // payload packets per direction without a verdict before giving up (default 8)
	StreamBuffer    int   // out-of-order bytes held per direction (default 16 KiB)
	MaxExpectations int   // announced flows waiting to open (default 16384)
	ExpectTimeout   int64 // how long an announced flow may take to open, ns (default 120 s)
	MaxNames        int   // DNS name cache entries (default 65536)
	Disabled        bool  // no L7 inspection at all
}

// Defaults.
const (
	DefaultProbeBytes      = 2048
	DefaultProbePackets    = 8
	DefaultStreamBuffer    = 16 << 10
	DefaultMaxExpectations = 16384
	DefaultExpectTimeout   = 120e9
	DefaultMaxNames        = 65536
)

// Hard ceilings: a config asking for more gets these.
const (
	maxProbePackets = 64
	maxStreamBuffer = 1 << 24
	maxProbeBytes   = 1 << 20
)

// maxParsers is how many parsers an engine can run: candidate sets are one
// 64-bit mask per flow.
const maxParsers = 64

// maxProtocols bounds the per-protocol counters (parser names plus the names
// expectations and Malformed calls bring in). The last slot is "other".
const maxProtocols = 64

// maxFreeBufs bounds the buffers kept for reuse after a burst of
// reordering or probing; beyond it they go back to the garbage collector.
const maxFreeBufs = 1024

// maxFreeSessions bounds the released sessions kept per parser.
const maxFreeSessions = 1024

func (c *EngineConfig) normalize() {
	if c.ProbeBytes <= 0 {
		c.ProbeBytes = DefaultProbeBytes
	}
	c.ProbeBytes = min(c.ProbeBytes, maxProbeBytes)
	if c.ProbePackets <= 0 {
		c.ProbePackets = DefaultProbePackets
	}
	c.ProbePackets = min(c.ProbePackets, maxProbePackets)
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = DefaultStreamBuffer
	}
	c.StreamBuffer = min(c.StreamBuffer, maxStreamBuffer)
	if c.MaxExpectations <= 0 {
		c.MaxExpectations = DefaultMaxExpectations
	}
	if c.ExpectTimeout <= 0 {
		c.ExpectTimeout = DefaultExpectTimeout
	}
	if c.MaxNames <= 0 {
		c.MaxNames = DefaultMaxNames
	}
}

// PortHinter is optionally implemented by a Parser whose protocol has
// well-known ports: on those ports it is offered data before the others.
// Ports only order the probing; they never identify a protocol.
type PortHinter interface {
	Ports() []uint16
}

type protoCounter struct {
	name       string
	identified atomic.Uint64
	malformed  atomic.Uint64
}

type counters struct {
	identified, unknown, malformed                                          atomic.Uint64
	expectAdded, expectMatched, expectExpired, expectDropped, expectReplace atomic.Uint64
	overflows, gaps, gapBytes                                               atomic.Uint64
	namesLearned, namesDropped, namesExpired                                atomic.Uint64
	expectations, names                                                     atomic.Int64
}

// Engine identifies the application protocol of flows and runs their
// sessions. It is driven by one goroutine (the flow table's); only Stats and
// Protocols may be called from others. Control and data flows that belong
// together (FTP, TFTP) must go through the same Engine.
type Engine struct {
	cfg     EngineConfig
	parsers []Parser
	tcpMask uint64
	udpMask uint64
	hints   map[uint16][]uint8 // port -> parser indexes, in parser order

	exp   expectTable
	names nameCache

	pool      bufPool
	probeFree [][]byte
	chunkFree [][]chunk // replay lists of flows done probing, for reuse
	sessFree  [maxParsers][]Resetter
	free      *State
	// Settled states: handed out from chunks, recycled through the free
	// list.
	settled     []Settled
	settledFree []*Settled

	st         counters
	protos     [maxProtocols]protoCounter
	nprotos    atomic.Int32
	protoIndex map[string]int32
}

// NewEngine returns an engine running parsers in the given order (ports
// aside, earlier parsers are asked first). It panics on more than 64
// parsers: that is a build mistake, not a runtime condition.
func NewEngine(parsers []Parser, cfg EngineConfig) *Engine {
	if len(parsers) > maxParsers {
		panic(fmt.Sprintf("l7: %d parsers, at most %d supported", len(parsers), maxParsers))
	}
	cfg.normalize()
	e := &Engine{
		cfg:        cfg,
		parsers:    parsers,
		hints:      make(map[uint16][]uint8),
		exp:        newExpectTable(cfg.MaxExpectations, cfg.ExpectTimeout),
		names:      newNameCache(cfg.MaxNames),
		pool:       bufPool{size: cfg.StreamBuffer, maxFree: maxFreeBufs, free: make([]*oooBuf, 0, maxFreeBufs)},
		probeFree:  make([][]byte, 0, maxFreeBufs),
		chunkFree:  make([][]chunk, 0, maxFreeBufs),
		protoIndex: make(map[string]int32),
	}
	for i, p := range parsers {
		t := p.Transports()
		if t&TCP != 0 {
			e.tcpMask |= 1 << i
		}
		if t&UDP != 0 {
			e.udpMask |= 1 << i
		}
		e.proto(p.Name())
		if h, ok := p.(PortHinter); ok {
			for _, port := range h.Ports() {
				if !containsU8(e.hints[port], uint8(i)) {
					e.hints[port] = append(e.hints[port], uint8(i))
				}
			}
		}
	}
	return e
}

func containsU8(s []uint8, v uint8) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// proto returns the counter slot of a protocol name, registering it.
func (e *Engine) proto(name string) *protoCounter {
	if i, ok := e.protoIndex[name]; ok {
		return &e.protos[i]
	}
	n := e.nprotos.Load()
	if n >= maxProtocols-1 {
		if n == maxProtocols-1 {
			e.protos[n].name = "other"
			e.nprotos.Store(maxProtocols)
		}
		return &e.protos[maxProtocols-1]
	}
	e.protos[n].name = name
	e.protoIndex[name] = n
	e.nprotos.Store(n + 1) // publishes the name to Protocols readers
	return &e.protos[n]
}

// chunk is one piece of probed data, kept to replay to the session in
// arrival order once a parser says yes.
type chunk struct {
	dir        Dir
	start, end int32 // in State.pb[dir]
}

// State is the engine's per-flow state. States are recycled: after Release
// the pointer must not be used.
type State struct {
	e       *Engine
	flow    FlowInfo
	ctx     Context
	proto   string
	sess    Session
	parser  int8 // index of the parser whose session sess is; -1: none or an expectation's
	flip    Dir  // XORed into directions given to an expected flow's session
	rev     bool // the application's client is the flow's responder
	done    bool
	unknown bool
	name    string // DNS cache name of the server

	cand     uint64  // parsers still to be asked
	hint     []uint8 // port-hinted parsers, asked first
	hintMask uint64

	st     [2]reasm
	pb     [2][]byte // probed stream bytes (TCP) or datagrams (UDP)
	pn     [2]int    // payload deliveries probed per direction
	chunks []chunk   // only while probing: most flows are identified at once

	// The session's last Domain and whether it is a name (not an IP
	// literal), so Domain checks each value once.
	dom     string
	domName bool

	next *State // free list
}

// Done reports that nothing more of the flow will be inspected.
func (s *State) Done() bool { return s.done }

// Reversed reports that the client of the application session is the
// flow's responder: a data channel the server opened toward the client (FTP
// active mode, TFTP transfers). Detectors attribute such flows to the
// client.
func (s *State) Reversed() bool { return s.rev }

// Protocol is the identified protocol (network.protocol), "" until known.
func (s *State) Protocol() string { return s.proto }

// Domain is the name the client used for the server: the session's (TLS
// SNI, HTTP Host, DNS question) if it has one, else the name a DNS answer
// gave the server's address before the flow began.
func (s *State) Domain() string {
	if s.sess != nil && s.proto != "dns" {
		// A DNS question names what was looked up, not the resolver the
		// flow goes to; it is in dns.question.name.
		var d string
		if n, ok := s.sess.(Namer); ok {
			d = n.Domain()
		} else {
			var sum Summary
			s.sess.Summary(&sum)
			d = sum.Domain
		}
		if d != "" {
			if d != s.dom {
				// Called on every flow event: parse once per value.
				s.dom, s.domName = d, !isAddrLiteral(d)
			}
			if s.domName {
				return d
			}
		}
	}
	return s.name
}

// isAddrLiteral reports whether a Host or SNI value is an IP address, which
// is not a destination name.
func isAddrLiteral(d string) bool {
	if len(d) == 0 {
		return false
	}
	if d[0] == '[' {
		return true
	}
	if !(d[0] >= '0' && d[0] <= '9') && !strings.Contains(d, ":") {
		// Not a dotted quad, and no IPv6 without a colon: a name. Spares
		// the parse (and its error) for every named flow.
		return false
	}
	_, err := netip.ParseAddr(d)
	return err == nil
}

// Fields adds the session's fields to d; nothing when the flow is
// unidentified. network.protocol and destination.domain are the caller's
// (from Protocol and Domain).
func (s *State) Fields(d *ecs.Doc) { fields(d, s.sess) }

// Summary fills sum (keeping the capacity of sum.Files) with the session's
// view of the flow.
func (s *State) Summary(sum *Summary) { summary(sum, s.sess, s.proto, s.name) }

// fields and summary are what a State and a Settled report of a flow's
// session: nothing without one. The summary's protocol and domain default
// to the flow's protocol and the DNS cache's name of its server.
func fields(d *ecs.Doc, sess Session) {
	if sess != nil {
		sess.Fields(d)
	}
}

func summary(sum *Summary, sess Session, proto, name string) {
	*sum = Summary{Files: sum.Files[:0]}
	if sess != nil {
		sess.Summary(sum)
	}
	if sum.Protocol == "" {
		sum.Protocol = proto
	}
	if sum.Domain == "" {
		sum.Domain = name
	}
}

func (e *Engine) alloc() *State {
	s := e.free
	if s == nil {
		return &State{e: e, parser: -1}
	}
	e.free = s.next
	s.next = nil
	return s
}

// Begin starts inspecting a new flow. A flow that an earlier session
// announced (FTP data, TFTP transfer) is labelled at once and handed to that
// session.
func (e *Engine) Begin(f FlowInfo, now int64) *State {
	s := e.alloc()
	s.flow = f
	s.ctx = Context{Now: now, Flow: &s.flow, host: e}
	s.name = e.names.lookup(f.Server.Addr(), now)
	if e.cfg.Disabled || (f.Transport != TCP && f.Transport != UDP) {
		s.done = true
		return s
	}
	if ex, flip, expired, ok := e.exp.match(&s.flow, now); ok || expired > 0 {
		e.st.expectExpired.Add(uint64(expired))
		e.st.expectations.Store(int64(e.exp.len()))
		if ok {
			e.st.expectMatched.Add(1)
			s.flip = flip
			s.rev = ex.ListenerIsClient == (flip == FromClient)
			e.identify(s, ex.Protocol, ex.Session)
			if ex.Session == nil {
				s.done = true
			}
			return s
		}
	}
	if f.Transport == TCP {
		s.cand = e.tcpMask
	} else {
		s.cand = e.udpMask
	}
	if s.cand == 0 {
		s.done = true
		return s
	}
	if len(e.hints) > 0 {
		h, ok := e.hints[f.Server.Port()]
		if !ok {
			// The flow table may have guessed the direction wrong.
			h = e.hints[f.Client.Port()]
		}
		s.hint = h
		for _, i := range h {
			s.hintMask |= 1 << i
		}
	}
	return s
}

// Packet inspects one packet of the flow in direction dir. Packets without
// payload matter too: a SYN fixes where the TCP stream starts.
func (e *Engine) Packet(s *State, dir Dir, h *decode.Headers, now int64) {
	if s == nil || s.done {
		return
	}
	dir &= 1
	s.ctx.Now = now
	if s.flow.Transport == UDP {
		if len(h.Payload) == 0 {
			return
		}
		s.data(dir, h.Payload)
	} else {
		r := &s.st[dir]
		seq := h.Seq
		if h.TCPFlags&decode.TCPSyn != 0 {
			r.syn(seq)
			seq++
		}
		total := max(h.PayloadLen, len(h.Payload))
		if total > 0 && h.TCPFlags&decode.TCPRst == 0 {
			r.segment(&e.pool, dir, s, seq, h.Payload, total)
		}
	}
	if s.done {
		e.finish(s)
	}
}

// Announce runs one datagram of a flow the engine does not track through a
// throwaway session, for what it teaches the engine: the names a DNS answer
// gives the servers of later flows. A sharded pipeline gives every worker
// the answers the other workers see, in packet order, so that names reach
// later flows on every worker as they would in one engine, without each
// worker tracking the others' flows. dir is the datagram's direction in f.
func (e *Engine) Announce(f FlowInfo, dir Dir, payload []byte, now int64) {
	if f.Transport != UDP || len(payload) == 0 {
		return
	}
	s := e.Begin(f, now)
	s.ctx.LearnOnly = true
	if !s.done {
		s.data(dir&1, payload)
	}
	s.done = true
	e.Release(s)
}

// End is called when the flow ends: held out-of-order data is delivered
// after gaps for the holes before it, and a flow still being probed counts
// as unknown.
func (e *Engine) End(s *State, now int64) {
	if s == nil {
		return
	}
	if !s.done {
		s.ctx.Now = now
		if s.flow.Transport == TCP {
			for d := range Dir(2) {
				if !s.st[d].flush(&e.pool, d, s) || s.done {
					break
				}
			}
		}
		if !s.done && s.sess == nil && s.proto == "" && s.pn[0]+s.pn[1] > 0 {
			e.markUnknown(s)
		}
		s.done = true
	}
	e.finish(s)
}

// Release returns s to the engine once its record has been written.
func (e *Engine) Release(s *State) {
	if s == nil {
		return
	}
	e.finish(s)
	e.reuseSession(s.parser, s.sess)
	*s = State{e: e, parser: -1, next: e.free}
	e.free = s
}

// reuseSession keeps a released session of parser i for the next flow
// its parser identifies, when it can be reset.
func (e *Engine) reuseSession(i int8, sess Session) {
	if i < 0 {
		return
	}
	if r, ok := sess.(Resetter); ok && len(e.sessFree[i]) < maxFreeSessions {
		e.sessFree[i] = append(e.sessFree[i], r)
	}
}

// finish frees a done flow's buffers. It may be called more than once.
func (e *Engine) finish(s *State) {
	for d := range s.st {
		s.st[d].release(&e.pool)
		if s.pb[d] != nil {
			if len(e.probeFree) < maxFreeBufs {
				e.probeFree = append(e.probeFree, s.pb[d][:0])
			}
			s.pb[d] = nil
		}
	}
	e.freeChunks(s)
}

func (e *Engine) freeChunks(s *State) {
	if s.chunks != nil {
		if len(e.chunkFree) < maxFreeBufs {
			e.chunkFree = append(e.chunkFree, s.chunks[:0])
		}
		s.chunks = nil
	}
}

// newSession is parser i's session for a new flow: a released one, reset,
// when the parser's sessions can be reused.
func (e *Engine) newSession(i int, f *FlowInfo) Session {
	if free := e.sessFree[i]; len(free) > 0 {
		r := free[len(free)-1]
		free[len(free)-1] = nil
		e.sessFree[i] = free[:len(free)-1]
		r.Reset(f)
		return r.(Session)
	}
	return e.parsers[i].NewSession(f)
}

func (e *Engine) identify(s *State, proto string, sess Session) {
	s.proto = proto
	s.sess = sess
	s.cand = 0
	e.st.identified.Add(1)
	e.proto(proto).identified.Add(1)
}

func (e *Engine) markUnknown(s *State) {
	if !s.unknown {
		s.unknown = true
		e.st.unknown.Add(1)
	}
	s.done = true
}

// data is the reassembler's (and for UDP, Packet's) delivery of the next
// bytes of direction dir.
func (s *State) data(dir Dir, b []byte) bool {
	if s.sess != nil {
		if !s.sess.Feed(&s.ctx, dir^s.flip, b) {
			s.done = true
			return false
		}
		return true
	}
	if s.proto != "" {
		return false
	}
	return s.e.probe(s, dir, b)
}

func (s *State) gap(dir Dir, n int) bool {
	e := s.e
	e.st.gaps.Add(1)
	e.st.gapBytes.Add(uint64(n))
	if s.sess != nil {
		if !s.sess.Gap(&s.ctx, dir^s.flip, n) {
			s.done = true
			return false
		}
		return true
	}
	if s.pn[dir] > 0 {
		// Probes see streams from their start; a hole after data has
		// been probed leaves nothing sound to probe.
		e.markUnknown(s)
		return false
	}
	return true
}

func (s *State) overflow(Dir) { s.e.st.overflows.Add(1) }

// probe offers the next bytes of dir to the candidate parsers.
func (e *Engine) probe(s *State, dir Dir, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	s.pn[dir]++
	udp := s.flow.Transport == UDP
	view := b
	kept := 0 // bytes of b already in pb[dir] as the last chunk
	if !udp && len(s.pb[dir]) > 0 {
		kept = e.keep(s, dir, b, false)
		view = s.pb[dir]
	} else if len(view) > e.cfg.ProbeBytes && !udp {
		view = view[:e.cfg.ProbeBytes]
	}
	switch i, v := e.offer(s, dir, view); v {
	case VerdictYes:
		p := e.parsers[i]
		sess := e.newSession(i, &s.flow)
		e.identify(s, p.Name(), sess)
		if sess != nil {
			s.parser = int8(i)
		}
		if sess == nil {
			s.done = true
			return false
		}
		for _, c := range s.chunks {
			if !sess.Feed(&s.ctx, c.dir, s.pb[c.dir][c.start:c.end]) {
				s.done = true
				return false
			}
		}
		if kept < len(b) && !sess.Feed(&s.ctx, dir, b[kept:]) {
			s.done = true
			return false
		}
		e.freeProbe(s)
		return true
	case VerdictNo:
		e.markUnknown(s)
		return false
	}
	if kept == 0 {
		kept = e.keep(s, dir, b, udp)
	}
	if s.pn[dir] >= e.cfg.ProbePackets || (!udp && (kept < len(b) || len(s.pb[dir]) >= e.cfg.ProbeBytes)) {
		e.markUnknown(s)
		return false
	}
	return true
}

// offer asks the candidates, hinted ones first. It returns VerdictNo when no
// candidate is left.
func (e *Engine) offer(s *State, dir Dir, view []byte) (int, Verdict) {
	for _, i := range s.hint {
		if s.cand&(1<<i) == 0 {
			continue
		}
		switch e.parsers[i].Probe(&s.flow, dir, view) {
		case VerdictYes:
			return int(i), VerdictYes
		case VerdictNo:
			s.cand &^= 1 << i
		}
	}
	for i, p := range e.parsers {
		bit := uint64(1) << i
		if s.cand&bit == 0 || s.hintMask&bit != 0 {
			continue
		}
		switch p.Probe(&s.flow, dir, view) {
		case VerdictYes:
			return i, VerdictYes
		case VerdictNo:
			s.cand &^= bit
		}
	}
	if s.cand == 0 {
		return -1, VerdictNo
	}
	return -1, VerdictMaybe
}

// keep copies probed bytes for replay and returns how many it kept. A UDP
// datagram is kept whole or not at all.
func (e *Engine) keep(s *State, dir Dir, b []byte, whole bool) int {
	buf := s.pb[dir]
	if buf == nil {
		if n := len(e.probeFree); n > 0 {
			buf = e.probeFree[n-1]
			e.probeFree[n-1] = nil
			e.probeFree = e.probeFree[:n-1]
		} else {
			buf = make([]byte, 0, e.cfg.ProbeBytes)
		}
	}
	n := min(len(b), e.cfg.ProbeBytes-len(buf))
	if whole && n < len(b) {
		n = 0
	}
	start := len(buf)
	buf = append(buf, b[:n]...)
	s.pb[dir] = buf
	if n > 0 {
		if s.chunks == nil {
			if k := len(e.chunkFree); k > 0 {
				s.chunks = e.chunkFree[k-1]
				e.chunkFree[k-1] = nil
				e.chunkFree = e.chunkFree[:k-1]
			} else {
				// One chunk per probed delivery at most, and each
				// direction probes at most ProbePackets.
				s.chunks = make([]chunk, 0, 2*e.cfg.ProbePackets+2)
			}
		}
		last := len(s.chunks) - 1
		if !whole && last >= 0 && s.chunks[last].dir == dir && int(s.chunks[last].end) == start {
			s.chunks[last].end += int32(n)
		} else if len(s.chunks) < cap(s.chunks) {
			s.chunks = append(s.chunks, chunk{dir: dir, start: int32(start), end: int32(start + n)})
		}
	}
	return n
}

func (e *Engine) freeProbe(s *State) {
	for d := range s.pb {
		if s.pb[d] != nil {
			if len(e.probeFree) < maxFreeBufs {
				e.probeFree = append(e.probeFree, s.pb[d][:0])
			}
			s.pb[d] = nil
		}
	}
	e.freeChunks(s)
}

// Expire drops expectations and names whose time is up.
func (e *Engine) Expire(now int64) {
	if n := e.exp.expire(now); n > 0 {
		e.st.expectExpired.Add(uint64(n))
		e.st.expectations.Store(int64(e.exp.len()))
	}
	if n := e.names.expire(now); n > 0 {
		e.st.namesExpired.Add(uint64(n))
		e.st.names.Store(int64(e.names.len()))
	}
}

// Name returns the DNS cache's live name for addr, or "".
func (e *Engine) Name(addr netip.Addr, now int64) string { return e.names.lookup(addr, now) }

// host interface, called by sessions through Context.

func (e *Engine) expect(x Expectation, now int64) {
	dropped, replaced := e.exp.add(x, now)
	if dropped {
		e.st.expectDropped.Add(1)
	}
	if replaced {
		e.st.expectReplace.Add(1)
	}
	if x.Listener.Addr().IsValid() && e.cfg.MaxExpectations > 0 {
		e.st.expectAdded.Add(1)
		if x.Protocol != "" {
			e.proto(x.Protocol)
		}
	}
	e.st.expectations.Store(int64(e.exp.len()))
}

func (e *Engine) learnName(addr netip.Addr, name string, ttl uint32, now int64) {
	stored, dropped := e.names.learn(addr, name, ttl, now)
	if stored {
		e.st.namesLearned.Add(1)
	}
	if dropped {
		e.st.namesDropped.Add(1)
	}
	e.st.names.Store(int64(e.names.len()))
}

func (e *Engine) malformed(protocol string) {
	e.st.malformed.Add(1)
	e.proto(protocol).malformed.Add(1)
}

// EngineStats are the engine's counters since it started.
type EngineStats struct {
	Identified      uint64 // flows labelled with a protocol (probed or expected)
	Unknown         uint64 // flows with payload that no parser claimed
	Malformed       uint64 // payloads sessions gave up on (all protocols)
	ExpectAdded     uint64
	ExpectMatched   uint64
	ExpectExpired   uint64
	ExpectDropped   uint64 // evicted because the table was full, or invalid
	ExpectReplaced  uint64 // superseded by a newer one for the same listener
	Expectations    int64  // waiting now
	StreamOverflows uint64 // out-of-order data that did not fit: holes skipped
	Gaps            uint64 // holes reported to sessions (loss, overflow, end)
	GapBytes        uint64
	NamesLearned    uint64
	NamesDropped    uint64 // evicted when full, or invalid
	NamesExpired    uint64
	Names           int64 // cached now
}

// Stats returns a snapshot of the counters. Per-protocol counts are in
// Protocols.
func (e *Engine) Stats() EngineStats {
	c := &e.st
	return EngineStats{
		Identified: c.identified.Load(), Unknown: c.unknown.Load(), Malformed: c.malformed.Load(),
		ExpectAdded: c.expectAdded.Load(), ExpectMatched: c.expectMatched.Load(),
		ExpectExpired: c.expectExpired.Load(), ExpectDropped: c.expectDropped.Load(),
		ExpectReplaced: c.expectReplace.Load(), Expectations: c.expectations.Load(),
		StreamOverflows: c.overflows.Load(), Gaps: c.gaps.Load(), GapBytes: c.gapBytes.Load(),
		NamesLearned: c.namesLearned.Load(), NamesDropped: c.namesDropped.Load(),
		NamesExpired: c.namesExpired.Load(), Names: c.names.Load(),
	}
}

// ProtocolStats are one protocol's counters.
type ProtocolStats struct {
	Protocol   string
	Identified uint64
	Malformed  uint64
}

// Protocols appends the per-protocol counters to dst, in registration order
// (parsers first), and returns it.
func (e *Engine) Protocols(dst []ProtocolStats) []ProtocolStats {
	n := int(e.nprotos.Load())
	for i := range n {
		p := &e.protos[i]
		dst = append(dst, ProtocolStats{Protocol: p.name, Identified: p.identified.Load(), Malformed: p.malformed.Load()})
	}
	return dst
}
