package l7

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// toyParser says yes to streams starting with prefix, maybe to a strict
// prefix of it or to data starting with '?', no otherwise.
type toyParser struct {
	name   string
	prefix string
	tr     Transport
	ports  []uint16
	log    *[]string
	hook   func(ctx *Context, dir Dir, b []byte) bool // session behaviour
}

func (p *toyParser) Name() string          { return p.name }
func (p *toyParser) Transports() Transport { return p.tr }

func (p *toyParser) Probe(f *FlowInfo, dir Dir, data []byte) Verdict {
	if p.log != nil {
		*p.log = append(*p.log, fmt.Sprintf("%s:%d:%d", p.name, dir, len(data)))
	}
	switch {
	case bytes.HasPrefix(data, []byte(p.prefix)):
		return VerdictYes
	case len(data) < len(p.prefix) && strings.HasPrefix(p.prefix, string(data)):
		return VerdictMaybe
	case len(data) > 0 && data[0] == '?':
		return VerdictMaybe
	}
	return VerdictNo
}

func (p *toyParser) NewSession(f *FlowInfo) Session { return &toySession{hook: p.hook} }

type toyPorts struct{ *toyParser }

func (p toyPorts) Ports() []uint16 { return p.ports }

// toySession records what it is fed: "c:..." / "s:..." pieces and gaps.
type toySession struct {
	pieces []string
	bytes  int
	hook   func(ctx *Context, dir Dir, b []byte) bool
}

func (s *toySession) Feed(ctx *Context, dir Dir, b []byte) bool {
	s.pieces = append(s.pieces, "cs"[dir:dir+1]+":"+string(b))
	s.bytes += len(b)
	if s.hook != nil {
		return s.hook(ctx, dir, b)
	}
	return true
}

func (s *toySession) Gap(ctx *Context, dir Dir, n int) bool {
	s.pieces = append(s.pieces, fmt.Sprintf("%s:<gap %d>", "cs"[dir:dir+1], n))
	return true
}

func (s *toySession) Fields(d *ecs.Doc)    { d.Int("outflow.toy.bytes", int64(s.bytes)) }
func (s *toySession) Summary(sum *Summary) { sum.Protocol = "toy" }

func (s *toySession) transcript() string { return strings.Join(s.pieces, "|") }

// countSession counts bytes and nothing else: no allocation per Feed.
type countSession struct{ n [2]int }

func (s *countSession) Feed(_ *Context, dir Dir, b []byte) bool { s.n[dir&1] += len(b); return true }
func (s *countSession) Gap(*Context, Dir, int) bool             { return true }
func (s *countSession) Fields(d *ecs.Doc)                       {}
func (s *countSession) Summary(*Summary)                        {}

type countParser struct{}

func (countParser) Name() string          { return "count" }
func (countParser) Transports() Transport { return TCP | UDP }
func (countParser) Probe(_ *FlowInfo, _ Dir, b []byte) Verdict {
	if bytes.HasPrefix(b, []byte("COUNT")) {
		return VerdictYes
	}
	return VerdictNo
}
func (countParser) NewSession(*FlowInfo) Session { return &countSession{} }

var (
	cliAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	srvAddr = netip.MustParseAddrPort("192.0.2.10:7000")
)

func tcpFlow(srv netip.AddrPort) FlowInfo {
	return FlowInfo{Transport: TCP, Client: cliAddr, Server: srv}
}

func tcpH(seq uint32, flags uint8, payload string) *decode.Headers {
	return &decode.Headers{Proto: decode.ProtoTCP, Seq: seq, TCPFlags: flags, Payload: []byte(payload), PayloadLen: len(payload)}
}

func udpH(payload string) *decode.Headers {
	return &decode.Headers{Proto: decode.ProtoUDP, Payload: []byte(payload), PayloadLen: len(payload)}
}

// pkt is one packet of a scripted flow.
type pkt struct {
	dir     Dir
	seq     uint32
	flags   uint8
	payload string
}

const (
	cISN = 100
	sISN = 5000
)

// handshake opens a TCP flow with a SYN and SYN-ACK.
var handshake = []pkt{{FromClient, cISN, decode.TCPSyn, ""}, {FromServer, sISN, decode.TCPSyn | decode.TCPAck, ""}}

func run(e *Engine, s *State, pkts []pkt) {
	for i, p := range pkts {
		var h *decode.Headers
		if s.flow.Transport == UDP {
			h = udpH(p.payload)
		} else {
			h = tcpH(p.seq, p.flags, p.payload)
		}
		e.Packet(s, p.dir, h, int64(i+1)*1e6)
	}
}

func session(t *testing.T, s *State) *toySession {
	t.Helper()
	ts, ok := s.sess.(*toySession)
	if !ok {
		t.Fatalf("flow not identified as a toy session (protocol %q)", s.Protocol())
	}
	return ts
}

func TestEngineProbeAndReplay(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP}
	tests := []struct {
		name       string
		pkts       []pkt
		end        bool
		proto      string
		done       bool
		transcript string
		unknown    uint64
	}{
		{"identified on first packet", append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPAck, "HELLO there"}), false,
			"toy", false, "c:HELLO there", 0},
		{"replay in arrival order across directions", append(handshake[:2:2],
			pkt{FromServer, sISN + 1, decode.TCPAck, "?banner"},
			pkt{FromClient, cISN + 1, decode.TCPAck, "HEL"},
			pkt{FromServer, sISN + 8, decode.TCPAck, "+more"},
			pkt{FromClient, cISN + 4, decode.TCPAck, "LO world"},
			pkt{FromClient, cISN + 12, decode.TCPAck, "!"}), false,
			"toy", false, "s:?banner|c:HEL|s:+more|c:LO world|c:!", 0},
		{"reordered probe data", append(handshake[:2:2],
			pkt{FromClient, cISN + 4, decode.TCPAck, "LO"},
			pkt{FromClient, cISN + 1, decode.TCPAck, "HEL"}), false,
			"toy", false, "c:HELLO", 0},
		{"no parser: unknown", append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPAck, "GET / HTTP/1.1"}), false,
			"", true, "", 1},
		{"undecided at end: unknown", append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPAck, "HE"}), true,
			"", true, "", 1},
		{"no payload: not unknown", handshake, true, "", true, "", 0},
		{"gap while probing: unknown", append(handshake[:2:2],
			pkt{FromClient, cISN + 1, decode.TCPAck, "HE"},
			pkt{FromClient, cISN + 10, decode.TCPAck, "xx"}), true,
			"", true, "", 1},
		{"mid-stream start", []pkt{{FromClient, 777, decode.TCPAck, "HELLO"}}, false, "toy", false, "c:HELLO", 0},
		{"SYN carrying data", []pkt{{FromClient, cISN, decode.TCPSyn, "HELLO"}, {FromClient, cISN + 6, decode.TCPAck, "!"}}, false,
			"toy", false, "c:HELLO|c:!", 0},
		{"identified then hole flushed at end", append(handshake[:2:2],
			pkt{FromClient, cISN + 1, decode.TCPAck, "HELLO"},
			pkt{FromClient, cISN + 9, decode.TCPAck, "late"}), true,
			"toy", true, "c:HELLO|c:<gap 3>|c:late", 0},
		{"RST payload ignored", append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPRst, "HELLO"}), false, "", false, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine([]Parser{toy}, EngineConfig{})
			s := e.Begin(tcpFlow(srvAddr), 0)
			run(e, s, tc.pkts)
			if tc.end {
				e.End(s, 1e9)
			}
			if s.Protocol() != tc.proto || s.Done() != tc.done {
				t.Fatalf("protocol %q done %v, want %q %v", s.Protocol(), s.Done(), tc.proto, tc.done)
			}
			if tc.transcript != "" {
				if got := session(t, s).transcript(); got != tc.transcript {
					t.Errorf("session fed %q, want %q", got, tc.transcript)
				}
			}
			if got := e.Stats().Unknown; got != tc.unknown {
				t.Errorf("unknown %d, want %d", got, tc.unknown)
			}
			if s.Done() && (s.pb[0] != nil || s.pb[1] != nil || s.st[0].buf != nil || s.st[1].buf != nil) {
				t.Errorf("done flow still holds buffers")
			}
			e.Release(s)
		})
	}
}

func TestEngineProbeLimits(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP | UDP}
	t.Run("packets", func(t *testing.T) {
		e := NewEngine([]Parser{toy}, EngineConfig{ProbePackets: 3})
		s := e.Begin(tcpFlow(srvAddr), 0)
		seq := uint32(cISN + 1)
		for i := range 3 {
			if s.Done() {
				t.Fatalf("gave up after %d packets, want 3", i)
			}
			e.Packet(s, FromClient, tcpH(seq, decode.TCPAck, "?x"), 0)
			seq += 2
		}
		if !s.Done() || s.Protocol() != "" || e.Stats().Unknown != 1 {
			t.Fatalf("done %v protocol %q unknown %d", s.Done(), s.Protocol(), e.Stats().Unknown)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		e := NewEngine([]Parser{toy}, EngineConfig{ProbeBytes: 10})
		s := e.Begin(tcpFlow(srvAddr), 0)
		e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "?123456"), 0)
		if s.Done() {
			t.Fatal("gave up early")
		}
		e.Packet(s, FromClient, tcpH(8, decode.TCPAck, "7890"), 0)
		if !s.Done() || e.Stats().Unknown != 1 {
			t.Fatalf("did not give up at ProbeBytes")
		}
	})
	t.Run("probe sees at most ProbeBytes", func(t *testing.T) {
		var log []string
		p := &toyParser{name: "toy", prefix: "HELLO", tr: TCP, log: &log}
		e := NewEngine([]Parser{p}, EngineConfig{ProbeBytes: 4})
		s := e.Begin(tcpFlow(srvAddr), 0)
		e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "?23456789"), 0)
		if len(log) != 1 || log[0] != "toy:0:4" {
			t.Fatalf("probe calls %v, want one of 4 bytes", log)
		}
	})
}

func TestEngineProbeOrder(t *testing.T) {
	var log []string
	a := &toyParser{name: "a", prefix: "A", tr: TCP, log: &log}
	b := &toyParser{name: "b", prefix: "B", tr: TCP, log: &log, ports: []uint16{9999}}
	u := &toyParser{name: "u", prefix: "U", tr: UDP, log: &log}
	e := NewEngine([]Parser{a, toyPorts{b}, u}, EngineConfig{})
	tests := []struct {
		name string
		flow FlowInfo
		want string
	}{
		{"hinted parser first", tcpFlow(netip.MustParseAddrPort("192.0.2.1:9999")), "b:0:1,a:0:1"},
		{"hint from client port", FlowInfo{Transport: TCP, Client: netip.MustParseAddrPort("192.0.2.1:9999"), Server: cliAddr}, "b:0:1,a:0:1"},
		{"parser order otherwise", tcpFlow(netip.MustParseAddrPort("192.0.2.1:80")), "a:0:1,b:0:1"},
		{"transport filter", FlowInfo{Transport: UDP, Client: cliAddr, Server: srvAddr}, "u:0:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log = log[:0]
			s := e.Begin(tc.flow, 0)
			if tc.flow.Transport == UDP {
				e.Packet(s, FromClient, udpH("x"), 0)
			} else {
				e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "x"), 0)
			}
			if got := strings.Join(log, ","); got != tc.want {
				t.Errorf("probe order %s, want %s", got, tc.want)
			}
			e.Release(s)
		})
	}
	// A parser that said no is not asked again.
	log = log[:0]
	s := e.Begin(tcpFlow(srvAddr), 0)
	e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "?"), 0) // a, b: maybe
	log = log[:0]
	e.Packet(s, FromServer, tcpH(1, decode.TCPAck, "B"), 0) // a: no, b: yes
	if got := strings.Join(log, ","); got != "a:1:1,b:1:1" || s.Protocol() != "b" {
		t.Fatalf("second round %s -> %q", got, s.Protocol())
	}
}

func TestEngineUDP(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: UDP}
	e := NewEngine([]Parser{toy}, EngineConfig{})
	s := e.Begin(FlowInfo{Transport: UDP, Client: cliAddr, Server: srvAddr}, 0)
	run(e, s, []pkt{{FromClient, 0, 0, "?one"}, {FromServer, 0, 0, "?two"}, {FromClient, 0, 0, "HELLO"}, {FromServer, 0, 0, "after"}})
	if got := session(t, s).transcript(); got != "c:?one|s:?two|c:HELLO|s:after" {
		t.Fatalf("datagrams fed %q", got)
	}
}

func TestEngineSessionStops(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP, hook: func(_ *Context, _ Dir, b []byte) bool {
		return !bytes.Contains(b, []byte("STOP"))
	}}
	e := NewEngine([]Parser{toy}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 0)
	run(e, s, append(handshake[:2:2],
		pkt{FromClient, cISN + 11, decode.TCPAck, "held"}, // out of order: buffered
		pkt{FromClient, cISN + 1, decode.TCPAck, "HELLO STOP"},
		pkt{FromClient, cISN + 14, decode.TCPAck, "more"}))
	if !s.Done() || s.Protocol() != "toy" {
		t.Fatalf("done %v protocol %q", s.Done(), s.Protocol())
	}
	if got := session(t, s).transcript(); got != "c:HELLO STOP" {
		t.Fatalf("fed after stop: %q", got)
	}
	if s.st[0].buf != nil || len(e.pool.free) != 1 {
		t.Fatalf("stream buffer not returned (held %v, free %d)", s.st[0].buf != nil, len(e.pool.free))
	}
}

func TestEngineOverflowStats(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP}
	e := NewEngine([]Parser{toy}, EngineConfig{StreamBuffer: 8})
	s := e.Begin(tcpFlow(srvAddr), 0)
	run(e, s, append(handshake[:2:2],
		pkt{FromClient, cISN + 1, decode.TCPAck, "HELLO"},
		pkt{FromClient, cISN + 8, decode.TCPAck, "ab"},        // hole of 2
		pkt{FromClient, cISN + 20, decode.TCPAck, "overflow"}, // does not fit: skip
	))
	st := e.Stats()
	if st.StreamOverflows != 1 || st.Gaps != 2 || st.GapBytes != 2+10 {
		t.Fatalf("overflows %d gaps %d gap bytes %d", st.StreamOverflows, st.Gaps, st.GapBytes)
	}
	if got := session(t, s).transcript(); got != "c:HELLO|c:<gap 2>|c:ab|c:<gap 10>|c:overflow" {
		t.Fatalf("fed %q", got)
	}
}

func TestEngineDisabledAndOtherTransports(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP}
	for _, tc := range []struct {
		name string
		cfg  EngineConfig
		tr   Transport
	}{{"disabled", EngineConfig{Disabled: true}, TCP}, {"no transport", EngineConfig{}, 0}, {"no UDP parser", EngineConfig{}, UDP}} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine([]Parser{toy}, tc.cfg)
			s := e.Begin(FlowInfo{Transport: tc.tr, Client: cliAddr, Server: srvAddr}, 0)
			if !s.Done() {
				t.Fatal("state not done")
			}
			e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "HELLO"), 0)
			if s.Protocol() != "" {
				t.Fatal("inspected anyway")
			}
		})
	}
}

func TestEngineStateReuse(t *testing.T) {
	toy := &toyParser{name: "toy", prefix: "HELLO", tr: TCP}
	e := NewEngine([]Parser{toy}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 0)
	run(e, s, append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPAck, "HELLO"}))
	e.End(s, 1)
	e.Release(s)
	s2 := e.Begin(tcpFlow(srvAddr), 2)
	if s2 != s {
		t.Fatal("released state not reused")
	}
	if s2.Protocol() != "" || s2.Done() || s2.sess != nil {
		t.Fatal("reused state not reset")
	}
}

// expectParser's session announces an expectation described by its first
// line "EXPECT <listener> <peer> <proto>".
func expectHook(ctx *Context, _ Dir, b []byte) bool {
	var l, p, proto string
	if _, err := fmt.Sscanf(string(b), "EXPECT %s %s %s", &l, &p, &proto); err == nil {
		ctx.Expect(Expectation{Transport: TCP, Listener: netip.MustParseAddrPort(l), Peer: netip.MustParseAddrPort(p),
			Protocol: proto, Session: &toySession{}})
	}
	var addr, name string
	var ttl uint32
	if _, err := fmt.Sscanf(string(b), "NAME %s %s %d", &addr, &name, &ttl); err == nil {
		ctx.LearnName(netip.MustParseAddr(addr), name, ttl)
	}
	if bytes.HasPrefix(b, []byte("BAD")) {
		ctx.Malformed("ctl")
		return false
	}
	return true
}

func ctlEngine(cfg EngineConfig) *Engine {
	return NewEngine([]Parser{&toyParser{name: "ctl", prefix: "EXPECT", tr: TCP, hook: expectHook},
		&toyParser{name: "dns", prefix: "NAME", tr: TCP, hook: expectHook}}, cfg)
}

// announce runs a control flow whose session sends lines.
func announce(e *Engine, now int64, lines ...string) {
	s := e.Begin(tcpFlow(srvAddr), now)
	seq := uint32(1)
	for _, l := range lines {
		e.Packet(s, FromClient, tcpH(seq, decode.TCPAck, l), now)
		seq += uint32(len(l))
	}
	e.End(s, now)
	e.Release(s)
}

func TestEngineExpectations(t *testing.T) {
	const sec = int64(1e9)
	data := netip.MustParseAddrPort("192.0.2.10:30000")
	tests := []struct {
		name    string
		expect  string
		flow    FlowInfo
		at      int64
		proto   string
		flip    Dir
		matched uint64
		expired uint64
	}{
		{"exact", "EXPECT 192.0.2.10:30000 10.0.0.1:0 ftp-data", FlowInfo{TCP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 1, "ftp-data", 0, 1, 0},
		{"v4-mapped flow address", "EXPECT 192.0.2.10:30000 10.0.0.1:0 ftp-data",
			FlowInfo{TCP, netip.MustParseAddrPort("[::ffff:10.0.0.1]:40001"), netip.MustParseAddrPort("[::ffff:192.0.2.10]:30000")}, 1, "ftp-data", 0, 1, 0},
		{"wildcard listener port", "EXPECT 192.0.2.10:0 10.0.0.1:0 x", FlowInfo{TCP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 1, "x", 0, 1, 0},
		{"peer port must match", "EXPECT 192.0.2.10:30000 10.0.0.1:20 x", FlowInfo{TCP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 1, "", 0, 0, 0},
		{"peer address must match", "EXPECT 192.0.2.10:30000 10.0.0.2:0 x", FlowInfo{TCP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 1, "", 0, 0, 0},
		{"unspecified peer matches any", "EXPECT 192.0.2.10:30000 0.0.0.0:0 x", FlowInfo{TCP, netip.MustParseAddrPort("10.9.9.9:1"), data}, 1, "x", 0, 1, 0},
		{"transport must match", "EXPECT 192.0.2.10:30000 10.0.0.1:0 x", FlowInfo{UDP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 1, "", 0, 0, 0},
		{"reversed flow", "EXPECT 192.0.2.10:30000 10.0.0.1:0 x", FlowInfo{TCP, data, netip.MustParseAddrPort("10.0.0.1:40001")}, 1, "x", FromServer, 1, 0},
		{"expired", "EXPECT 192.0.2.10:30000 10.0.0.1:0 x", FlowInfo{TCP, netip.MustParseAddrPort("10.0.0.1:40001"), data}, 121 * sec, "", 0, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ctlEngine(EngineConfig{})
			announce(e, 0, tc.expect)
			if st := e.Stats(); st.ExpectAdded != 1 || st.Expectations != 1 {
				t.Fatalf("added %d waiting %d", st.ExpectAdded, st.Expectations)
			}
			s := e.Begin(tc.flow, tc.at)
			if s.Protocol() != tc.proto || s.flip != tc.flip {
				t.Fatalf("protocol %q flip %d, want %q %d", s.Protocol(), s.flip, tc.proto, tc.flip)
			}
			st := e.Stats()
			if st.ExpectMatched != tc.matched || st.ExpectExpired != tc.expired {
				t.Fatalf("matched %d expired %d, want %d %d", st.ExpectMatched, st.ExpectExpired, tc.matched, tc.expired)
			}
			if tc.proto != "" {
				// Fed at once, without probing, with directions flipped
				// for a reversed flow.
				e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "anything"), tc.at)
				if got := session(t, s).transcript(); got != "cs"[tc.flip:tc.flip+1]+":anything" {
					t.Fatalf("expected session fed %q", got)
				}
				// Matched once.
				s2 := e.Begin(tc.flow, tc.at)
				if s2.Protocol() != "" {
					t.Fatal("expectation matched twice")
				}
			}
		})
	}
}

func TestEngineExpectationLimits(t *testing.T) {
	const sec = int64(1e9)
	e := ctlEngine(EngineConfig{MaxExpectations: 2, ExpectTimeout: 10 * sec})
	announce(e, 0, "EXPECT 192.0.2.1:1 0.0.0.0:0 x")
	announce(e, 1*sec, "EXPECT 192.0.2.1:2 0.0.0.0:0 x")
	announce(e, 2*sec, "EXPECT 192.0.2.1:3 0.0.0.0:0 x") // evicts :1
	announce(e, 3*sec, "EXPECT 192.0.2.1:3 0.0.0.0:0 y") // replaces :3
	st := e.Stats()
	if st.ExpectAdded != 4 || st.ExpectDropped != 1 || st.ExpectReplaced != 1 || st.Expectations != 2 {
		t.Fatalf("stats %+v", st)
	}
	flow := func(port uint16) FlowInfo {
		return FlowInfo{TCP, cliAddr, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)}
	}
	if s := e.Begin(flow(1), 4*sec); s.Protocol() != "" {
		t.Fatal("evicted expectation matched")
	}
	if s := e.Begin(flow(3), 4*sec); s.Protocol() != "y" {
		t.Fatalf("replacement not matched: %q", s.Protocol())
	}
	e.Expire(11 * sec) // :2 was added at 1 s
	if st := e.Stats(); st.ExpectExpired != 1 || st.Expectations != 0 {
		t.Fatalf("after expire %+v", st)
	}
}

func TestEngineNames(t *testing.T) {
	const sec = int64(1e9)
	srv := netip.MustParseAddrPort("198.51.100.7:443")
	domainAt := func(e *Engine, at int64) string {
		s := e.Begin(FlowInfo{TCP, cliAddr, srv}, at)
		defer e.Release(s)
		return s.Domain()
	}
	t.Run("ttl clamped", func(t *testing.T) {
		tests := []struct {
			ttl    uint32
			at     int64
			domain string
		}{
			{1, 59 * sec, "a.example"},
			{1, 61 * sec, ""},
			{300, 299 * sec, "a.example"},
			{300, 301 * sec, ""},
			{1 << 30, 86399 * sec, "a.example"},
			{1 << 30, 86401 * sec, ""},
		}
		for _, tc := range tests {
			e := ctlEngine(EngineConfig{})
			announce(e, 0, fmt.Sprintf("NAME 198.51.100.7 a.example %d", tc.ttl))
			if got := domainAt(e, tc.at); got != tc.domain {
				t.Errorf("ttl %d at %ds: domain %q, want %q", tc.ttl, tc.at/sec, got, tc.domain)
			}
		}
	})
	t.Run("limit evicts oldest", func(t *testing.T) {
		e := ctlEngine(EngineConfig{MaxNames: 2})
		announce(e, 0, "NAME 198.51.100.7 a.example 600")
		announce(e, 1, "NAME 198.51.100.8 b.example 600")
		announce(e, 2, "NAME 198.51.100.7 a2.example 600") // refresh: now newest
		announce(e, 3, "NAME 198.51.100.9 c.example 600")  // evicts .8
		if got := domainAt(e, 4); got != "a2.example" {
			t.Fatalf("refreshed name %q", got)
		}
		if got := e.Name(netip.MustParseAddr("198.51.100.8"), 4); got != "" {
			t.Fatalf("oldest not evicted: %q", got)
		}
		if got := e.Name(netip.MustParseAddr("::ffff:198.51.100.9"), 4); got != "c.example" {
			t.Fatalf("v4-mapped lookup %q", got)
		}
		st := e.Stats()
		if st.NamesLearned != 4 || st.NamesDropped != 1 || st.Names != 2 {
			t.Fatalf("stats %+v", st)
		}
		e.Expire(601 * sec)
		if st := e.Stats(); st.NamesExpired != 2 || st.Names != 0 {
			t.Fatalf("after expire %+v", st)
		}
	})
	t.Run("invalid names dropped", func(t *testing.T) {
		e := ctlEngine(EngineConfig{})
		announce(e, 0, "NAME 198.51.100.7 "+strings.Repeat("a", 300)+" 60")
		if st := e.Stats(); st.NamesDropped != 1 || st.Names != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("session domain wins", func(t *testing.T) {
		e := NewEngine([]Parser{&domainParser{}}, EngineConfig{})
		e.learnName(srv.Addr(), "cache.example", 600, 0)
		s := e.Begin(FlowInfo{TCP, cliAddr, srv}, 1)
		if s.Domain() != "cache.example" {
			t.Fatalf("before identification: %q", s.Domain())
		}
		e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "SNI"), 1)
		var sum Summary
		s.Summary(&sum)
		if s.Domain() != "sni.example" || sum.Domain != "sni.example" || sum.Protocol != "sni" {
			t.Fatalf("domain %q summary %+v", s.Domain(), sum)
		}
	})
}

type domainParser struct{}

func (domainParser) Name() string                         { return "sni" }
func (domainParser) Transports() Transport                { return TCP }
func (domainParser) Probe(*FlowInfo, Dir, []byte) Verdict { return VerdictYes }
func (domainParser) NewSession(*FlowInfo) Session         { return domainSession{} }

type domainSession struct{}

func (domainSession) Feed(*Context, Dir, []byte) bool { return true }
func (domainSession) Gap(*Context, Dir, int) bool     { return true }
func (domainSession) Fields(*ecs.Doc)                 {}
func (domainSession) Summary(s *Summary)              { s.Domain = "sni.example" }

func TestEngineProtocolStats(t *testing.T) {
	e := ctlEngine(EngineConfig{})
	announce(e, 0, "EXPECT 192.0.2.1:1 0.0.0.0:0 ctl-data")
	announce(e, 0, "EXPECT 192.0.2.1:2 0.0.0.0:0 ctl-data", "BAD")
	e.Begin(FlowInfo{TCP, cliAddr, netip.MustParseAddrPort("192.0.2.1:1")}, 1)
	got := map[string]ProtocolStats{}
	for _, p := range e.Protocols(nil) {
		got[p.Protocol] = p
	}
	if got["ctl"].Identified != 2 || got["ctl"].Malformed != 1 || got["ctl-data"].Identified != 1 || got["dns"].Identified != 0 {
		t.Fatalf("per protocol %+v", got)
	}
	if st := e.Stats(); st.Identified != 3 || st.Malformed != 1 {
		t.Fatalf("totals %+v", st)
	}
	// Names beyond the counter table share "other".
	for i := range maxProtocols + 5 {
		e.malformed(fmt.Sprintf("p%d", i))
	}
	ps := e.Protocols(nil)
	if len(ps) != maxProtocols || ps[maxProtocols-1].Protocol != "other" || ps[maxProtocols-1].Malformed < 5 {
		t.Fatalf("overflowing protocols: %d, last %+v", len(ps), ps[len(ps)-1])
	}
}

// TestEngineAllocs proves the per-packet path allocates nothing once warm.
func TestEngineAllocs(t *testing.T) {
	e := NewEngine([]Parser{&toyParser{name: "toy", prefix: "HELLO", tr: TCP | UDP}, countParser{}}, EngineConfig{})
	identified := func() *State {
		s := e.Begin(tcpFlow(srvAddr), 0)
		e.Packet(s, FromClient, tcpH(cISN, decode.TCPSyn, ""), 0)
		e.Packet(s, FromClient, tcpH(cISN+1, decode.TCPAck, "COUNT"), 0)
		if s.Protocol() != "count" {
			t.Fatalf("not identified: %q", s.Protocol())
		}
		return s
	}
	payload := bytes.Repeat([]byte("x"), 1400)
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Payload: payload, PayloadLen: len(payload)}

	t.Run("in order", func(t *testing.T) {
		s := identified()
		seq := uint32(cISN + 6)
		if n := testing.AllocsPerRun(1000, func() {
			h.Seq = seq
			e.Packet(s, FromClient, h, 1)
			seq += uint32(len(payload))
		}); n != 0 {
			t.Fatalf("%v allocs per in-order packet", n)
		}
		if got := s.sess.(*countSession).n[0]; got != 5+1001*len(payload) {
			t.Fatalf("counted %d bytes", got)
		}
	})
	t.Run("reordered pairs", func(t *testing.T) {
		s := identified()
		seq := uint32(cISN + 6)
		h2 := *h
		if n := testing.AllocsPerRun(1000, func() {
			h2.Seq = seq + uint32(len(payload))
			e.Packet(s, FromClient, &h2, 1) // held
			h.Seq = seq
			e.Packet(s, FromClient, h, 1) // fills the hole
			seq += 2 * uint32(len(payload))
		}); n != 0 {
			t.Fatalf("%v allocs per reordered pair", n)
		}
	})
	t.Run("done flow", func(t *testing.T) {
		s := e.Begin(tcpFlow(srvAddr), 0)
		e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "nothing known"), 0)
		if !s.Done() {
			t.Fatal("not done")
		}
		if n := testing.AllocsPerRun(1000, func() { e.Packet(s, FromClient, h, 1) }); n != 0 {
			t.Fatalf("%v allocs per packet of a done flow", n)
		}
	})
	t.Run("unknown flow lifecycle", func(t *testing.T) {
		probe := []byte("?maybe")
		ph := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Payload: probe, PayloadLen: len(probe)}
		if n := testing.AllocsPerRun(1000, func() {
			s := e.Begin(tcpFlow(srvAddr), 0)
			ph.Seq = 1
			e.Packet(s, FromClient, ph, 1)
			ph.Seq = 20 // out of order, held
			e.Packet(s, FromServer, ph, 1)
			e.End(s, 2)
			e.Release(s)
		}); n != 0 {
			t.Fatalf("%v allocs per unknown flow", n)
		}
	})
	t.Run("udp identified", func(t *testing.T) {
		s := e.Begin(FlowInfo{Transport: UDP, Client: cliAddr, Server: srvAddr}, 0)
		e.Packet(s, FromClient, udpH("COUNT"), 0)
		uh := udpH("datagram")
		if n := testing.AllocsPerRun(1000, func() { e.Packet(s, FromServer, uh, 1) }); n != 0 {
			t.Fatalf("%v allocs per datagram", n)
		}
	})
}

func BenchmarkPacketInOrder(b *testing.B) {
	e := NewEngine([]Parser{countParser{}}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 0)
	e.Packet(s, FromClient, tcpH(0, decode.TCPAck, "COUNT"), 0)
	payload := make([]byte, 1400)
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Payload: payload, PayloadLen: len(payload)}
	seq := uint32(5)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		h.Seq = seq
		e.Packet(s, FromClient, h, 1)
		seq += uint32(len(payload))
	}
}

func BenchmarkPacketReordered(b *testing.B) {
	e := NewEngine([]Parser{countParser{}}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 0)
	e.Packet(s, FromClient, tcpH(0, decode.TCPAck, "COUNT"), 0)
	payload := make([]byte, 1400)
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Payload: payload, PayloadLen: len(payload)}
	seq := uint32(5)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(payload)))
	for b.Loop() {
		h.Seq = seq + 1400
		e.Packet(s, FromClient, h, 1)
		h.Seq = seq
		e.Packet(s, FromClient, h, 1)
		seq += 2800
	}
}

func BenchmarkPacketDone(b *testing.B) {
	e := NewEngine([]Parser{countParser{}}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 0)
	e.Packet(s, FromClient, tcpH(0, decode.TCPAck, "nope"), 0)
	h := tcpH(10, decode.TCPAck, "payload")
	b.ReportAllocs()
	for b.Loop() {
		e.Packet(s, FromClient, h, 1)
	}
}

func BenchmarkUnknownFlow(b *testing.B) {
	parsers := []Parser{countParser{}}
	for i := range 8 {
		parsers = append(parsers, &toyParser{name: fmt.Sprint("t", i), prefix: fmt.Sprint("T", i), tr: TCP})
	}
	e := NewEngine(parsers, EngineConfig{})
	h := tcpH(1, decode.TCPAck, "GET / HTTP/1.1\r\n")
	b.ReportAllocs()
	for b.Loop() {
		s := e.Begin(tcpFlow(srvAddr), 0)
		e.Packet(s, FromClient, h, 1)
		e.End(s, 2)
		e.Release(s)
	}
}

// TestDomainNotTheDNSQuestion: a DNS flow's destination is the resolver;
// the question it carries must not become its destination name.
func TestDomainNotTheDNSQuestion(t *testing.T) {
	for _, tc := range []struct{ proto, want string }{{"dns", ""}, {"http", "www.example.com"}} {
		p := &namedDomainParser{name: tc.proto, domain: "www.example.com"}
		e := NewEngine([]Parser{p}, EngineConfig{})
		s := e.Begin(FlowInfo{Transport: UDP, Client: netip.MustParseAddrPort("10.0.0.1:5000"), Server: netip.MustParseAddrPort("10.0.0.53:53")}, 1)
		e.Packet(s, FromClient, &decode.Headers{Proto: decode.ProtoUDP, Payload: []byte("q"), PayloadLen: 1, Packets: 1}, 1)
		if s.Protocol() != tc.proto {
			t.Fatalf("protocol %q, want %q", s.Protocol(), tc.proto)
		}
		if d := s.Domain(); d != tc.want {
			t.Errorf("%s flow: Domain() = %q, want %q", tc.proto, d, tc.want)
		}
	}
}

// namedDomainParser says yes to everything and reports a fixed domain.
type namedDomainParser struct{ name, domain string }

func (p *namedDomainParser) Name() string                         { return p.name }
func (p *namedDomainParser) Transports() Transport                { return TCP | UDP }
func (p *namedDomainParser) Probe(*FlowInfo, Dir, []byte) Verdict { return VerdictYes }
func (p *namedDomainParser) NewSession(*FlowInfo) Session         { return &namedDomainSession{p.domain} }

type namedDomainSession struct{ domain string }

func (s *namedDomainSession) Feed(*Context, Dir, []byte) bool { return true }
func (s *namedDomainSession) Gap(*Context, Dir, int) bool     { return true }
func (s *namedDomainSession) Fields(*ecs.Doc)                 {}
func (s *namedDomainSession) Summary(sum *Summary)            { sum.Domain = s.domain }

// resetSession is a toySession that can be reused.
type resetSession struct {
	toySession
	resets *int
}

func (s *resetSession) Reset(*FlowInfo) {
	*s.resets++
	s.toySession = toySession{}
}

type resetParser struct {
	toyParser
	news, resets int
}

func (p *resetParser) NewSession(*FlowInfo) Session {
	p.news++
	return &resetSession{resets: &p.resets}
}

// TestEngineSessionRecycling: released sessions of a Resetter parser serve
// later flows; sessions an expectation brought are never pooled (their
// parser is not the engine's to reset them for).
func TestEngineSessionRecycling(t *testing.T) {
	p := &resetParser{toyParser: toyParser{name: "toy", prefix: "HELLO", tr: TCP}}
	e := NewEngine([]Parser{p}, EngineConfig{})
	var prev Session
	for i := range 3 {
		s := e.Begin(tcpFlow(srvAddr), int64(i))
		run(e, s, append(handshake[:2:2], pkt{FromClient, cISN + 1, decode.TCPAck, fmt.Sprintf("HELLO %d", i)}))
		ts := s.sess.(*resetSession)
		if got := ts.transcript(); got != fmt.Sprintf("c:HELLO %d", i) {
			t.Fatalf("flow %d: session saw %q", i, got)
		}
		if i > 0 && s.sess != prev {
			t.Errorf("flow %d: released session not reused", i)
		}
		prev = s.sess
		e.End(s, int64(i))
		e.Release(s)
	}
	if p.news != 1 || p.resets != 2 {
		t.Errorf("NewSession %d times, Reset %d, want 1 and 2", p.news, p.resets)
	}

	// An expected flow's session (not from a parser) stays out of the pool.
	e2 := ctlEngine(EngineConfig{})
	announce(e2, 0, "EXPECT 192.0.2.10:2000 10.0.0.1:0 ftp-data")
	s := e2.Begin(FlowInfo{Transport: TCP, Client: cliAddr, Server: netip.MustParseAddrPort("192.0.2.10:2000")}, 1)
	if s.Protocol() != "ftp-data" || s.parser != -1 {
		t.Fatalf("expected flow: protocol %q parser %d", s.Protocol(), s.parser)
	}
	e2.End(s, 2)
	e2.Release(s)
	for i, free := range e2.sessFree {
		if len(free) != 0 {
			t.Errorf("parser %d pool holds %d sessions", i, len(free))
		}
	}
}

func TestIsAddrLiteral(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"192.0.2.1", true},
		{"[2001:db8::1]", true},
		{"2001:db8::1", true},
		{"ff02::1", true},
		{"fe80::1%eth0", true},
		{"api.example.com", false},
		{"1password.com", false},
		{"example.com:8080", false},
		{"localhost", false},
		{"", false},
	} {
		if got := isAddrLiteral(c.in); got != c.want {
			t.Errorf("isAddrLiteral(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
