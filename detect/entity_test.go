package detect

import (
	"net/netip"
	"testing"

	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// entityProbe records, for every event, the entity the Engine computed and
// the one EntityOf computes from the same flow.
type entityProbe struct {
	attr      Attributor
	got, want []Entity
}

func (p *entityProbe) Name() string { return "entity-probe" }
func (p *entityProbe) Observe(_ flows.Event, f *Flow, _ Sink) {
	p.got = append(p.got, f.Entity)
	p.want = append(p.want, EntityOf(f.Flow, p.attr))
}
func (p *entityProbe) Tick(int64, Sink)  {}
func (p *entityProbe) Flush(int64, Sink) {}

// reversedApp is an application state whose client is the flow's responder.
type reversedApp struct{ rev bool }

func (a reversedApp) Done() bool            { return true }
func (a reversedApp) Reversed() bool        { return a.rev }
func (a reversedApp) Protocol() string      { return "ftp-data" }
func (a reversedApp) Domain() string        { return "" }
func (a reversedApp) Fields(*ecs.Doc)       {}
func (a reversedApp) Summary(s *l7.Summary) { s.Protocol = "ftp-data" }

type reversedInspector struct{ rev bool }

func (x reversedInspector) Begin(*flows.Flow, int64) flows.AppState            { return reversedApp{x.rev} }
func (x reversedInspector) Packet(flows.AppState, int, *decode.Headers, int64) {}
func (x reversedInspector) Settle(s flows.AppState) flows.AppState             { return s }
func (x reversedInspector) End(flows.AppState, int64)                          {}
func (x reversedInspector) Release(flows.AppState)                             {}
func (x reversedInspector) Expire(int64)                                       {}

// containerOf attributes flows from one address to a container.
type containerOf struct{ addr netip.Addr }

func (c containerOf) Container(f *flows.Flow) *Container {
	if a, _ := f.Src(); flows.AddrOf(a) == c.addr {
		return &Container{ID: "c0ffee"}
	}
	return nil
}

// TestEntityOfMatchesEngine checks that EntityOf, which a sharded pipeline
// routes events by, names the entity the Engine gives its detectors.
func TestEntityOfMatchesEngine(t *testing.T) {
	cli, srv := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("198.51.100.7")
	tests := []struct {
		name string
		attr Attributor
		insp flows.Inspector
		want Entity
	}{
		{"initiator address", nil, nil, Entity{IP: cli}},
		{"server-opened data channel: the responder", nil, reversedInspector{true}, Entity{IP: srv}},
		{"application not reversed", nil, reversedInspector{false}, Entity{IP: cli}},
		{"container", containerOf{cli}, nil, Entity{ContainerID: "c0ffee"}},
		{"address the attributor does not know", containerOf{srv}, nil, Entity{IP: cli}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &entityProbe{attr: tc.attr}
			e := NewEngine(EngineConfig{Detectors: []Detector{p}, Sink: &rig{}, Attributor: tc.attr})
			tab := flows.NewTable(flows.Config{}, tc.insp, e)
			s, d := cli.As16(), srv.As16()
			tab.Add(&decode.Headers{Src: s, Dst: d, SrcPort: 40000, DstPort: 443, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 60, Packets: 1}, 1e9, 0)
			tab.Flush(flows.EndEndOfInput)
			if len(p.got) == 0 {
				t.Fatal("no events")
			}
			for i := range p.got {
				if p.got[i] != p.want[i] || p.got[i] != tc.want {
					t.Fatalf("event %d: engine %v, EntityOf %v, want %v", i, p.got[i], p.want[i], tc.want)
				}
			}
		})
	}
}
