package detect

import (
	"fmt"
	"time"

	"outflow/flows"
	"outflow/flows/ecs"
)

// EgressVolumeRule is high-volume egress from one entity.
var EgressVolumeRule = &Rule{
	Name:        "egress-volume",
	Description: "An entity sent an unusually large volume of data to destinations outside the internal networks.",
	Technique:   Technique{"T1048", "Exfiltration Over Alternative Protocol"},
	Tactic:      "Exfiltration",
	TacticID:    "TA0010",
}

var (
	techExfilWeb = Technique{"T1567", "Exfiltration Over Web Service"}
	techExfilC2  = Technique{"T1041", "Exfiltration Over C2 Channel"}
)

// EgressVolumeConfig tunes the egress-volume detector.
type EgressVolumeConfig struct {
	Threshold       uint64        // bytes sent outside in Window that always alert (default 100 MB)
	Window          time.Duration // sliding window (default 10 min)
	BaselineFactor  float64       // alert when a window exceeds this times the entity's average (default 5)
	BaselineFloor   uint64        // ... and at least this many bytes (default 20 MB)
	BaselineWindows int           // completed windows of history before the baseline is trusted (default 6)
	MaxEntities     int           // tracked entities (default 100,000); beyond it the stalest is dropped
}

func (c *EgressVolumeConfig) setDefaults() {
	if c.Threshold == 0 {
		c.Threshold = 100_000_000
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.BaselineFactor <= 0 {
		c.BaselineFactor = 5
	}
	if c.BaselineFloor == 0 {
		c.BaselineFloor = 20_000_000
	}
	if c.BaselineWindows <= 0 {
		c.BaselineWindows = 6
	}
	if c.MaxEntities <= 0 {
		c.MaxEntities = 100_000
	}
}

// volBuckets is how finely the window slides.
const volBuckets = 10

type volState struct {
	buckets   [volBuckets]uint64 // bytes sent per bucket
	down      [volBuckets]uint64 // bytes received per bucket, for the ratio
	bucketAt  int64              // start of the newest bucket
	windowSum uint64
	// Baseline: exponentially weighted average of completed windows.
	avg       float64
	windows   int
	winStart  int64
	winBytes  uint64
	last      int64
	alertedAt int64    // window start of the last alert, to alert once per window
	example   evidence // the latest flow that sent bytes out
}

// EgressVolume alerts when an entity sends too much outside, by a fixed
// threshold over a sliding window or against its own baseline.
type EgressVolume struct {
	cfg       EgressVolumeConfig
	bucket    int64
	entities  map[Entity]*volState
	lastSweep int64
	Dropped   uint64 // entities dropped at the MaxEntities limit
}

// NewEgressVolume builds the detector.
func NewEgressVolume(cfg EgressVolumeConfig) *EgressVolume {
	cfg.setDefaults()
	return &EgressVolume{cfg: cfg, bucket: int64(cfg.Window) / volBuckets, entities: map[Entity]*volState{}}
}

func (d *EgressVolume) Name() string { return EgressVolumeRule.Name }

// Wants implements EventFilter: a flow's start event comes before its
// first packet is counted, so it carries no bytes.
func (d *EgressVolume) Wants(ev flows.Event, _ bool) bool { return ev != flows.EventStart }

// Observe adds each egress flow's new bytes to its entity's window.
func (d *EgressVolume) Observe(ev flows.Event, f *Flow, sink Sink) {
	if f.DstInternal || f.Delta[0]+f.Delta[1] == 0 {
		return
	}
	st := d.entities[f.Entity]
	if st == nil {
		if len(d.entities) >= d.cfg.MaxEntities {
			d.makeRoom(f.Time)
		}
		st = &volState{bucketAt: f.Time - f.Time%d.bucket, winStart: f.Time, alertedAt: -1}
		d.entities[f.Entity] = st
	}
	d.slide(st, f.Time)
	st.buckets[volBuckets-1] += f.Delta[0]
	st.down[volBuckets-1] += f.Delta[1]
	st.windowSum += f.Delta[0]
	st.winBytes += f.Delta[0]
	st.last = f.Time
	if f.Delta[0] > 0 {
		// Remember the flow that contributed, for the alert's network fields.
		st.example = evidenceOf(f)
	}
	d.check(st, f.Time, sink)
}

// slide moves the window's buckets up to time t, and closes baseline
// windows.
func (d *EgressVolume) slide(st *volState, t int64) {
	for t >= st.bucketAt+d.bucket {
		st.windowSum -= st.buckets[0]
		copy(st.buckets[:], st.buckets[1:])
		copy(st.down[:], st.down[1:])
		st.buckets[volBuckets-1], st.down[volBuckets-1] = 0, 0
		st.bucketAt += d.bucket
		if t-st.bucketAt > int64(d.cfg.Window) {
			// Long silence: jump instead of stepping bucket by bucket.
			st.buckets, st.down, st.windowSum = [volBuckets]uint64{}, [volBuckets]uint64{}, 0
			st.bucketAt = t - t%d.bucket
		}
	}
	for t >= st.winStart+int64(d.cfg.Window) {
		// A baseline window closed (windows with no traffic count as 0).
		const alpha = 0.3
		if st.windows == 0 {
			st.avg = float64(st.winBytes)
		} else {
			st.avg = alpha*float64(st.winBytes) + (1-alpha)*st.avg
		}
		st.windows++
		st.winBytes = 0
		st.winStart += int64(d.cfg.Window)
		if t-st.winStart > 100*int64(d.cfg.Window) {
			st.winStart = t
		}
	}
}

func (d *EgressVolume) check(st *volState, t int64, sink Sink) {
	sent := st.windowSum
	var down uint64
	for _, b := range st.down {
		down += b
	}
	reason := ""
	switch {
	case sent >= d.cfg.Threshold:
		reason = "threshold"
	case st.windows >= d.cfg.BaselineWindows && sent >= d.cfg.BaselineFloor && float64(sent) > d.cfg.BaselineFactor*st.avg:
		reason = "baseline"
	default:
		return
	}
	// One alert per window's worth of time; the sink dedups across windows.
	if st.alertedAt >= 0 && t-st.alertedAt < int64(d.cfg.Window) {
		return
	}
	st.alertedAt = t
	var a Alert
	a.fromEvidence(&st.example)
	dest := st.example.domain
	if dest == "" {
		dest = st.example.dst.String()
	}
	a.Rule = EgressVolumeRule
	a.Time = t
	a.Severity = 2
	if sent >= 10*d.cfg.Threshold || reason == "threshold" && sent >= 2*d.cfg.Threshold {
		a.Severity = 3
	}
	a.Risk = float64(min(100, 40+int(sent/d.cfg.Threshold)*10))
	switch a.Protocol {
	case "http", "tls":
		a.Techniques = []Technique{techExfilWeb}
	}
	ratio := float64(sent)
	if down > 0 {
		ratio = float64(sent) / float64(down)
	}
	avg := st.avg
	a.Message = fmt.Sprintf("%s sent %d bytes outside the internal networks in %s (%s; latest destination %s)",
		a.Entity, sent, d.cfg.Window, reason, dest)
	window := d.cfg.Window
	a.Evidence = func(doc *ecs.Doc) {
		doc.Uint("outflow.egress_volume.bytes_sent", sent)
		doc.Uint("outflow.egress_volume.bytes_received", down)
		doc.Float("outflow.egress_volume.upload_download_ratio", ratio, 2)
		doc.Int("outflow.egress_volume.window_seconds", int64(window/time.Second))
		doc.Str("outflow.egress_volume.reason", reason)
		doc.Float("outflow.egress_volume.baseline_bytes", avg, 0)
		doc.Uint("outflow.egress_volume.threshold_bytes", d.cfg.Threshold)
	}
	a.Dest = "*" // one alert per entity, whatever the destinations
	sink.Raise(&a)
}

// makeRoom frees at least a tenth of the entity table: first entities
// silent for a window, then arbitrary ones (map order is random), so a flood
// of new sources costs amortised O(1) per entity.
func (d *EgressVolume) makeRoom(now int64) {
	want := max(1, d.cfg.MaxEntities/10)
	freed := 0
	for e, st := range d.entities {
		if now-st.last > int64(d.cfg.Window) {
			delete(d.entities, e)
			freed++
		}
	}
	for e := range d.entities {
		if freed >= want {
			break
		}
		delete(d.entities, e)
		freed++
		d.Dropped++
	}
}

// Tick forgets entities silent for many windows, once a minute.
func (d *EgressVolume) Tick(now int64, _ Sink) {
	if now-d.lastSweep < int64(time.Minute) {
		return
	}
	d.lastSweep = now
	for e, st := range d.entities {
		if now-st.last > 20*int64(d.cfg.Window) {
			delete(d.entities, e)
		}
	}
}

func (d *EgressVolume) Flush(int64, Sink) {}
