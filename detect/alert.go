package detect

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"net/netip"
	"time"

	"outflow/flows"
	"outflow/flows/ecs"
)

// Technique is a MITRE ATT&CK technique or sub-technique.
type Technique struct {
	ID, Name string
}

// Rule is what an alert's rule.* and threat.* fields say.
type Rule struct {
	Name        string // rule.name, e.g. "file-transfer"
	Description string
	Technique   Technique // the primary technique
	Tactic      string    // threat.tactic.name, e.g. "Command and Control"
	TacticID    string    // threat.tactic.id, e.g. "TA0011"
}

// Alert is one finding. Detectors fill it; the Alerts writer adds the ID,
// dedups and writes it.
type Alert struct {
	Rule     *Rule
	Time     int64 // time of the evidence (packet time offline)
	Severity int   // 1 low, 2 medium, 3 high, 4 critical
	Risk     float64
	Message  string
	// Extra techniques beyond the rule's, e.g. T1048 for uploads.
	Techniques []Technique

	Entity    Entity
	Container *Container
	Src, Dst  netip.Addr
	SrcPort   uint16
	DstPort   uint16
	Transport string
	Protocol  string
	Domain    string
	// CommunityIDs of the evidence flows (bounded by the detector).
	CommunityIDs []string
	// Dest is the destination part of the dedup key (an address or a name);
	// empty: Dst.
	Dest string
	// Update marks a material change to an earlier alert (more evidence,
	// higher severity): it is written even inside the dedup window, with
	// the first alert's outflow.alert_id.
	Update bool
	// Evidence adds the detector's fields under outflow.<rule>.*.
	Evidence func(d *ecs.Doc)

	risk []string // the container's risk reasons, set by the Alerts writer
}

// SeverityName maps a severity to its ECS-ish label for messages.
func SeverityName(s int) string {
	switch s {
	case 1:
		return "low"
	case 2:
		return "medium"
	case 3:
		return "high"
	case 4:
		return "critical"
	}
	return "unknown"
}

type dedupKey struct {
	rule   string
	entity Entity
	dest   string
}

type dedupEntry struct {
	id       string
	first    int64
	last     int64
	severity int
	updates  int
	count    int
}

// Alerts writes alerts as ECS documents, once per rule, entity and
// destination within the dedup window; later updates carry the first
// alert's outflow.alert_id.
type Alerts struct {
	out     *ecs.Writer
	window  int64
	max     int
	seen    map[dedupKey]*dedupEntry
	doc     ecs.Doc
	enrich  []AlertEnricher
	listen  []AlertListener
	riskMin float64 // container risk score from which alerts are raised; 0: off
	Written uint64
	Deduped uint64
	Dropped uint64 // dedup entries dropped at the table limit
	Err     error
	now     func() time.Time // the clock for event.created; tests may fix it
}

// AlertEnricher adds fields to alert documents (GeoIP, host metadata).
type AlertEnricher interface {
	EnrichAlert(a *Alert, d *ecs.Doc)
}

// NewAlerts writes to out, deduplicating within window (0: 1 hour).
func NewAlerts(out *ecs.Writer, window time.Duration, enrich ...AlertEnricher) *Alerts {
	if window <= 0 {
		window = time.Hour
	}
	return &Alerts{out: out, window: int64(window), max: 100_000, seen: map[dedupKey]*dedupEntry{}, enrich: enrich, now: time.Now}
}

// AddEnricher adds an enricher for alerts written from now on.
func (w *Alerts) AddEnricher(e AlertEnricher) { w.enrich = append(w.enrich, e) }

// AlertListener hears of every alert the writer writes (after dedup), with
// its outflow.alert_id: the sensor's response hooks in here. It is called
// from Raise: it must be quick and must not raise alerts.
type AlertListener interface {
	AlertWritten(a *Alert, id string)
}

// AddListener adds a listener for alerts written from now on.
func (w *Alerts) AddListener(l AlertListener) { w.listen = append(w.listen, l) }

// RaiseRiskyContainers turns on the container risk policy: alerts about a
// container whose ContainerRisk score is at least min carry the reasons in
// outflow.container.risk, and all but the risky-container rule's own are
// one severity level higher (and 20 risk points). It is done here, once for
// every detector, before dedup compares severities. min <= 0 turns it off.
func (w *Alerts) RaiseRiskyContainers(min float64) { w.riskMin = min }

// applyRisk is the container risk policy (RaiseRiskyContainers).
func (w *Alerts) applyRisk(a *Alert) {
	a.risk = nil
	if w.riskMin <= 0 || a.Container == nil {
		return
	}
	reasons, score := ContainerRisk(a.Container)
	if len(reasons) == 0 || score < w.riskMin {
		return
	}
	a.risk = reasons
	if a.Rule != RiskyContainerRule {
		a.Severity = min(4, a.Severity+1)
		a.Risk = min(100, a.Risk+20)
	}
}

// Raise implements Sink.
func (w *Alerts) Raise(a *Alert) {
	w.applyRisk(a)
	dest := a.Dest
	if dest == "" && a.Dst.IsValid() {
		dest = a.Dst.String()
	}
	k := dedupKey{a.Rule.Name, a.Entity, dest}
	e := w.seen[k]
	if e != nil && a.Time-e.last > w.window {
		e = nil // window passed: a new alert
	}
	update := 0
	if e != nil {
		e.count++
		e.last = max(e.last, a.Time)
		if !a.Update && a.Severity <= e.severity {
			w.Deduped++
			return
		}
		e.updates++
		update = e.updates
		e.severity = max(e.severity, a.Severity)
	} else {
		if len(w.seen) >= w.max {
			w.prune(a.Time)
		}
		e = &dedupEntry{id: alertID(k, a.Time), first: a.Time, last: a.Time, severity: a.Severity, count: 1}
		w.seen[k] = e
	}
	w.write(a, e.id, update)
}

// prune drops dedup entries older than the window, or all when none are.
func (w *Alerts) prune(now int64) {
	for k, e := range w.seen {
		if now-e.last > w.window {
			delete(w.seen, k)
		}
	}
	if len(w.seen) >= w.max {
		w.Dropped += uint64(len(w.seen))
		clear(w.seen)
	}
}

// alertID is deterministic, so the same input gives the same IDs.
func alertID(k dedupKey, t int64) string {
	h := fnv.New64a()
	h.Write([]byte(k.rule))
	h.Write([]byte{0})
	h.Write([]byte(k.entity.ContainerID))
	h.Write(k.entity.IP.AsSlice())
	h.Write([]byte{0})
	h.Write([]byte(k.dest))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

func (w *Alerts) write(a *Alert, id string, update int) {
	d := &w.doc
	d.Reset()
	AppendAlert(d, a)
	d.Str("outflow.alert_id", id)
	// event.created: when outflow wrote the alert (wall clock); minus
	// @timestamp it is the alerting latency.
	d.Time("event.created", w.now().UnixNano())
	if update > 0 {
		d.Int("outflow.alert_update", int64(update))
	}
	d.Strs("outflow.container.risk", a.risk)
	for _, e := range w.enrich {
		e.EnrichAlert(a, d)
	}
	if err := w.out.Write(d); err != nil && w.Err == nil {
		w.Err = err
	}
	w.Written++
	for _, l := range w.listen {
		l.AlertWritten(a, id)
	}
}

// AppendAlert fills d with the ECS alert document of a (without the ID).
func AppendAlert(d *ecs.Doc, a *Alert) {
	d.Time("@timestamp", a.Time)
	d.Str("event.kind", "alert")
	d.Str("event.dataset", "outflow.alert")
	d.Str("event.module", "outflow")
	d.Raw("event.category", []byte(`["network","intrusion_detection"]`))
	d.Raw("event.type", []byte(`["indicator"]`))
	d.Int("event.severity", int64(a.Severity))
	d.Float("event.risk_score", a.Risk, 1)
	d.Str("message", a.Message)
	d.Str("rule.name", a.Rule.Name)
	d.Str("rule.description", a.Rule.Description)
	d.Str("rule.category", "outflow")
	d.Str("threat.framework", "MITRE ATT&CK")
	ids := []string{a.Rule.Technique.ID}
	names := []string{a.Rule.Technique.Name}
	for _, t := range a.Techniques {
		ids = append(ids, t.ID)
		names = append(names, t.Name)
	}
	d.Strs("threat.technique.id", ids)
	d.Strs("threat.technique.name", names)
	d.Str("threat.tactic.name", a.Rule.Tactic)
	d.Str("threat.tactic.id", a.Rule.TacticID)
	d.Addr("source.ip", a.Src)
	if a.SrcPort != 0 {
		d.Uint("source.port", uint64(a.SrcPort))
	}
	d.Addr("destination.ip", a.Dst)
	if a.DstPort != 0 {
		d.Uint("destination.port", uint64(a.DstPort))
	}
	d.Str("destination.domain", a.Domain)
	d.Str("network.transport", a.Transport)
	d.Str("network.protocol", a.Protocol)
	d.Strs("network.community_id", a.CommunityIDs)
	d.Addrs("related.ip", a.Src, a.Dst)
	if c := a.Container; c != nil {
		d.Str("container.id", c.ID)
		d.Str("container.name", c.Name)
		d.Str("container.image.name", c.Image)
		d.Str("container.runtime", c.Runtime)
		d.Str("outflow.container.network_mode", c.NetworkMode)
	}
	d.Str("outflow.entity", a.Entity.String())
	if a.Evidence != nil {
		a.Evidence(d)
	}
}

// FromFlow fills the network fields of an alert from the evidence flow.
func (a *Alert) FromFlow(f *Flow) {
	e := evidenceOf(f)
	a.fromEvidence(&e)
}

// evidence is what an alert takes from its evidence flow: a detector that
// may alert later keeps this, which costs nothing to take, rather than
// building an alert on every event.
type evidence struct {
	entity    Entity
	container *Container
	src, dst  netip.Addr
	sport     uint16
	dport     uint16
	proto     uint8
	protocol  string
	domain    string
	cid       flows.CommunityKey
	time      int64
}

func evidenceOf(f *Flow) evidence {
	return evidence{
		entity: f.Entity, container: f.Container, src: f.Src, dst: f.Dst, sport: f.SrcPort, dport: f.DstPort,
		proto: f.Proto, protocol: f.Protocol, domain: f.Domain, cid: f.CommunityKey(), time: f.Time,
	}
}

func (a *Alert) fromEvidence(e *evidence) {
	a.Entity = e.entity
	a.Container = e.container
	a.Src, a.Dst = e.src, e.dst
	a.SrcPort, a.DstPort = e.sport, e.dport
	a.Transport = flows.TransportName(e.proto)
	a.Protocol = e.protocol
	a.Domain = e.domain
	a.CommunityIDs = []string{string(e.cid.Append(nil))}
	if a.Time == 0 {
		a.Time = e.time
	}
}
