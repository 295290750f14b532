package detect

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// UnexpectedDestinationRule: a workload reaches a destination it never used
// while its baseline was learned. T1071 (Application Layer Protocol,
// Command and Control): a workload's egress is, outside an attack, a short
// fixed list (its APIs, registries, databases); a new destination after the
// list has settled is the mark of a new C2 channel or exfiltration target,
// which is what the technique's channels look like from the network.
var UnexpectedDestinationRule = &Rule{
	Name:        "unexpected-destination",
	Description: "A workload (image, or Kubernetes workload) connected to a destination it was never seen to use while its baseline was learned.",
	Technique:   Technique{"T1071", "Application Layer Protocol"},
	Tactic:      "Command and Control",
	TacticID:    "TA0011",
}

// Defaults of the unexpected-destination detector.
const (
	DefaultLearningPeriod = 24 * time.Hour
	// activityGapCap: the learning clock runs while a workload is
	// observed; a gap between two of its flows counts up to this, so a
	// stopped or idle workload does not finish learning unobserved.
	activityGapCap = 10 * time.Minute
	// baselineKind and baselineVersion head the state file.
	baselineKind    = "unexpected-destination"
	baselineVersion = 1
	// hardMaxDestinations and hardMaxWorkloads bound what a state file
	// may hold, whatever the configuration says.
	hardMaxDestinations = 1 << 16
	hardMaxWorkloads    = 1 << 20
)

// UnexpectedDestinationConfig tunes the unexpected-destination detector.
type UnexpectedDestinationConfig struct {
	// LearningPeriod is the observed activity per workload during which
	// its destinations are learned rather than reported (default 24 h).
	LearningPeriod time.Duration
	// MaxDestinations learned per workload (default 256). A workload that
	// uses more while learning is too varied to baseline: it is marked
	// saturated and never alerts.
	MaxDestinations int
	// MaxWorkloads tracked (default 10000); more are counted and ignored.
	MaxWorkloads int
	// StatePath is the baseline's state file; "" keeps it in memory.
	StatePath string
	// SaveInterval: how often a changed baseline is saved (default 1 min),
	// besides when a workload finishes learning and at Flush.
	SaveInterval time.Duration
	// Log receives the state file's messages (default: discarded).
	Log *slog.Logger
}

// destKey is one destination: a name (lower case) or a network (the /24 or
// /64 of the address), with the transport and port.
type destKey struct {
	name  string
	net   netip.Prefix
	port  uint16
	proto uint8
}

func (k destKey) String() string {
	where := k.name
	if where == "" {
		where = k.net.String()
	}
	return fmt.Sprintf("%s/%d %s", protoName(k.proto), k.port, where)
}

func protoName(p uint8) string {
	switch p {
	case decode.ProtoTCP:
		return "tcp"
	case decode.ProtoUDP:
		return "udp"
	case decode.ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprint(p)
}

type workload struct {
	key       string
	activity  int64 // observed activity, ns
	last      int64 // time of its last flow event; 0 after a restart
	learned   bool
	saturated bool
	dests     map[destKey]struct{}
}

// UnexpectedDestination learns per workload where it connects, then
// alerts on destinations outside what it learned.
type UnexpectedDestination struct {
	cfg         UnexpectedDestinationConfig
	log         *slog.Logger
	workloads   map[string]*workload
	byContainer map[string]*workload // container ID -> its workload
	dirty       bool
	lastSave    int64
	saving      sync.WaitGroup // a save in flight
	inFlight    bool
	saveErr     chan error // result of the save in flight

	// Counters.
	Learned          uint64 // workloads that finished learning
	WorkloadsDropped uint64 // workloads not tracked at MaxWorkloads
	Saves            uint64
	SaveErrors       uint64
}

// NewUnexpectedDestination builds the detector and loads its baseline from
// cfg.StatePath when there is one. A state file that cannot be used (another
// kind of file, another version, damaged) is moved aside with a warning and
// the baselines are learned again: it never stops the sensor.
func NewUnexpectedDestination(cfg UnexpectedDestinationConfig) *UnexpectedDestination {
	if cfg.LearningPeriod <= 0 {
		cfg.LearningPeriod = DefaultLearningPeriod
	}
	if cfg.MaxDestinations <= 0 {
		cfg.MaxDestinations = 256
	}
	cfg.MaxDestinations = min(cfg.MaxDestinations, hardMaxDestinations)
	if cfg.MaxWorkloads <= 0 {
		cfg.MaxWorkloads = 10000
	}
	cfg.MaxWorkloads = min(cfg.MaxWorkloads, hardMaxWorkloads)
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = time.Minute
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &UnexpectedDestination{cfg: cfg, log: log, workloads: map[string]*workload{}, byContainer: map[string]*workload{}, saveErr: make(chan error, 1)}
	if cfg.StatePath != "" {
		d.load()
	}
	return d
}

func (d *UnexpectedDestination) Name() string { return UnexpectedDestinationRule.Name }

// Wants implements EventFilter.
func (d *UnexpectedDestination) Wants(_ flows.Event, containers bool) bool { return containers }

// WorkloadKey names the workload a container belongs to: for a Kubernetes
// pod, its namespace, the pod name without the suffixes its controller
// generates, and the container's name in the pod; otherwise its image
// without tag or digest, so that a new version of an image keeps its
// baseline.
func WorkloadKey(c *Container) string {
	if c.PodName != "" {
		k := "k8s:" + c.PodNamespace + "/" + podWorkload(c.PodName)
		if n := c.Labels["io.kubernetes.container.name"]; n != "" {
			k += "/" + n
		}
		return k
	}
	if c.Image != "" {
		return "image:" + imageRepo(c.Image)
	}
	return "container:" + c.Name
}

// imageRepo strips the tag and digest: registry:5000/app:1.2@sha256:... is
// registry:5000/app.
func imageRepo(img string) string {
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img = img[:i]
	}
	slash := strings.LastIndexByte(img, '/')
	if i := strings.LastIndexByte(img, ':'); i > slash {
		img = img[:i]
	}
	return img
}

// podWorkload strips what controllers append to pod names: a Deployment's
// "-<template hash>-<5 random>", a DaemonSet's or Job's "-<5 random>", a
// StatefulSet's "-<ordinal>". Random parts use Kubernetes' alphabet
// (consonants and digits without vowels or look-alikes).
func podWorkload(pod string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	randomPart := func(s string, minLen, maxLen int) bool {
		if len(s) < minLen || len(s) > maxLen {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !strings.ContainsRune(alphabet, rune(s[i])) {
				return false
			}
		}
		return true
	}
	cut := func(s string) (string, string) {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return s, ""
		}
		return s[:i], s[i+1:]
	}
	base, last := cut(pod)
	if last == "" {
		return pod
	}
	if isDigits(last) {
		return base // StatefulSet ordinal
	}
	if !randomPart(last, 5, 5) {
		return pod
	}
	if b2, hash := cut(base); hash != "" && randomPart(hash, 6, 10) {
		return b2
	}
	return base
}

// validDestName accepts host names (lower case letters, digits, '-', '_'
// and dots), which is what a baseline keeps.
func validDestName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// workloadOf finds (or starts) the workload of c; nil past MaxWorkloads.
func (d *UnexpectedDestination) workloadOf(c *Container) *workload {
	if w, ok := d.byContainer[c.ID]; ok {
		return w
	}
	key := WorkloadKey(c)
	w := d.workloads[key]
	if w == nil {
		if len(d.workloads) >= d.cfg.MaxWorkloads {
			d.WorkloadsDropped++
			return nil
		}
		w = &workload{key: key, dests: map[destKey]struct{}{}}
		d.workloads[key] = w
		d.dirty = true
	}
	if len(d.byContainer) >= 4*d.cfg.MaxWorkloads {
		clear(d.byContainer) // a cache: rebuilt as containers show up
	}
	d.byContainer[c.ID] = w
	return w
}

// netOf is the network a destination address stands for: its /24 (IPv4)
// or /64 (IPv6), so that a service's neighbouring addresses count as one.
func netOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// normName lower-cases a destination name and drops a trailing dot,
// allocating only when it must.
func normName(s string) string {
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Observe accrues the workload's activity on every flow event and judges
// the container's egress flows, each once. A TCP connection that opens and
// then stays silent is judged at its next packet after half a second
// (live), or at its end.
func (d *UnexpectedDestination) Observe(ev flows.Event, f *Flow, sink Sink) {
	c := f.Container
	if c == nil {
		return
	}
	w := d.workloadOf(c)
	if w == nil {
		return
	}
	if w.last != 0 && f.Time > w.last {
		w.activity += min(f.Time-w.last, int64(activityGapCap))
	}
	w.last = max(w.last, f.Time)
	if !w.learned && w.activity >= int64(d.cfg.LearningPeriod) {
		w.learned = true
		d.dirty = true
		d.lastSave = 0 // save soon: a restart must not start this one over
		d.Learned++
		d.log.Info("unexpected-destination: baseline learned", "workload", w.key, "destinations", len(w.dests),
			"saturated", w.saturated, "activity", time.Duration(w.activity).Round(time.Second))
	}
	if !f.ContainerEgress() {
		return
	}
	// Each flow is judged once. A TCP flow at its first event after the
	// first packet: by then the handshake and the first bytes, which carry
	// the name (TLS SNI, HTTP Host), are in, and Reported is still zero
	// (the table sets it after each later event). Other flows at once.
	if f.Proto == decode.ProtoTCP {
		if ev == flows.EventStart || f.Reported != [2]uint64{} {
			return
		}
	} else if ev != flows.EventStart {
		return
	}
	name := normName(f.Domain)
	if !validDestName(name) {
		name = "" // an odd HTTP Host is no name to trust: the network decides
	}
	netKey := destKey{net: netOf(f.Dst), port: f.DstPort, proto: f.Proto}
	if !w.learned {
		d.learn(w, netKey)
		if name != "" {
			d.learn(w, destKey{name: name, port: f.DstPort, proto: f.Proto})
		}
		return
	}
	if w.saturated {
		return
	}
	key := netKey
	if name != "" {
		key = destKey{name: name, port: f.DstPort, proto: f.Proto}
	}
	if _, ok := w.dests[key]; ok {
		return
	}
	sev := 2
	portKnown := false
	for k := range w.dests {
		if k.port == key.port && k.proto == key.proto {
			portKnown = true
			break
		}
	}
	if !portKnown {
		sev = 3 // not even the port was ever used
	}
	a := &Alert{Rule: UnexpectedDestinationRule, Severity: sev, Risk: float64(25 * sev)}
	a.FromFlow(f)
	dest := key.String()
	a.Dest = dest
	a.Message = fmt.Sprintf("%s (workload %s) connected to %s, a destination not seen while its baseline of %d destinations was learned",
		containerLabel(c), w.key, endpoint(f.Dst, f.DstPort, f.Proto, name), len(w.dests))
	wk, n, period := w.key, len(w.dests), d.cfg.LearningPeriod
	a.Evidence = func(doc *ecs.Doc) {
		doc.Str("outflow.unexpected_destination.workload", wk)
		doc.Str("outflow.unexpected_destination.destination", dest)
		doc.Uint("outflow.unexpected_destination.baseline_destinations", uint64(n))
		doc.Bool("outflow.unexpected_destination.port_known", portKnown)
		doc.Int("outflow.unexpected_destination.learning_period_s", int64(period/time.Second))
	}
	sink.Raise(a)
}

// learn adds a destination to a learning workload's baseline.
func (d *UnexpectedDestination) learn(w *workload, k destKey) {
	if _, ok := w.dests[k]; ok || w.saturated {
		return
	}
	if len(w.dests) >= d.cfg.MaxDestinations {
		w.saturated = true
		d.dirty = true
		d.log.Info("unexpected-destination: workload uses too many destinations to baseline; it will not alert",
			"workload", w.key, "max_destinations", d.cfg.MaxDestinations)
		return
	}
	w.dests[k] = struct{}{}
	d.dirty = true
}

// Tick saves a changed baseline every SaveInterval, in the background.
func (d *UnexpectedDestination) Tick(now int64, _ Sink) {
	if d.cfg.StatePath == "" || !d.dirty {
		return
	}
	if d.inFlight {
		select {
		case err := <-d.saveErr:
			d.inFlight = false
			d.noteSave(err)
		default:
			return
		}
	}
	if d.lastSave != 0 && now-d.lastSave < int64(d.cfg.SaveInterval) {
		return
	}
	body := d.encode(now)
	d.dirty, d.lastSave, d.inFlight = false, now, true
	d.saving.Add(1)
	go func() {
		defer d.saving.Done()
		d.saveErr <- writeBaseline(d.cfg.StatePath, body)
	}()
}

// Flush saves the baseline and waits for it.
func (d *UnexpectedDestination) Flush(now int64, _ Sink) {
	if d.cfg.StatePath == "" {
		return
	}
	d.saving.Wait()
	if d.inFlight {
		d.inFlight = false
		d.noteSave(<-d.saveErr)
	}
	if !d.dirty && d.Saves > 0 {
		return
	}
	d.dirty = false
	d.lastSave = now
	d.noteSave(writeBaseline(d.cfg.StatePath, d.encode(now)))
}

func (d *UnexpectedDestination) noteSave(err error) {
	if err != nil {
		d.SaveErrors++
		d.dirty = true
		d.log.Warn("unexpected-destination: saving the baseline failed; it is kept in memory and saved again later", "err", err)
		return
	}
	d.Saves++
}

// Workloads reports how many workloads are tracked and how many of them
// have finished learning.
func (d *UnexpectedDestination) Workloads() (tracked, learned int) {
	for _, w := range d.workloads {
		if w.learned {
			learned++
		}
	}
	return len(d.workloads), learned
}
