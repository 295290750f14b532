package detect

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// lab runs flows through the real flow table and engine, with containers
// attributed by address as the sensor would: a flow belongs to the
// container owning either end, and is inbound when the container's
// address is the responder's. A host-network container owns the host's
// address.
type lab struct {
	t      *testing.T
	table  *flows.Table
	engine *Engine
	ctrs   map[netip.Addr]*Container
	alerts []*Alert
	sink   Sink // where alerts go (default: collected in alerts)
}

func (l *lab) Raise(a *Alert) { l.alerts = append(l.alerts, a) }

func (l *lab) Container(f *flows.Flow) *Container {
	s, _ := f.Src()
	d, _ := f.Dst()
	if c := l.ctrs[flows.AddrOf(s)]; c != nil {
		return c
	}
	return l.ctrs[flows.AddrOf(d)]
}

func (l *lab) Inbound(f *flows.Flow) bool {
	s, _ := f.Src()
	d, _ := f.Dst()
	return l.ctrs[flows.AddrOf(s)] == nil && l.ctrs[flows.AddrOf(d)] != nil
}

// names gives destination names by address (TLS SNI / HTTP Host).
type nameApp struct{ name string }

func (a nameApp) Done() bool            { return true }
func (a nameApp) Reversed() bool        { return false }
func (a nameApp) Protocol() string      { return "" }
func (a nameApp) Domain() string        { return a.name }
func (a nameApp) Fields(*ecs.Doc)       {}
func (a nameApp) Summary(s *l7.Summary) {}

type nameInspector map[netip.Addr]string

func (n nameInspector) Begin(f *flows.Flow, _ int64) flows.AppState {
	d, _ := f.Dst()
	if name, ok := n[flows.AddrOf(d)]; ok {
		return nameApp{name}
	}
	return nil
}
func (nameInspector) Packet(flows.AppState, int, *decode.Headers, int64) {}
func (nameInspector) Settle(s flows.AppState) flows.AppState             { return s }
func (nameInspector) End(flows.AppState, int64)                          {}
func (nameInspector) Release(flows.AppState)                             {}
func (nameInspector) Expire(int64)                                       {}

func newLab(t *testing.T, names nameInspector, dets ...Detector) *lab {
	l := &lab{t: t, ctrs: map[netip.Addr]*Container{}}
	l.sink = l
	l.engine = NewEngine(EngineConfig{Detectors: dets, Sink: sinkFunc(func(a *Alert) { l.sink.Raise(a) }), Attributor: l})
	var insp flows.Inspector
	if names != nil {
		insp = names
	}
	l.table = flows.NewTable(flows.Config{}, insp, l.engine)
	return l
}

type sinkFunc func(a *Alert)

func (f sinkFunc) Raise(a *Alert) { f(a) }

func (l *lab) add(addr string, c *Container) *Container {
	l.ctrs[netip.MustParseAddr(addr)] = c
	return c
}

func ip(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// tcp plays one connection at time at (seconds): handshake (answered or
// reset), payload bytes each way, FIN close.
func (l *lab) tcp(src string, sport uint16, dst string, dport uint16, at float64, accept bool, payload int) {
	t := int64(at * float64(time.Second))
	s, d := ip(src), ip(dst)
	pkt := func(fwd bool, flags uint8, n int) {
		h := &decode.Headers{Src: s, Dst: d, SrcPort: sport, DstPort: dport, Proto: decode.ProtoTCP, TCPFlags: flags, IPBytes: 40 + n, Packets: 1}
		if !fwd {
			h.Src, h.Dst, h.SrcPort, h.DstPort = d, s, dport, sport
		}
		l.table.Add(h, t, 0)
		t += int64(time.Millisecond)
	}
	pkt(true, decode.TCPSyn, 0)
	if !accept {
		pkt(false, decode.TCPRst|decode.TCPAck, 0)
		return
	}
	pkt(false, decode.TCPSyn|decode.TCPAck, 0)
	pkt(true, decode.TCPAck, 0)
	if payload > 0 {
		pkt(true, decode.TCPAck|decode.TCPPsh, payload)
		pkt(false, decode.TCPAck|decode.TCPPsh, payload)
	}
	pkt(true, decode.TCPFin|decode.TCPAck, 0)
	pkt(false, decode.TCPFin|decode.TCPAck, 0)
	pkt(true, decode.TCPAck, 0)
}

// udp sends one datagram and its answer.
func (l *lab) udp(src string, sport uint16, dst string, dport uint16, at float64) {
	t := int64(at * float64(time.Second))
	s, d := ip(src), ip(dst)
	l.table.Add(&decode.Headers{Src: s, Dst: d, SrcPort: sport, DstPort: dport, Proto: decode.ProtoUDP, IPBytes: 60, Packets: 1}, t, 0)
	l.table.Add(&decode.Headers{Src: d, Dst: s, SrcPort: dport, DstPort: sport, Proto: decode.ProtoUDP, IPBytes: 90, Packets: 1}, t+int64(time.Millisecond), 0)
}

func (l *lab) finish() {
	l.table.Flush(flows.EndEndOfInput)
	l.engine.Flush()
}

func (l *lab) count(rule string) int {
	n := 0
	for _, a := range l.alerts {
		if a.Rule.Name == rule {
			n++
		}
	}
	return n
}

// checkAlert checks the parts of the alert contract every detector fills.
func checkAlert(t *testing.T, a *Alert) {
	t.Helper()
	if a.Rule == nil || a.Rule.Technique.ID == "" || a.Rule.TacticID == "" || a.Message == "" || a.Severity < 1 || a.Severity > 4 || a.Time == 0 {
		t.Errorf("incomplete alert: %+v", a)
	}
}

var (
	plain     = &Container{ID: strings.Repeat("a", 64), Name: "web", Image: "registry.example/web:1.2"}
	hostAgent = &Container{ID: strings.Repeat("b", 64), Name: "agent", Image: "registry.example/agent:3", NetworkMode: "host", HostNetwork: true}
)

func TestHostNetworkEgress(t *testing.T) {
	const host = "10.0.0.10" // the host's own (internal) address
	tests := []struct {
		name     string
		minBytes uint64
		ctr      *Container
		run      func(l *lab)
		want     int
	}{
		{"host-network container calls out", 0, hostAgent, func(l *lab) {
			l.tcp(host, 40000, "203.0.113.9", 443, 1, true, 500)
		}, 1},
		{"one alert per destination, however many connections", 0, hostAgent, func(l *lab) {
			for i := range 5 {
				l.tcp(host, uint16(40000+i), "203.0.113.9", 443, float64(1+i), true, 500)
			}
			l.tcp(host, 41000, "198.51.100.7", 53, 9, false, 0) // another destination, even unanswered
		}, 2},
		{"benign twin: internal destinations only", 0, hostAgent, func(l *lab) {
			l.tcp(host, 40000, "10.0.5.10", 9100, 1, true, 500)
			l.udp(host, 40001, "10.0.0.53", 53, 2)
		}, 0},
		{"benign twin: a bridged container calling out is not this rule", 0, plain, func(l *lab) {
			l.tcp("172.17.0.2", 40000, "203.0.113.9", 443, 1, true, 500)
		}, 0},
		{"inbound to a host-network listener is not egress", 0, hostAgent, func(l *lab) {
			l.tcp("203.0.113.50", 50000, host, 8080, 1, true, 500)
		}, 0},
		{"min_bytes: a small flow stays quiet", 10_000, hostAgent, func(l *lab) {
			l.tcp(host, 40000, "203.0.113.9", 443, 1, true, 500)
		}, 0},
		{"min_bytes: a large flow alerts once", 10_000, hostAgent, func(l *lab) {
			l.tcp(host, 40000, "203.0.113.9", 443, 1, true, 60_000)
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil, NewHostNetworkEgress(HostNetworkEgressConfig{MinBytes: tc.minBytes}))
			addr := host
			if !tc.ctr.HostNetwork {
				addr = "172.17.0.2"
			}
			l.add(addr, tc.ctr)
			w := NewAlerts(ecs.NewWriter(&bytes.Buffer{}), time.Hour)
			l.sink = teeSink{w, l}
			tc.run(l)
			l.finish()
			if got := int(w.Written); got != tc.want {
				t.Fatalf("alerts written = %d, want %d (%d raised)", got, tc.want, len(l.alerts))
			}
			for _, a := range l.alerts {
				checkAlert(t, a)
				if a.Container != tc.ctr || a.Rule != HostNetworkEgressRule {
					t.Errorf("alert %+v", a)
				}
			}
		})
	}
}

// teeSink dedups through a real writer and keeps what was raised.
type teeSink struct {
	w *Alerts
	l *lab
}

func (s teeSink) Raise(a *Alert) {
	s.l.alerts = append(s.l.alerts, a)
	s.w.Raise(a)
}

func TestExposedPortInbound(t *testing.T) {
	published := &Container{ID: strings.Repeat("c", 64), Name: "malicious-container", Image: "my-malicious-image",
		Ports: []Port{{HostIP: netip.IPv4Unspecified(), HostPort: 1234, ContainerPort: 80, Proto: "tcp"}}}
	const ctrIP, hostIP, outside = "172.17.0.3", "10.0.0.10", "203.0.113.50"
	tests := []struct {
		name   string
		cfg    ExposedPortInboundConfig
		setup  func(l *lab)
		run    func(l *lab)
		want   int
		check  func(t *testing.T, a *Alert)
		noPort bool
	}{
		{"outside client reaches the published port (container's view, DNAT)", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) { l.tcp(outside, 50000, ctrIP, 80, 1, true, 300) }, 1, func(t *testing.T, a *Alert) {
			if a.Dest != "tcp/80" || a.Severity != 2 {
				t.Errorf("dest %q severity %d", a.Dest, a.Severity)
			}
		}, false},
		{"outside client reaches the published port (host's view, userland proxy)", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(hostIP, published) // the sensor attributes the proxied connection to the publisher
		}, func(l *lab) { l.tcp(outside, 50000, hostIP, 1234, 1, true, 300) }, 1, func(t *testing.T, a *Alert) {
			if a.Dest != "tcp/80" || !strings.Contains(a.Message, "1234->80/tcp") {
				t.Errorf("dest %q message %q", a.Dest, a.Message)
			}
		}, false},
		{"host-network listener accepts from outside", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(hostIP, hostAgent)
		}, func(l *lab) { l.tcp(outside, 50000, hostIP, 8080, 1, true, 300) }, 1, nil, false},
		{"reached on a port that is not published: more severe", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(ctrIP, plain)
		}, func(l *lab) { l.tcp(outside, 50000, ctrIP, 22, 1, true, 300) }, 1, func(t *testing.T, a *Alert) {
			if a.Severity != 3 {
				t.Errorf("severity %d, want 3", a.Severity)
			}
		}, false},
		{"benign twin: an internal client (load balancer, proxy gateway)", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) {
			l.tcp("10.0.9.9", 50000, ctrIP, 80, 1, true, 300)
			l.tcp("172.17.0.1", 50001, ctrIP, 80, 2, true, 300) // docker-proxy's leg
		}, 0, nil, false},
		{"benign twin: a scan of a closed port is not accepted", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) { l.tcp(outside, 50000, ctrIP, 80, 1, false, 0) }, 0, nil, false},
		{"benign twin: a public port in ignore_ports", ExposedPortInboundConfig{IgnorePorts: []uint16{80, 443}}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) {
			l.tcp(outside, 50000, ctrIP, 80, 1, true, 300)
			l.add(hostIP, published)
			l.tcp(outside, 50001, hostIP, 1234, 2, true, 300) // ignored by its container port too
		}, 0, nil, false},
		{"benign twin: the container calling out is not inbound", ExposedPortInboundConfig{}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) { l.tcp(ctrIP, 40000, outside, 80, 1, true, 300) }, 0, nil, false},
		{"min_sources 2: one source is not enough", ExposedPortInboundConfig{MinSources: 2}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) {
			l.tcp(outside, 50000, ctrIP, 80, 1, true, 300)
			l.tcp(outside, 50001, ctrIP, 80, 2, true, 300)
		}, 0, nil, false},
		{"min_sources 2: the second source alerts", ExposedPortInboundConfig{MinSources: 2}, func(l *lab) {
			l.add(ctrIP, published)
		}, func(l *lab) {
			l.tcp(outside, 50000, ctrIP, 80, 1, true, 300)
			l.tcp("198.51.100.4", 50001, ctrIP, 80, 2, true, 300)
		}, 1, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil, NewExposedPortInbound(tc.cfg, Networks{}))
			tc.setup(l)
			tc.run(l)
			l.finish()
			if got := l.count(ExposedPortInboundRule.Name); got != tc.want {
				t.Fatalf("alerts = %d, want %d: %v", got, tc.want, l.alerts)
			}
			for _, a := range l.alerts {
				checkAlert(t, a)
				if tc.check != nil {
					tc.check(t, a)
				}
			}
		})
	}
}

func TestContainerRisk(t *testing.T) {
	tests := []struct {
		name    string
		c       Container
		reasons []string
		risky   bool // at the default 0.5
	}{
		{"plain", Container{}, nil, false},
		{"privileged", Container{Privileged: true}, []string{RiskPrivileged}, true},
		{"host root", Container{Mounts: []Mount{{Source: "/", Destination: "/host", RW: true}}}, []string{RiskHostRootMount}, true},
		{"host root, unclean path", Container{Mounts: []Mount{{Source: "//", Destination: "/host"}}}, []string{RiskHostRootMount}, true},
		{"docker socket", Container{Mounts: []Mount{{Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"}}}, []string{RiskRuntimeSocket}, true},
		{"containerd socket", Container{Mounts: []Mount{{Source: "/run/containerd/containerd.sock", Destination: "/c.sock"}}}, []string{RiskRuntimeSocket}, true},
		{"/run holds the socket", Container{Mounts: []Mount{{Source: "/run", Destination: "/hostrun"}}}, []string{RiskRuntimeSocket}, true},
		{"rootless docker socket", Container{Mounts: []Mount{{Source: "/run/user/1000/docker.sock", Destination: "/d.sock"}}}, []string{RiskRuntimeSocket}, true},
		{"host pid", Container{PidMode: "host"}, []string{RiskHostPID}, true},
		{"ordinary volumes", Container{Mounts: []Mount{{Source: "/srv/data", Destination: "/data", RW: true}, {Source: "/etc/app", Destination: "/etc/app"}}}, nil, false},
		{"everything", Container{Privileged: true, PidMode: "host", Mounts: []Mount{{Source: "/", Destination: "/host"}, {Source: "/var/run/docker.sock", Destination: "/s"}}},
			[]string{RiskPrivileged, RiskHostRootMount, RiskRuntimeSocket, RiskHostPID}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reasons, score := ContainerRisk(&tc.c)
			if !slices.Equal(reasons, tc.reasons) {
				t.Errorf("reasons %v, want %v", reasons, tc.reasons)
			}
			if (score >= 0.5) != tc.risky || score < 0 || score > 1 {
				t.Errorf("score %v, risky want %v", score, tc.risky)
			}
		})
	}
	_, all := ContainerRisk(&tests[len(tests)-1].c)
	_, one := ContainerRisk(&Container{Privileged: true})
	if all <= one {
		t.Errorf("more ways out must score higher: %v <= %v", all, one)
	}
}

func TestRiskyContainer(t *testing.T) {
	privileged := &Container{ID: strings.Repeat("d", 64), Name: "priv", Image: "x", Privileged: true,
		Mounts: []Mount{{Source: "/", Destination: "/host", RW: true}}}
	hostPID := &Container{ID: strings.Repeat("e", 64), Name: "pid", Image: "y", PidMode: "host"}
	tests := []struct {
		name    string
		minRisk float64
		ctr     *Container
		run     func(l *lab)
		want    int
	}{
		{"privileged with / mounted calls out: one alert for many flows", 0.5, privileged, func(l *lab) {
			for i := range 4 {
				l.tcp("172.17.0.4", uint16(40000+i), "203.0.113.9", uint16(443+i), float64(1+i), true, 100)
			}
		}, 1},
		{"host pid at the default threshold", 0.5, hostPID, func(l *lab) { l.tcp("172.17.0.4", 40000, "203.0.113.9", 443, 1, true, 100) }, 1},
		{"host pid below a stricter threshold", 0.6, hostPID, func(l *lab) { l.tcp("172.17.0.4", 40000, "203.0.113.9", 443, 1, true, 100) }, 0},
		{"benign twin: a plain container calling out", 0.5, plain, func(l *lab) { l.tcp("172.17.0.4", 40000, "203.0.113.9", 443, 1, true, 100) }, 0},
		{"benign twin: privileged but talking only inside", 0.5, privileged, func(l *lab) {
			l.tcp("172.17.0.4", 40000, "10.0.5.5", 5432, 1, true, 100)
			l.tcp("203.0.113.70", 50000, "172.17.0.4", 80, 2, true, 100) // inbound is not egress
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, nil, NewRiskyContainer(RiskyContainerConfig{MinRisk: tc.minRisk}))
			l.add("172.17.0.4", tc.ctr)
			tc.run(l)
			l.finish()
			if got := l.count(RiskyContainerRule.Name); got != tc.want {
				t.Fatalf("alerts = %d, want %d", got, tc.want)
			}
			for _, a := range l.alerts {
				checkAlert(t, a)
				if a.Severity != 1 {
					t.Errorf("severity %d: the risky-container alert is informational", a.Severity)
				}
			}
		})
	}
}

// TestRaiseRiskyContainers: the writer marks and raises every alert of a
// risky container, whatever detector made it, except the rule's own.
func TestRaiseRiskyContainers(t *testing.T) {
	risky := &Container{ID: strings.Repeat("f", 64), Name: "agent", Image: "a", NetworkMode: "host", HostNetwork: true,
		Mounts: []Mount{{Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"}}}
	for _, tc := range []struct {
		name    string
		ctr     *Container
		policy  float64
		wantSev map[string]float64
		risk    bool
	}{
		{"risky container", risky, 0.5, map[string]float64{"host-network-egress": 3, "risky-container": 1}, true},
		{"policy off", risky, 0, map[string]float64{"host-network-egress": 2, "risky-container": 1}, false},
		{"plain container", hostAgent, 0.5, map[string]float64{"host-network-egress": 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			out := ecs.NewWriter(&buf)
			w := NewAlerts(out, time.Hour)
			w.RaiseRiskyContainers(tc.policy)
			l := newLab(t, nil, NewHostNetworkEgress(HostNetworkEgressConfig{}), NewRiskyContainer(RiskyContainerConfig{}))
			l.sink = w
			l.add("10.0.0.10", tc.ctr)
			l.tcp("10.0.0.10", 40000, "203.0.113.9", 443, 1, true, 100)
			l.finish()
			out.Flush()
			got := map[string]float64{}
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatal(err)
				}
				rule := m["rule"].(map[string]any)["name"].(string)
				got[rule] = m["event"].(map[string]any)["severity"].(float64)
				_, has := m["outflow"].(map[string]any)["container"].(map[string]any)["risk"]
				if has != tc.risk {
					t.Errorf("%s: outflow.container.risk present %v, want %v: %s", rule, has, tc.risk, line)
				}
			}
			if len(got) != len(tc.wantSev) {
				t.Fatalf("alerts %v, want %v", got, tc.wantSev)
			}
			for r, s := range tc.wantSev {
				if got[r] != s {
					t.Errorf("%s severity %v, want %v", r, got[r], s)
				}
			}
		})
	}
}

// TestEngineInbound: without an InboundAttributor the engine decides by
// the internal networks; a reversed data channel flips the sensor's word.
func TestEngineInbound(t *testing.T) {
	probe := &inboundProbe{}
	attr := containerOf{netip.MustParseAddr("172.17.0.2")}
	e := NewEngine(EngineConfig{Detectors: []Detector{probe}, Sink: &rig{}, Attributor: attrOnly{attr}})
	tab := flows.NewTable(flows.Config{}, nil, e)
	tab.Add(&decode.Headers{Src: ip("203.0.113.5"), Dst: ip("172.17.0.2"), SrcPort: 5000, DstPort: 80, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 40, Packets: 1}, 1e9, 0)
	tab.Add(&decode.Headers{Src: ip("172.17.0.2"), Dst: ip("203.0.113.5"), SrcPort: 5001, DstPort: 80, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 40, Packets: 1}, 2e9, 0)
	// containerOf matches sources only: the first flow has no container.
	if len(probe.got) != 2 || probe.got[0] || probe.got[1] {
		t.Fatalf("inbound %v, want [false false]", probe.got)
	}
	l := &lab{ctrs: map[netip.Addr]*Container{netip.MustParseAddr("172.17.0.2"): plain}}
	probe.got = nil
	e = NewEngine(EngineConfig{Detectors: []Detector{probe}, Sink: &rig{}, Attributor: attrOnly{l}})
	tab = flows.NewTable(flows.Config{}, nil, e)
	tab.Add(&decode.Headers{Src: ip("203.0.113.5"), Dst: ip("172.17.0.2"), SrcPort: 5000, DstPort: 80, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 40, Packets: 1}, 1e9, 0)
	tab.Add(&decode.Headers{Src: ip("172.17.0.2"), Dst: ip("203.0.113.5"), SrcPort: 5001, DstPort: 80, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 40, Packets: 1}, 2e9, 0)
	if !slices.Equal(probe.got, []bool{true, false}) {
		t.Fatalf("fallback inbound %v, want [true false]", probe.got)
	}
	probe.got = nil
	e = NewEngine(EngineConfig{Detectors: []Detector{probe}, Sink: &rig{}, Attributor: l})
	tab = flows.NewTable(flows.Config{}, reversedInspector{true}, e)
	tab.Add(&decode.Headers{Src: ip("203.0.113.5"), Dst: ip("172.17.0.2"), SrcPort: 20, DstPort: 40000, Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, IPBytes: 40, Packets: 1}, 1e9, 0)
	if !slices.Equal(probe.got, []bool{false}) {
		t.Fatalf("reversed data channel: inbound %v, want [false] (the container's own session)", probe.got)
	}
}

type inboundProbe struct{ got []bool }

func (p *inboundProbe) Name() string                           { return "inbound-probe" }
func (p *inboundProbe) Observe(_ flows.Event, f *Flow, _ Sink) { p.got = append(p.got, f.Inbound) }
func (p *inboundProbe) Tick(int64, Sink)                       {}
func (p *inboundProbe) Flush(int64, Sink)                      {}

// attrOnly hides an attributor's Inbound method.
type attrOnly struct{ a Attributor }

func (a attrOnly) Container(f *flows.Flow) *Container { return a.a.Container(f) }
