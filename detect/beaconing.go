package detect

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"net/netip"
	"time"

	"outflow/detect/beacon"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// BeaconRule is periodic C2 check-ins (T1071, with the sub-technique of the
// protocol carrying them).
var BeaconRule = &Rule{
	Name:        "beacon",
	Description: "An entity contacts one destination on a regular timer, as C2 implants call home.",
	Technique:   Technique{"T1071", "Application Layer Protocol"},
	Tactic:      "Command and Control",
	TacticID:    "TA0011",
}

// StrobeRule is very high-rate repeated connections: not a sleeping implant,
// but worth a look (interactive C2, scanners, retry storms).
var StrobeRule = &Rule{
	Name:        "strobe",
	Description: "An entity opens connections to one destination many times a second.",
	Technique:   Technique{"T1071", "Application Layer Protocol"},
	Tactic:      "Command and Control",
	TacticID:    "TA0011",
}

var beaconSubTechnique = map[string]Technique{
	"http": {"T1071.001", "Application Layer Protocol: Web Protocols"},
	"tls":  {"T1071.001", "Application Layer Protocol: Web Protocols"},
	"ftp":  {"T1071.002", "Application Layer Protocol: File Transfer Protocols"},
	"tftp": {"T1071.002", "Application Layer Protocol: File Transfer Protocols"},
	"smb":  {"T1071.002", "Application Layer Protocol: File Transfer Protocols"},
	"dns":  {"T1071.004", "Application Layer Protocol: DNS"},
}

// BeaconConfig tunes the beacon detector.
type BeaconConfig struct {
	Tracker beacon.Config
	// Resolvers are DNS servers whose port-53 traffic is infrastructure
	// polling, not C2. DNS to internal addresses is always treated so.
	Resolvers Networks
	// EgressOnly scores only check-ins leaving the internal networks, and
	// those to Proxies (internal egress proxies).
	EgressOnly bool
	Proxies    Networks
	// KeepNTP turns off the default suppression of NTP (port 123).
	KeepNTP bool
	// Ignore, if set, keeps destinations out of scoring altogether (known
	// periodic infrastructure: health-check targets, metrics endpoints).
	// name is the destination's name, or "".
	Ignore func(dst netip.Addr, name string) bool
	// PrevalenceEntities: when this many entities beacon to the same
	// destination, it is likely shared infrastructure and severity drops
	// (default 5).
	PrevalenceEntities int
	// Seed keys the admission fingerprints. 0 picks a random one, so that
	// traffic cannot be crafted to collide in the admission table; offline
	// analysis sets a fixed one so the same capture always gives the same
	// alerts.
	Seed uint64
}

// Beacon finds periodic check-ins: new flows, and bursts of activity after
// a silence inside long-lived connections, grouped per entity and
// destination (by address and port, and also by name so a C2 behind
// rotating CDN addresses stays one series).
type Beacon struct {
	cfg        BeaconConfig
	internal   Networks
	tr         *beacon.Tracker
	prevalence map[string]map[Entity]struct{}

	// Admission: most series never see a second check-in (one-off
	// connections), so a series enters the tracker only at its second one.
	// The first waits in a direct-mapped table under a 64-bit fingerprint
	// that costs no allocation; a collision overwrites, which only delays
	// that series' admission by one check-in.
	seed    uint64
	pending []pendingCheckin

	// Checkins counts check-ins offered; Waiting those held for a second
	// one (their series was not tracked yet).
	Checkins, Waiting uint64
}

// pendingCheckin is 16 bytes: the slot's index holds 18 bits of the
// fingerprint and tag 31 more (its low bit is set, as 0 marks an empty
// slot), so a false match (another series taking this one's first check-in)
// is a 2^-49 chance; size saturates as ring entries do.
type pendingCheckin struct {
	tag  uint32
	size uint32
	t    int64
}

const pendingSlots = 1 << 18 // 4 MiB

// NewBeacon builds the detector; internal is the internal networks.
func NewBeacon(cfg BeaconConfig, internal Networks) *Beacon {
	if cfg.PrevalenceEntities <= 0 {
		cfg.PrevalenceEntities = 5
	}
	seed := cfg.Seed
	for seed == 0 {
		seed = new(maphash.Hash).Sum64() // a random seed per Hash
	}
	pending := make([]pendingCheckin, pendingSlots)
	flows.Prefault(pending) // probed before written (see Prefault)
	return &Beacon{cfg: cfg, internal: internal, tr: beacon.NewTracker(cfg.Tracker), prevalence: map[string]map[Entity]struct{}{},
		seed: seed, pending: pending}
}

func (d *Beacon) Name() string { return BeaconRule.Name }

// Wants implements EventFilter: check-ins are bursts and flow ends.
func (d *Beacon) Wants(ev flows.Event, _ bool) bool {
	return ev == flows.EventBurst || ev == flows.EventEnd
}

// Stats exposes the tracker's counters.
func (d *Beacon) Stats() beacon.Stats { return d.tr.Stats() }

func (d *Beacon) infrastructure(f *Flow) bool {
	switch {
	case f.Protocol == "ntp" || (f.Proto == decode.ProtoUDP && f.DstPort == 123):
		return !d.cfg.KeepNTP
	case f.Protocol == "dns" || f.DstPort == 53:
		return f.DstInternal || d.cfg.Resolvers.Contains(f.Dst)
	case f.Protocol == "dhcp":
		return true
	}
	return false
}

// Observe takes completed check-ins: the burst before a silence
// (EventBurst) and a flow's last burst (EventEnd).
func (d *Beacon) Observe(ev flows.Event, f *Flow, sink Sink) {
	if ev != flows.EventBurst && !(ev == flows.EventEnd && f.Reason != flows.EndActive) {
		return
	}
	if f.Proto != decode.ProtoTCP && f.Proto != decode.ProtoUDP {
		return
	}
	if d.cfg.EgressOnly && f.DstInternal && !d.cfg.Proxies.Contains(f.Dst) {
		return
	}
	if d.infrastructure(f) || d.cfg.Ignore != nil && d.cfg.Ignore(f.Dst, f.Domain) {
		return
	}
	t, size := f.CheckinTime(), f.CheckinBytes()
	d.checkin(f, seriesAddr, "", t, size, sink)
	if f.Domain != "" {
		// Also by name. Domain is never an address literal (a Host
		// header holding the address itself): l7.State.Domain drops those.
		d.checkin(f, seriesName, f.Domain, t, size, sink)
	}
	if f.Protocol == "http" {
		// And by URL path: C2 profiles check in on a fixed path, and other
		// requests to the same server (a stager download, a tasking
		// upload) would otherwise dilute the series.
		if res := f.Summary().Resource; res != "" {
			d.checkin(f, seriesPath, res, t, size, sink)
		}
	}
}

// Series kinds: by destination address, by name, by HTTP path.
const (
	seriesAddr byte = iota
	seriesName
	seriesPath
)

// checkin routes one check-in through admission to the tracker.
func (d *Beacon) checkin(f *Flow, kind byte, name string, t int64, size uint64, sink Sink) {
	h := fingerprint{h: d.seed ^ uint64(kind)}
	h.str(f.Entity.ContainerID)
	h.addr(f.Entity.IP)
	switch kind {
	case seriesAddr:
		h.addr(f.Dst)
	case seriesPath:
		h.addr(f.Dst)
		h.str(f.Domain)
		h.str(name)
	default:
		h.str(name)
	}
	h.word(uint64(f.DstPort)<<8 | uint64(f.Proto))
	fp := h.sum()

	d.Checkins++
	fp |= 1 // never 0: the tracker would take a zero ID for "no ID"
	k := beacon.Key{ID: fp, Port: f.DstPort, Transport: f.Proto}
	v, ok, tracked := d.tr.AddTracked(k, t, size)
	if !tracked {
		slot := &d.pending[(fp>>1)&(pendingSlots-1)]
		if tag := uint32(fp>>32) | 1; slot.tag != tag {
			*slot = pendingCheckin{tag, uint32(min(size, math.MaxUint32)), t}
			d.Waiting++
			return
		}
		first := *slot
		*slot = pendingCheckin{}
		if v1, ok1 := d.tr.Add(k, first.t, uint64(first.size)); ok1 {
			d.raise(v1, kind, name, f, sink)
		}
		v, ok = d.tr.Add(k, t, size)
	}
	if ok {
		d.raise(v, kind, name, f, sink)
	}
}

// seriesLabel is how a series is shown in evidence: the destination address,
// name, or name and path.
func seriesLabel(f *Flow, kind byte, name string) string {
	switch kind {
	case seriesAddr:
		return f.Dst.String()
	case seriesPath:
		host := f.Domain
		if host == "" {
			host = f.Dst.String()
		}
		return host + name
	}
	return name
}

// raise writes the alert of a series' verdict.
func (d *Beacon) raise(v beacon.Verdict, kind byte, name string, f *Flow, sink Sink) {
	dest := f.Dst.String()
	if f.Domain != "" {
		dest = f.Domain // one alert whether the address or the name series fires
	}
	primary := (f.Domain == "" && kind == seriesAddr) || (f.Domain != "" && kind == seriesName)
	if v.Update && !primary {
		// Both series track the same beacon; only the primary one (by
		// name when known) writes updates.
		return
	}
	if v.Strobe {
		a := &Alert{Rule: StrobeRule, Severity: 1, Risk: 20, Dest: dest}
		a.FromFlow(f)
		a.Message = fmt.Sprintf("%s connects to %s:%d about every %s (%d times): a strobe, not a sleeping beacon",
			f.Entity, dest, f.DstPort, v.Period.Round(time.Millisecond), v.Count)
		a.Evidence = beaconEvidence(v, "outflow.strobe", seriesLabel(f, kind, name))
		sink.Raise(a)
		return
	}
	seen := d.prevalence[dest]
	if seen == nil {
		if len(d.prevalence) >= 100_000 {
			clear(d.prevalence) // bounded; prevalence is only a severity hint
		}
		seen = map[Entity]struct{}{}
		d.prevalence[dest] = seen
	}
	if len(seen) < 1000 {
		seen[f.Entity] = struct{}{}
	}
	sev, risk := 3, 50+40*v.Score
	if !f.DstInternal {
		risk += 5
	} else {
		sev = 2
	}
	if len(seen) >= d.cfg.PrevalenceEntities {
		sev, risk = 1, risk/2
	}
	a := &Alert{Rule: BeaconRule, Severity: sev, Risk: min(risk, 100), Dest: dest, Update: v.Update}
	a.FromFlow(f)
	a.Time = max(f.Time, v.Last)
	if sub, ok := beaconSubTechnique[f.Protocol]; ok {
		a.Techniques = []Technique{sub}
	}
	a.Message = fmt.Sprintf("%s beacons to %s:%d every %s (jitter %.0f%%, %d check-ins, score %.2f)",
		f.Entity, dest, f.DstPort, v.Period.Round(time.Second/10), 100*jitterRatio(v), v.Count, v.Score)
	prevalence := len(seen)
	evidence := beaconEvidence(v, "outflow.beacon", seriesLabel(f, kind, name))
	a.Evidence = func(doc *ecs.Doc) {
		evidence(doc)
		doc.Int("outflow.beacon.prevalence", int64(prevalence))
	}
	sink.Raise(a)
}

func jitterRatio(v beacon.Verdict) float64 {
	if v.Period <= 0 {
		return 0
	}
	return float64(v.Jitter) / float64(v.Period)
}

func beaconEvidence(v beacon.Verdict, prefix, series string) func(*ecs.Doc) {
	return func(doc *ecs.Doc) {
		doc.Float(prefix+".score", v.Score, 3)
		doc.Float(prefix+".components.interval", v.Interval, 3)
		doc.Float(prefix+".components.size", v.Size, 3)
		doc.Float(prefix+".components.periodicity", v.Periodicity, 3)
		doc.Float(prefix+".components.coverage", v.Coverage, 3)
		doc.Float(prefix+".period_seconds", v.Period.Seconds(), 3)
		doc.Float(prefix+".jitter_seconds", v.Jitter.Seconds(), 3)
		doc.Float(prefix+".jitter_ratio", jitterRatio(v), 3)
		doc.Int(prefix+".count", int64(v.Count))
		doc.Time(prefix+".first", v.First)
		doc.Time(prefix+".last", v.Last)
		doc.Str(prefix+".series", series)
	}
}

// Tick expires idle series.
func (d *Beacon) Tick(now int64, _ Sink) { d.tr.Expire(now) }

func (d *Beacon) Flush(int64, Sink) {}

// fingerprint is a keyed 64-bit hash of a series' identity: cheap, allocation
// free, and unlike maphash reproducible from its seed.
type fingerprint struct{ h uint64 }

func (f *fingerprint) word(v uint64) {
	hi, lo := bits.Mul64(f.h^v, 0x9e3779b97f4a7c15)
	f.h = hi ^ lo
}

func (f *fingerprint) addr(a netip.Addr) {
	b := a.As16()
	f.word(binary.LittleEndian.Uint64(b[:8]))
	f.word(binary.LittleEndian.Uint64(b[8:]))
}

// str hashes s with its length, so that adjacent strings cannot trade bytes.
func (f *fingerprint) str(s string) {
	f.word(uint64(len(s)))
	for ; len(s) >= 8; s = s[8:] {
		f.word(binary.LittleEndian.Uint64([]byte(s[:8])))
	}
	var tail [8]byte
	copy(tail[:], s)
	f.word(binary.LittleEndian.Uint64(tail[:]))
}

func (f *fingerprint) sum() uint64 {
	f.word(0x94d049bb133111eb)
	return f.h
}
