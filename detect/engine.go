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
	view     Flow
	now      int64
	nextTick int64
}

// NewEngine builds an engine.
func NewEngine(cfg EngineConfig) *Engine {
	if cfg.Internal.Len() == 0 {
		cfg.Internal = MustNetworks(DefaultInternal)
	}
	return &Engine{cfg: cfg}
}

// Internal returns the internal networks in use.
func (e *Engine) Internal() Networks { return e.cfg.Internal }

// FlowEvent implements flows.Observer.
func (e *Engine) FlowEvent(ev flows.Event, f *flows.Flow) {
	if len(e.cfg.Detectors) == 0 {
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
	if f.App != nil {
		v.Protocol, v.Domain = f.App.Protocol(), f.App.Domain()
		if f.App.Reversed() {
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
	if v.Container != nil {
		v.Entity = Entity{ContainerID: v.Container.ID}
	}
	v.DstInternal = e.cfg.Internal.Contains(v.Dst)
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
