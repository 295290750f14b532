package l7

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// view is what observers read of an application state.
type view struct {
	done, rev      bool
	proto, domain  string
	summary, field string
}

type appState interface {
	Done() bool
	Reversed() bool
	Protocol() string
	Domain() string
	Fields(*ecs.Doc)
	Summary(*Summary)
}

func viewOf(a appState) view {
	var d ecs.Doc
	a.Fields(&d)
	var sum Summary
	a.Summary(&sum)
	return view{a.Done(), a.Reversed(), a.Protocol(), a.Domain(), fmt.Sprintf("%+v", sum), string(d.AppendJSON(nil))}
}

func TestEngineSettle(t *testing.T) {
	named := netip.MustParseAddrPort("192.0.2.77:7000")
	tests := []struct {
		name    string
		srv     netip.AddrPort
		payload []string
		settles bool // Settle gives a Settled
		shared  bool // ... the one shared by every empty state
		domain  string
	}{
		{"unidentified", srvAddr, []string{"zzz"}, true, true, ""},
		{"unidentified, server named by DNS", named, []string{"zzz"}, true, false, "files.example"},
		{"gave up probing", srvAddr, []string{"?a", "?b"}, true, true, ""},
		{"identified: its session has the record", named, []string{"HELLO"}, false, false, ""},
		{"identified, session over: settles with its session", named, []string{"HELLO", "STOP"}, true, false, "files.example"},
		{"still probing", srvAddr, []string{"?a"}, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stop := func(_ *Context, _ Dir, b []byte) bool { return string(b) != "STOP" }
			e := NewEngine([]Parser{&toyParser{name: "toy", prefix: "HELLO", tr: TCP, hook: stop}, &toyParser{name: "dns", prefix: "NAME", tr: TCP, hook: expectHook}},
				EngineConfig{ProbePackets: 2})
			announce(e, 0, "NAME 192.0.2.77 files.example 300")
			s := e.Begin(tcpFlow(tc.srv), 1)
			seq := uint32(1)
			for _, p := range tc.payload {
				e.Packet(s, FromClient, tcpH(seq, decode.TCPAck, p), 1)
				seq += uint32(len(p))
			}
			if tc.name == "identified, session over: settles with its session" && !s.Done() {
				t.Fatal("the session did not end: the case tests nothing")
			}
			before := viewOf(s)
			x := e.Settle(s)
			if (x != nil) != tc.settles {
				t.Fatalf("Settle gave %v, want a Settled: %v", x, tc.settles)
			}
			if x == nil {
				if viewOf(s) != before {
					t.Fatal("a state that did not settle changed")
				}
				return
			}
			if (x == settledNone) != tc.shared {
				t.Errorf("shared value: %v, want %v", x == settledNone, tc.shared)
			}
			if got := viewOf(x); got != before {
				t.Errorf("settled reports %+v, the state reported %+v", got, before)
			}
			if x.Domain() != tc.domain {
				t.Errorf("domain %q, want %q", x.Domain(), tc.domain)
			}
			if s2 := e.Begin(tcpFlow(srvAddr), 2); s2 != s {
				t.Error("the settled flow's State was not released for reuse")
			}
			// Released Settled are reused, and reset; the shared one never
			// goes on the free list.
			e.ReleaseSettled(x)
			e.ReleaseSettled(settledNone)
			s3 := e.Begin(tcpFlow(named), 3)
			e.Packet(s3, FromClient, tcpH(1, decode.TCPAck, "zzz"), 3)
			y := e.Settle(s3)
			if y == settledNone || y.Domain() != "files.example" || y.Protocol() != "" || y.Reversed() {
				t.Fatalf("next named flow settled as %+v", y)
			}
			if x != settledNone && y != x {
				t.Error("released Settled not reused")
			}
			if *settledNone != (Settled{parser: -1}) {
				t.Fatal("the shared Settled was written to")
			}
		})
	}
}

// TestSettledReportsLikeState checks every AppState method of Settled
// against a State with each combination of what a Settled keeps.
func TestSettledReportsLikeState(t *testing.T) {
	e := NewEngine(nil, EngineConfig{})
	for _, proto := range []string{"", "ftp-data"} {
		for _, name := range []string{"", "a.example"} {
			for _, rev := range []bool{false, true} {
				s := e.alloc()
				s.done, s.proto, s.name, s.rev = true, proto, name, rev
				before := viewOf(s)
				x := e.Settle(s)
				if x == nil {
					t.Fatalf("%q %q %v: did not settle", proto, name, rev)
				}
				if got := viewOf(x); !reflect.DeepEqual(got, before) {
					t.Errorf("%q %q %v: settled %+v, state %+v", proto, name, rev, got, before)
				}
			}
		}
	}
}

// stopSession is a toy session its parser may reuse, which ends its flow
// at "STOP".
type stopSession struct{ toySession }

func stopAt(_ *Context, _ Dir, b []byte) bool { return string(b) != "STOP" }

func (s *stopSession) Reset(*FlowInfo) { s.toySession = toySession{hook: stopAt} }

type stopParser struct{ toyParser }

func (p *stopParser) NewSession(*FlowInfo) Session { return &stopSession{toySession{hook: stopAt}} }

// TestSettledSessionReuse: a settled flow's session stays its own until
// the flow is released, and is reused after.
func TestSettledSessionReuse(t *testing.T) {
	e := NewEngine([]Parser{&stopParser{toyParser{name: "toy", prefix: "HELLO", tr: TCP}}}, EngineConfig{})
	s := e.Begin(tcpFlow(srvAddr), 1)
	e.Packet(s, FromClient, tcpH(1, decode.TCPAck, "HELLO"), 1)
	e.Packet(s, FromClient, tcpH(6, decode.TCPAck, "STOP"), 1)
	sess := s.sess
	if sess == nil || !s.Done() {
		t.Fatal("the toy session did not identify and end the flow")
	}
	x := e.Settle(s)
	if x == nil || x.sess != sess || len(e.sessFree[0]) != 0 {
		t.Fatalf("settled %+v: the session must move to it, not to the free list (%d there)", x, len(e.sessFree[0]))
	}
	e.ReleaseSettled(x)
	s2 := e.Begin(tcpFlow(srvAddr), 2)
	e.Packet(s2, FromClient, tcpH(1, decode.TCPAck, "HELLO"), 2)
	if s2.sess != sess {
		t.Fatal("the released flow's session was not reused")
	}
	if got := s2.sess.(*stopSession).transcript(); got != "c:HELLO" {
		t.Fatalf("reused session not reset: %q", got)
	}
}
