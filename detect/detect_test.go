package detect

import (
	"net/netip"
	"testing"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
)

// rig runs the real flow table into a detector engine and collects alerts.
type rig struct {
	table  *flows.Table
	engine *Engine
	alerts []*Alert
}

func (r *rig) Raise(a *Alert) { r.alerts = append(r.alerts, a) }

func newRig(dets ...Detector) *rig {
	r := &rig{}
	r.engine = NewEngine(EngineConfig{Detectors: dets, Sink: r})
	r.table = flows.NewTable(flows.Config{}, nil, r.engine)
	return r
}

func (r *rig) rules() map[string]int {
	m := map[string]int{}
	for _, a := range r.alerts {
		m[a.Rule.Name]++
	}
	return m
}

// tcpUpload sends total bytes from src to dst:port over dur in 1400-byte
// segments (with a handshake and a FIN close).
func (r *rig) tcpUpload(src, dst string, sport, dport uint16, start time.Duration, dur time.Duration, total int) {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	h := func(from bool, flags uint8, n int) *decode.Headers {
		x := &decode.Headers{Src: s, Dst: d, SrcPort: sport, DstPort: dport, Proto: decode.ProtoTCP, TCPFlags: flags, IPBytes: 40 + n, Packets: 1}
		if !from {
			x.Src, x.Dst, x.SrcPort, x.DstPort = d, s, dport, sport
		}
		return x
	}
	t := int64(start)
	r.table.Add(h(true, decode.TCPSyn, 0), t, 0)
	r.table.Add(h(false, decode.TCPSyn|decode.TCPAck, 0), t, 0)
	segs := max(1, total/1400)
	step := int64(dur) / int64(segs)
	for i := 0; i < segs; i++ {
		t += step
		r.table.Add(h(true, decode.TCPAck, 1400), t, 0)
		if i%10 == 0 {
			r.table.Add(h(false, decode.TCPAck, 0), t, 0)
		}
	}
	r.table.Add(h(true, decode.TCPFin|decode.TCPAck, 0), t, 0)
	r.table.Add(h(false, decode.TCPFin|decode.TCPAck, 0), t, 0)
}

func TestEgressVolume(t *testing.T) {
	const mb = 1_000_000
	tests := []struct {
		name string
		run  func(r *rig)
		want int // egress-volume alerts
	}{
		{"500 MB to an outside address in 5 minutes", func(r *rig) {
			r.tcpUpload("172.17.0.2", "203.0.113.9", 40000, 443, 0, 5*time.Minute, 500*mb)
		}, 1},
		{"same upload to an internal backup server", func(r *rig) {
			r.tcpUpload("172.17.0.2", "10.20.0.5", 40000, 873, 0, 5*time.Minute, 500*mb)
		}, 0},
		{"below threshold", func(r *rig) {
			r.tcpUpload("172.17.0.2", "203.0.113.9", 40000, 443, 0, 5*time.Minute, 50*mb)
		}, 0},
		{"spread thin over hours stays under every window", func(r *rig) {
			for i := 0; i < 12; i++ {
				r.tcpUpload("172.17.0.2", "203.0.113.9", uint16(40000+i), 443, time.Duration(i)*10*time.Minute, time.Minute, 60*mb)
			}
		}, 0},
		{"baseline: 4 MB per window for an hour then 60 MB", func(r *rig) {
			for i := 0; i < 8; i++ {
				r.tcpUpload("172.17.0.3", "198.51.100.7", uint16(41000+i), 443, time.Duration(i)*10*time.Minute, time.Minute, 4*mb)
			}
			r.tcpUpload("172.17.0.3", "198.51.100.7", 42000, 443, 80*time.Minute+time.Second, 2*time.Minute, 60*mb)
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(NewEgressVolume(EgressVolumeConfig{}))
			tc.run(r)
			r.table.Flush(flows.EndEndOfInput)
			r.engine.Flush()
			if got := r.rules()["egress-volume"]; got != tc.want {
				t.Fatalf("egress-volume alerts = %d, want %d (%v)", got, tc.want, r.alerts)
			}
			for _, a := range r.alerts {
				if tc.name[:3] == "500" && time.Duration(a.Time) > 2*time.Minute {
					t.Errorf("alert at %v: want it as soon as 100 MB had gone (about 1 min in), not at the end", time.Duration(a.Time))
				}
				if a.Entity.IP.String() == "" || a.Rule.Technique.ID == "" || a.Evidence == nil {
					t.Fatalf("incomplete alert %+v", a)
				}
			}
		})
	}
}

type noContainers struct{}

func (noContainers) Container(*flows.Flow) *Container { return nil }

// TestEngineWants checks which events reach the detectors: an event no
// detector wants is skipped (and a sharded pipeline never copies it), and
// container detectors want nothing until flows can be attributed.
func TestEngineWants(t *testing.T) {
	beacon := NewBeacon(BeaconConfig{}, Networks{})
	volume := NewEgressVolume(EgressVolumeConfig{})
	hostNet := NewHostNetworkEgress(HostNetworkEgressConfig{})
	all := [4]bool{true, true, true, true}
	cases := []struct {
		name string
		dets []Detector
		attr Attributor
		want [4]bool // Start, Burst, Update, End
	}{
		{"beacon", []Detector{beacon}, nil, [4]bool{false, true, false, true}},
		{"beacon and volume", []Detector{beacon, volume}, nil, [4]bool{false, true, true, true}},
		{"posture without containers", []Detector{beacon, hostNet}, nil, [4]bool{false, true, false, true}},
		{"posture with containers", []Detector{beacon, hostNet}, noContainers{}, all},
		{"a detector without a filter", []Detector{beacon, unfiltered{}}, nil, all},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewEngine(EngineConfig{Detectors: c.dets, Attributor: c.attr})
			var got [4]bool
			for ev := range got {
				got[ev] = e.Wants(flows.Event(ev))
			}
			if got != c.want {
				t.Errorf("wants %v, want %v", got, c.want)
			}
		})
	}
}

// unfiltered is a detector without an EventFilter: it gets every event.
type unfiltered struct{}

func (unfiltered) Name() string                     { return "unfiltered" }
func (unfiltered) Observe(flows.Event, *Flow, Sink) {}
func (unfiltered) Tick(int64, Sink)                 {}
func (unfiltered) Flush(int64, Sink)                {}
