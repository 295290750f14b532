// Package detect turns flow events into alerts. Each detector sits behind
// the Detector interface and is fed by the Engine, which the flow table
// drives as a flows.Observer; alerts go through the Alerts writer, which
// deduplicates them and writes the ECS alert contract.
package detect

import (
	"net/netip"

	"outflow/flows"
	"outflow/flows/l7"
)

// Detector turns flow events into alerts.
//
// Observe is called for every flow event in packet-time order (wall time
// live) with a view that is valid only during the call. Tick is called when
// time advances (at least once a second of packet or wall time) so windowed
// detectors can close windows without traffic. Flush is called once at the
// end of the input or on shutdown, so pending evidence is reported.
// Detectors raise alerts through sink as soon as the evidence exists.
type Detector interface {
	Name() string
	Observe(ev flows.Event, f *Flow, sink Sink)
	Tick(now int64, sink Sink)
	Flush(now int64, sink Sink)
}

// EventFilter is optionally implemented by a Detector that acts on only
// some kinds of flow event. The engine skips an event that no detector
// wants, and a sharded pipeline does not even copy it to its detector
// shard: most flows' start events interest no detector.
type EventFilter interface {
	// Wants reports whether the detector may act on events of kind ev.
	// containers tells whether flows can be attributed to containers at
	// all: detectors about containers want nothing without them.
	Wants(ev flows.Event, containers bool) bool
}

// Sink receives alerts. It deduplicates; detectors need not.
type Sink interface {
	Raise(a *Alert)
}

// Entity is who did it: the container when the sensor knows it, else the
// source address.
type Entity struct {
	ContainerID string
	IP          netip.Addr
}

// String is the entity as shown in messages. The zero Entity is the host
// as a whole (alerts about the host's containers collectively).
func (e Entity) String() string {
	if e.ContainerID != "" {
		if len(e.ContainerID) > 12 {
			return "container " + e.ContainerID[:12]
		}
		return "container " + e.ContainerID
	}
	if !e.IP.IsValid() {
		return "host"
	}
	return e.IP.String()
}

// Container is the runtime metadata of a flow's container, when known.
// Values are shared and read-only; an update is a new *Container.
type Container struct {
	ID, Name, Image, Runtime string
	NetworkMode              string // bridge, host, none, container:<id>
	Labels                   map[string]string

	// Posture: how the container was started (from the runtime API).
	HostNetwork bool   // shares the host's network namespace
	Privileged  bool   // --privileged
	PidMode     string // "host" when it shares the host's PID namespace
	Mounts      []Mount
	Ports       []Port // published on the host
	// Started and Exited are Unix ns; 0 when unknown or still running.
	Started, Exited int64
	// Pod is the Kubernetes pod, when the container is in one.
	PodNamespace, PodName string
}

// Mount is a host path mounted into a container.
type Mount struct {
	Source, Destination string
	RW                  bool
}

// Port is a container port published on the host (-p 1234:80).
type Port struct {
	HostIP        netip.Addr // unspecified or invalid: every host address
	HostPort      uint16
	ContainerPort uint16
	Proto         string // "tcp", "udp", "sctp"
}

// Attributor tells which container a flow belongs to. The sensor provides
// one; offline analysis without an inventory has none (nil is fine).
type Attributor interface {
	Container(f *flows.Flow) *Container
}

// InboundAttributor is an Attributor that also knows which side of a flow
// its container is on. Inbound reports whether the container is the flow's
// responder: something connected to it (a published port, a listener of a
// host-network container), rather than it connecting out. Without one, the
// engine takes a flow as inbound when its initiator is outside the internal
// networks and its responder inside.
type InboundAttributor interface {
	Attributor
	Inbound(f *flows.Flow) bool
}

// ContainerWatcher is a Detector that also follows the containers' life
// cycle (the sensor reports changes, an exit among them, through
// Engine.ContainerEvent; offline analysis has none).
type ContainerWatcher interface {
	Detector
	ContainerEvent(c *Container, now int64, sink Sink)
}

// Flow is a detector's view of a flow at one event.
type Flow struct {
	*flows.Flow
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Protocol         string // network.protocol, "" until identified
	Domain           string // destination name when known
	Entity           Entity
	Container        *Container
	DstInternal      bool // destination is in the internal networks
	// Inbound: the container is the responder (see InboundAttributor);
	// false without a container.
	Inbound bool
	Delta   [2]uint64 // bytes per direction since the previous event of this flow
	Time    int64     // event time (Unix ns)

	summary     l7.Summary
	haveSummary bool
	files       [l7.MaxFileOps]l7.FileOp
}

// Summary is the application layer's view of the flow (file operations,
// bytes moved, user), filled on first use.
func (f *Flow) Summary() *l7.Summary {
	if !f.haveSummary {
		f.haveSummary = true
		f.summary = l7.Summary{Files: f.files[:0]}
		if f.App != nil {
			f.App.Summary(&f.summary)
		}
	}
	return &f.summary
}

// Egress reports whether the flow leaves the internal networks from the
// initiator's side.
func (f *Flow) Egress() bool { return !f.DstInternal }

// ContainerEgress reports whether the flow's container connected out of the
// internal networks: it initiated the flow, and the destination is outside
// and a unicast address (multicast, broadcast and link-local traffic, such
// as IPv6 neighbour discovery, connects to nothing, whatever the
// configured internal networks say).
func (f *Flow) ContainerEgress() bool {
	if f.Container == nil || f.Inbound || f.DstInternal {
		return false
	}
	d := f.Dst.Unmap()
	return d.IsGlobalUnicast() && d != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
