package detect

import (
	"fmt"
	"net/netip"
	"strings"

	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// The posture detectors look at how a container was started (runtime
// metadata from the sensor) together with what it does on the network.
// Offline analysis has no containers: they stay silent there.

// HostNetworkEgressRule: a container sharing the host's network namespace
// talks to the outside. T1599 (Network Boundary Bridging, Defense Evasion):
// with --network=host the container has no network boundary of its own, so
// the controls that segment containers (the bridge's rules, network
// policies, per-container egress filters) do not apply and its traffic
// leaves with the host's identity, as the technique's bypassed segmentation
// device would let it.
var HostNetworkEgressRule = &Rule{
	Name:        "host-network-egress",
	Description: "A container running with the host's network namespace connected to a destination outside the internal networks.",
	Technique:   Technique{"T1599", "Network Boundary Bridging"},
	Tactic:      "Defense Evasion",
	TacticID:    "TA0005",
}

// ExposedPortInboundRule: something outside connects to a container.
// T1133 (External Remote Services, Initial Access): a published port or a
// host-network listener is a remote service reachable from outside, the
// way in that the technique names for container hosts (exposed APIs and
// services); a container used as a C2 endpoint is reached the same way.
var ExposedPortInboundRule = &Rule{
	Name:        "exposed-port-inbound",
	Description: "A container accepted a connection from outside the internal networks on a published port or a host-network listener.",
	Technique:   Technique{"T1133", "External Remote Services"},
	Tactic:      "Initial Access",
	TacticID:    "TA0001",
}

// RiskyContainerRule: a container that can reach the host (privileged, host
// root or runtime socket mounted, host PID namespace) makes egress
// connections. T1611 (Escape to Host, Privilege Escalation): these are the
// settings the technique abuses to break out of the container.
var RiskyContainerRule = &Rule{
	Name:        "risky-container",
	Description: "A container started with a way out to its host (privileged, host root or runtime socket mounted, host PID namespace) made its first egress connection.",
	Technique:   Technique{"T1611", "Escape to Host"},
	Tactic:      "Privilege Escalation",
	TacticID:    "TA0004",
}

// HostNetworkEgressConfig tunes the host-network-egress detector.
type HostNetworkEgressConfig struct {
	// MinBytes: a flow alerts once it has moved this many bytes (both
	// ways); 0 alerts at its first packet.
	MinBytes uint64
}

// HostNetworkEgress alerts on egress flows of host-network containers,
// one alert per container and destination (the writer dedups).
type HostNetworkEgress struct {
	cfg HostNetworkEgressConfig
}

// NewHostNetworkEgress builds the detector.
func NewHostNetworkEgress(cfg HostNetworkEgressConfig) *HostNetworkEgress {
	return &HostNetworkEgress{cfg: cfg}
}

func (d *HostNetworkEgress) Name() string { return HostNetworkEgressRule.Name }

// Wants implements EventFilter.
func (d *HostNetworkEgress) Wants(_ flows.Event, containers bool) bool { return containers }
func (d *HostNetworkEgress) Tick(int64, Sink)                          {}
func (d *HostNetworkEgress) Flush(int64, Sink)                         {}

// Observe raises once per flow: at its first packet, or at the event where
// it crosses MinBytes.
func (d *HostNetworkEgress) Observe(ev flows.Event, f *Flow, sink Sink) {
	c := f.Container
	if c == nil || !c.HostNetwork || !f.ContainerEgress() {
		return
	}
	total := f.TotalBytes()
	if d.cfg.MinBytes == 0 {
		if ev != flows.EventStart {
			return
		}
	} else if total < d.cfg.MinBytes || total-(f.Delta[0]+f.Delta[1]) >= d.cfg.MinBytes {
		return
	}
	a := &Alert{Rule: HostNetworkEgressRule, Severity: 2, Risk: 40}
	a.FromFlow(f)
	a.Message = fmt.Sprintf("host-network %s connected to %s outside the internal networks",
		containerLabel(c), endpoint(f.Dst, f.DstPort, f.Proto, f.Domain))
	a.Evidence = func(doc *ecs.Doc) {
		doc.Uint("outflow.host_network_egress.bytes", total)
	}
	sink.Raise(a)
}

// ExposedPortInboundConfig tunes the exposed-port-inbound detector.
type ExposedPortInboundConfig struct {
	// IgnorePorts are ports meant to be public: a connection to one (as
	// published on the host or inside the container) does not alert.
	IgnorePorts []uint16
	// MinSources: distinct outside sources that must have connected to a
	// container port before it alerts (default 1).
	MinSources int
	// MaxTracked bounds the (container, port) source sets kept while
	// counting toward MinSources (default 65536).
	MaxTracked int
}

type exposedKey struct {
	id    string
	port  uint16
	proto uint8
}

// ExposedPortInbound alerts when a container accepts a connection from
// outside the internal networks.
type ExposedPortInbound struct {
	cfg      ExposedPortInboundConfig
	internal Networks
	sources  map[exposedKey][]netip.Addr // up to MinSources-1 sources each
	Dropped  uint64                      // source sets dropped at MaxTracked
}

// NewExposedPortInbound builds the detector; internal tells outside sources.
func NewExposedPortInbound(cfg ExposedPortInboundConfig, internal Networks) *ExposedPortInbound {
	if cfg.MinSources <= 0 {
		cfg.MinSources = 1
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 65536
	}
	if internal.Len() == 0 {
		internal = MustNetworks(DefaultInternal)
	}
	return &ExposedPortInbound{cfg: cfg, internal: internal, sources: map[exposedKey][]netip.Addr{}}
}

func (d *ExposedPortInbound) Name() string { return ExposedPortInboundRule.Name }

// Wants implements EventFilter: a flow's first packet is only an attempt.
func (d *ExposedPortInbound) Wants(ev flows.Event, containers bool) bool {
	return containers && ev != flows.EventStart
}
func (d *ExposedPortInbound) Tick(int64, Sink)  {}
func (d *ExposedPortInbound) Flush(int64, Sink) {}

// accepted reports whether the responder took the connection: a SYN+ACK,
// or (picked up mid-stream, or not TCP) any answer that is not a reset. A
// scan of closed ports does not count.
func accepted(f *flows.Flow) bool {
	if f.Packets[1] == 0 {
		return false
	}
	if f.Proto != decode.ProtoTCP {
		return true
	}
	fl := f.Flags[1]
	if fl&decode.TCPSyn != 0 && fl&decode.TCPAck != 0 {
		return true
	}
	return f.Flags[0]&decode.TCPSyn == 0 && fl&decode.TCPRst == 0
}

// Observe looks at inbound flows once they are answered (not at their
// first packet, which is only the attempt).
func (d *ExposedPortInbound) Observe(ev flows.Event, f *Flow, sink Sink) {
	c := f.Container
	if c == nil || !f.Inbound || ev == flows.EventStart || d.internal.Contains(f.Src) || !accepted(f.Flow) {
		return
	}
	proto := flows.TransportName(f.Proto)
	hostPort, ctrPort, published := f.DstPort, f.DstPort, false
	for _, p := range c.Ports {
		if p.Proto != proto {
			continue
		}
		// The host's view of a published port (the userland proxy's
		// socket) has the host port; the container's (after DNAT) the
		// container port.
		if p.HostPort == f.DstPort || p.ContainerPort == f.DstPort {
			hostPort, ctrPort, published = p.HostPort, p.ContainerPort, true
			break
		}
	}
	for _, p := range d.cfg.IgnorePorts {
		if p == hostPort || p == ctrPort {
			return
		}
	}
	nsrc := 1
	if d.cfg.MinSources > 1 {
		k := exposedKey{c.ID, ctrPort, f.Proto}
		srcs := d.sources[k]
		for _, s := range srcs {
			if s == f.Src {
				return // counted already, and not enough yet
			}
		}
		if len(srcs)+1 < d.cfg.MinSources {
			if srcs == nil && len(d.sources) >= d.cfg.MaxTracked {
				d.Dropped += uint64(len(d.sources))
				clear(d.sources)
			}
			d.sources[k] = append(srcs, f.Src)
			return
		}
		nsrc = len(srcs) + 1
		delete(d.sources, k)
	}
	sev := 2
	if !published && !c.HostNetwork {
		// Reached without being published: the network routes the
		// outside straight to the container.
		sev = 3
	}
	a := &Alert{Rule: ExposedPortInboundRule, Severity: sev, Risk: float64(20 * (sev + 1))}
	a.FromFlow(f)
	a.Dest = fmt.Sprintf("%s/%d", proto, ctrPort) // one alert per container port, whichever view saw it
	how := "published port"
	switch {
	case c.HostNetwork:
		how = "host-network listener"
	case !published:
		how = "unpublished port"
	}
	port := fmt.Sprintf("%d/%s", ctrPort, proto)
	if published && hostPort != ctrPort {
		port = fmt.Sprintf("%d->%d/%s", hostPort, ctrPort, proto)
	}
	a.Message = fmt.Sprintf("%s accepted a connection from %s, outside the internal networks, on its %s %s",
		containerLabel(c), f.Src, how, port)
	src := f.Src
	hostNet := c.HostNetwork
	a.Evidence = func(doc *ecs.Doc) {
		doc.Uint("outflow.exposed_port_inbound.host_port", uint64(hostPort))
		doc.Uint("outflow.exposed_port_inbound.container_port", uint64(ctrPort))
		doc.Bool("outflow.exposed_port_inbound.published", published)
		doc.Bool("outflow.exposed_port_inbound.host_network", hostNet)
		doc.Uint("outflow.exposed_port_inbound.sources", uint64(nsrc))
		doc.Addr("outflow.exposed_port_inbound.source", src)
	}
	sink.Raise(a)
}

// RiskyContainerConfig tunes the risky-container detector.
type RiskyContainerConfig struct {
	// MinRisk is the ContainerRisk score (0..1) from which a container is
	// risky (default 0.5).
	MinRisk float64
	// MaxTracked bounds the containers remembered as checked (default
	// 65536); past it the memory starts over and the writer's dedup keeps
	// the alerts single.
	MaxTracked int
}

// RiskyContainer raises one informational alert per risky container, at
// its first egress connection. The raised severity of its other alerts is
// the Alerts writer's (RaiseRiskyContainers), so that every detector gets
// it without knowing.
type RiskyContainer struct {
	cfg     RiskyContainerConfig
	checked map[string]struct{} // container IDs already judged
}

// NewRiskyContainer builds the detector.
func NewRiskyContainer(cfg RiskyContainerConfig) *RiskyContainer {
	if cfg.MinRisk <= 0 {
		cfg.MinRisk = 0.5
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 65536
	}
	return &RiskyContainer{cfg: cfg, checked: map[string]struct{}{}}
}

func (d *RiskyContainer) Name() string { return RiskyContainerRule.Name }

// Wants implements EventFilter.
func (d *RiskyContainer) Wants(_ flows.Event, containers bool) bool { return containers }
func (d *RiskyContainer) Tick(int64, Sink)                          {}
func (d *RiskyContainer) Flush(int64, Sink)                         {}

// Observe judges each container once, at its first egress flow.
func (d *RiskyContainer) Observe(_ flows.Event, f *Flow, sink Sink) {
	c := f.Container
	if c == nil || !f.ContainerEgress() {
		return
	}
	if _, ok := d.checked[c.ID]; ok {
		return
	}
	if len(d.checked) >= d.cfg.MaxTracked {
		clear(d.checked)
	}
	d.checked[c.ID] = struct{}{}
	reasons, score := ContainerRisk(c)
	if len(reasons) == 0 || score < d.cfg.MinRisk {
		return
	}
	a := &Alert{Rule: RiskyContainerRule, Severity: 1, Risk: float64(int(score*100 + 0.5))}
	a.FromFlow(f)
	a.Dest = "first-egress" // one per container, whatever the destination
	a.Message = fmt.Sprintf("%s, started with %s, made its first egress connection, to %s",
		containerLabel(c), strings.Join(reasons, ", "), endpoint(f.Dst, f.DstPort, f.Proto, f.Domain))
	var mounts []string
	for _, m := range c.Mounts {
		mode := "ro"
		if m.RW {
			mode = "rw"
		}
		mounts = append(mounts, m.Source+":"+m.Destination+":"+mode)
	}
	privileged, pidMode := c.Privileged, c.PidMode
	a.Evidence = func(doc *ecs.Doc) {
		doc.Strs("outflow.risky_container.reasons", reasons)
		doc.Float("outflow.risky_container.score", score, 2)
		doc.Bool("outflow.risky_container.privileged", privileged)
		doc.Str("outflow.risky_container.pid_mode", pidMode)
		doc.Strs("outflow.risky_container.mounts", mounts)
	}
	sink.Raise(a)
}

// containerLabel names a container in messages: its name, else its short
// ID, and its image.
func containerLabel(c *Container) string {
	name := c.Name
	if name == "" {
		name = c.ID
		if len(name) > 12 {
			name = name[:12]
		}
	}
	if c.Image != "" {
		return fmt.Sprintf("container %s (image %s)", name, c.Image)
	}
	return "container " + name
}

// endpoint shows a destination: name (address) and port/protocol.
func endpoint(a netip.Addr, port uint16, proto uint8, name string) string {
	s := a.String()
	if name != "" {
		s = name + " (" + s + ")"
	}
	if port != 0 {
		s += fmt.Sprintf(" port %d/%s", port, flows.TransportName(proto))
	}
	return s
}
