package detect

import (
	"time"

	"outflow/flows"
)

// EngineConfig wires the detectors.
type EngineConfig struct {
	Detectors  []Detector
	Sink       Sink       // where alerts go (usually *Alerts, possibly behind a suppression filter)
	Internal   Networks   // internal networks; empty: DefaultInternal
	Attributor Attributor // container attribution; nil: by source address
}

// Engine feeds flow events to the detectors. It is the flows.Observer the
// flow table reports to, and it is not safe for concurrent use.
type Engine struct {
	cfg      EngineConfig
	inbound  InboundAttributor // cfg.Attributor when it knows directions
	watchers []ContainerWatcher
	view     Flow
	now      int64
	nextTick int64
	wants    [4]bool // by flows.Event: some detector wants it
}

// NewEngine builds an engine.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.Internal.Len() == 0 {
		cfg.Internal = MustNetworks(DefaultInternal)
	}
	e := &Engine{cfg: cfg}
	e.inbound, _ = cfg.Attributor.(InboundAttributor)
	for _, d := range cfg.Detectors {
		if w, ok := d.(ContainerWatcher); ok {
			e.watchers = append(e.watchers, w)
		}
		f, ok := d.(EventFilter)
		for ev := range e.wants {
			e.wants[ev] = e.wants[ev] || !ok || f.Wants(flows.Event(ev), cfg.Attributor != nil)
		}
	}
	return e
}

// Wants reports whether some detector wants events of kind ev: a caller
// that copies events to the engine can skip the others.
func (e *Engine) Wants(ev flows.Event) bool { return int(ev) < len(e.wants) && e.wants[ev] }

// ContainerEvent tells the detectors that follow containers about a change
// (a container seen to start, or to exit: c.Exited set). now is wall time.
func (e *Engine) ContainerEvent(c *Container, now int64) {
	if c == nil || len(e.watchers) == 0 {
		return
	}
	e.advance(now)
	for _, w := range e.watchers {
		w.ContainerEvent(c, e.now, e.cfg.Sink)
	}
}

// Internal returns the internal networks in use.
func (e *Engine) Internal() Networks { return e.cfg.Internal }

// FlowEvent implements flows.Observer.
func (e *Engine) FlowEvent(ev flows.Event, f *flows.Flow) {
	if !e.Wants(ev) {
		// Skipped before the clock moves, so that a pipeline that never
		// delivers such events ticks at the same points.
		return
	}
	t := f.Last
	if ev == flows.EventStart {
		t = f.First
	}
	e.advance(t)
	v := &e.view
	src, sp := f.Src()
	dst, dp := f.Dst()
	v.Flow = f
	v.Src, v.Dst = flows.AddrOf(src), flows.AddrOf(dst)
	v.SrcPort, v.DstPort = sp, dp
	v.Protocol, v.Domain = "", ""
	v.Delta = [2]uint64{f.Bytes[0] - f.Reported[0], f.Bytes[1] - f.Reported[1]}
	reversed := false
	if f.App != nil {
		v.Protocol, v.Domain = f.App.Protocol(), f.App.Domain()
		if reversed = f.App.Reversed(); reversed {
			// A data channel the server opened toward the client: the
			// client (the flow's responder) is who moved the data.
			v.Src, v.Dst = v.Dst, v.Src
			v.SrcPort, v.DstPort = v.DstPort, v.SrcPort
			v.Delta[0], v.Delta[1] = v.Delta[1], v.Delta[0]
		}
	}
	v.Container = nil
	if e.cfg.Attributor != nil {
		v.Container = e.cfg.Attributor.Container(f)
	}
	v.Entity = Entity{IP: v.Src}
	v.DstInternal = e.cfg.Internal.Contains(v.Dst)
	v.Inbound = false
	if v.Container != nil {
		v.Entity = Entity{ContainerID: v.Container.ID}
		if e.inbound != nil {
			// The attributor speaks of the flow as captured; a reversed
			// data channel belongs to the session its client opened.
			v.Inbound = e.inbound.Inbound(f) != reversed
		} else {
			v.Inbound = v.DstInternal && !e.cfg.Internal.Contains(v.Src)
		}
	}
	v.Time = t
	v.haveSummary = false
	for _, d := range e.cfg.Detectors {
		d.Observe(ev, v, e.cfg.Sink)
	}
}

// advance moves the detectors' clock, ticking once per second of time.
func (e *Engine) advance(now int64) {
	if now > e.now {
		e.now = now
	}
	if e.now < e.nextTick {
		return
	}
	e.nextTick = e.now + int64(time.Second)
	for _, d := range e.cfg.Detectors {
		d.Tick(e.now, e.cfg.Sink)
	}
}

// Tick advances time without a flow event (live capture: wall clock).
func (e *Engine) Tick(now int64) { e.advance(now) }

// Flush reports pending evidence at the end of the input or on shutdown.
func (e *Engine) Flush() {
	for _, d := range e.cfg.Detectors {
		d.Flush(e.now, e.cfg.Sink)
	}
}

// EntityOf is the entity the Engine attributes a flow event to: the
// flow's container when attr knows it, else the address of whoever moved
// the data (the initiator, or the responder of a server-opened data
// channel). A sharded pipeline routes events by it so that one entity's
// flows meet in one set of detectors.
func EntityOf(f *flows.Flow, attr Attributor) Entity {
	if attr != nil {
		if c := attr.Container(f); c != nil {
			return Entity{ContainerID: c.ID}
		}
	}
	a, _ := f.Src()
	if f.App != nil && f.App.Reversed() {
		a, _ = f.Dst()
	}
	return Entity{IP: flows.AddrOf(a)}
}
