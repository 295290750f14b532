package detect

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"outflow/flows"
	"outflow/flows/ecs"
)

// ContainerChurnRule: many containers appear, connect out and exit within
// minutes. T1610 (Deploy Container, Defense Evasion): a container started
// for one job and gone before anyone looks is how the technique runs code
// without leaving a workload to inspect; a burst of them beyond what the
// host usually runs is that, or a compromised orchestrator or CI.
var ContainerChurnRule = &Rule{
	Name:        "container-churn",
	Description: "More short-lived containers than the host's own baseline started, connected out of the internal networks and exited within minutes.",
	Technique:   Technique{"T1610", "Deploy Container"},
	Tactic:      "Defense Evasion",
	TacticID:    "TA0005",
}

// ContainerChurnConfig tunes the container-churn detector.
type ContainerChurnConfig struct {
	// Window over which short-lived containers are counted (sliding), and
	// the unit of the baseline (default 10 min).
	Window time.Duration
	// MaxLifetime: a container that exits within this of its start is
	// short-lived (default 5 min).
	MaxLifetime time.Duration
	// MinContainers in one window before anything alerts (default 5).
	MinContainers int
	// BaselineFactor: a window alerts above factor x the host's baseline,
	// the mean count of its previous windows (default 3).
	BaselineFactor float64
	// BaselineWindows averaged into the baseline (default 12).
	BaselineWindows int
	// Ignore tells containers that never count (CI runners); nil: none.
	Ignore func(c *Container) bool
	// MaxTracked bounds the containers followed between their first
	// egress and their exit (default 16384).
	MaxTracked int
}

// maxRecentExits bounds the short-lived exits kept for the sliding count.
const maxRecentExits = 4096

type churnCtr struct {
	started int64 // from the runtime, else the first egress seen
	name    string
	image   string
	ignored bool
}

type churnExit struct {
	at          int64
	id          string
	name, image string
}

// ContainerChurn counts containers that start, connect out and exit
// within MaxLifetime, and alerts when a window's count stands out from the
// host's baseline. Its alert is about the host, not one container: CI
// runners are left out of the count by Ignore, not by suppression rules.
type ContainerChurn struct {
	cfg     ContainerChurnConfig
	live    map[string]*churnCtr
	recent  []churnExit // short-lived exits within the last Window, in order
	history []int       // counts of past windows (ring of BaselineWindows)
	histN   int         // windows in history so far
	histPos int
	bucket  int64 // start of the current baseline window
	started bool  // bucket is set
	inBkt   int   // short-lived exits in the current baseline window
	alerted int   // count of the last alert within the window; 0: none
	alertAt int64
	swept   int64 // last sweep of live
	// Counters.
	ShortLived uint64 // short-lived containers counted
	Ignored    uint64 // short-lived containers left out by Ignore
	Dropped    uint64 // containers not followed at MaxTracked
}

// NewContainerChurn builds the detector.
func NewContainerChurn(cfg ContainerChurnConfig) *ContainerChurn {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 5 * time.Minute
	}
	if cfg.MinContainers <= 0 {
		cfg.MinContainers = 5
	}
	if cfg.BaselineFactor < 1 {
		cfg.BaselineFactor = 3
	}
	if cfg.BaselineWindows <= 0 {
		cfg.BaselineWindows = 12
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 16384
	}
	return &ContainerChurn{cfg: cfg, live: map[string]*churnCtr{}, history: make([]int, cfg.BaselineWindows)}
}

func (d *ContainerChurn) Name() string { return ContainerChurnRule.Name }

// Wants implements EventFilter.
func (d *ContainerChurn) Wants(_ flows.Event, containers bool) bool { return containers }

// Observe notes containers as they make their first egress connection.
func (d *ContainerChurn) Observe(_ flows.Event, f *Flow, _ Sink) {
	c := f.Container
	if c == nil || !f.ContainerEgress() {
		return
	}
	if _, ok := d.live[c.ID]; ok {
		return
	}
	if len(d.live) >= d.cfg.MaxTracked {
		d.Dropped++
		return
	}
	started := c.Started
	if started == 0 {
		started = f.Time
	}
	d.live[c.ID] = &churnCtr{started: started, name: c.Name, image: c.Image, ignored: d.cfg.Ignore != nil && d.cfg.Ignore(c)}
}

// ContainerEvent counts a followed container that exits young.
func (d *ContainerChurn) ContainerEvent(c *Container, now int64, sink Sink) {
	if c.Exited == 0 {
		return
	}
	e := d.live[c.ID]
	if e == nil {
		return // never connected out (or not since we started)
	}
	delete(d.live, c.ID)
	if c.Started != 0 {
		e.started = c.Started
	}
	if life := c.Exited - e.started; life < 0 || life > int64(d.cfg.MaxLifetime) {
		return
	}
	if e.ignored {
		d.Ignored++
		return
	}
	d.ShortLived++
	at := min(c.Exited, now)
	d.rotate(now)
	d.inBkt++
	d.recent = append(d.recent, churnExit{at: at, id: c.ID, name: e.name, image: e.image})
	d.prune(now)
	d.check(now, sink)
}

// baseline is the mean count per window of the past windows (0 before
// any has completed).
func (d *ContainerChurn) baseline() float64 {
	if d.histN == 0 {
		return 0
	}
	sum := 0
	for i := 0; i < d.histN; i++ {
		sum += d.history[i]
	}
	return float64(sum) / float64(d.histN)
}

func (d *ContainerChurn) threshold() int {
	return max(d.cfg.MinContainers, int(math.Ceil(d.cfg.BaselineFactor*d.baseline())))
}

// check alerts when the sliding window's count reaches the threshold, and
// again (as an update) each time the count doubles.
func (d *ContainerChurn) check(now int64, sink Sink) {
	n := len(d.recent)
	if d.alerted > 0 && now-d.alertAt > int64(d.cfg.Window) {
		d.alerted = 0
	}
	th := d.threshold()
	if n < th || (d.alerted > 0 && n < 2*d.alerted) {
		return
	}
	sev := 2
	if n >= 2*th {
		sev = 3
	}
	base := d.baseline()
	a := &Alert{Rule: ContainerChurnRule, Severity: sev, Risk: float64(min(100, 20*sev+5*n)), Time: now, Update: d.alerted > 0}
	d.alerted, d.alertAt = n, now
	images := map[string]int{}
	var names, ids []string
	for i := len(d.recent) - 1; i >= 0; i-- { // newest first
		e := d.recent[i]
		images[e.image]++
		if len(names) < 20 {
			names = append(names, e.name)
			ids = append(ids, e.id)
		}
	}
	imgs := make([]string, 0, len(images))
	for img := range images {
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(x, y string) int {
		if images[x] != images[y] {
			return images[y] - images[x]
		}
		return strings.Compare(x, y)
	})
	top := make([]string, 0, 5)
	for _, img := range imgs[:min(5, len(imgs))] {
		top = append(top, fmt.Sprintf("%s (%d)", img, images[img]))
	}
	a.Message = fmt.Sprintf("%d short-lived containers (connected out and exited within %v of starting) in the last %v, against a baseline of %.1f per window: %s",
		n, d.cfg.MaxLifetime, d.cfg.Window, base, strings.Join(top, ", "))
	window, life := d.cfg.Window, d.cfg.MaxLifetime
	a.Evidence = func(doc *ecs.Doc) {
		doc.Uint("outflow.container_churn.count", uint64(n))
		doc.Int("outflow.container_churn.threshold", int64(th))
		doc.Float("outflow.container_churn.baseline", base, 2)
		doc.Int("outflow.container_churn.window_s", int64(window/time.Second))
		doc.Int("outflow.container_churn.max_lifetime_s", int64(life/time.Second))
		doc.Strs("outflow.container_churn.images", imgs)
		doc.Strs("outflow.container_churn.container_names", names)
		doc.Strs("outflow.container_churn.container_ids", ids)
	}
	sink.Raise(a)
}

// rotate closes baseline windows up to now.
func (d *ContainerChurn) rotate(now int64) {
	w := int64(d.cfg.Window)
	if !d.started {
		d.started, d.bucket = true, now-now%w
		return
	}
	// A long silence closes at most BaselineWindows empty windows.
	for i := 0; now >= d.bucket+w && i <= len(d.history); i++ {
		d.history[d.histPos] = d.inBkt
		d.histPos = (d.histPos + 1) % len(d.history)
		d.histN = min(d.histN+1, len(d.history))
		d.inBkt = 0
		d.bucket += w
	}
	if now >= d.bucket+w {
		d.bucket = now - now%w
	}
}

// prune drops exits older than the window, and containers followed for
// longer than MaxLifetime (they can no longer be short-lived).
func (d *ContainerChurn) prune(now int64) {
	cut := now - int64(d.cfg.Window)
	i := 0
	for i < len(d.recent) && d.recent[i].at <= cut {
		i++
	}
	// The list is bounded too: a count this high alerts long before.
	i = max(i, len(d.recent)-maxRecentExits)
	if i > 0 {
		d.recent = append(d.recent[:0], d.recent[i:]...)
	}
}

// Tick advances the baseline windows and forgets old containers.
func (d *ContainerChurn) Tick(now int64, _ Sink) {
	d.rotate(now)
	d.prune(now)
	if len(d.live) > 0 && now-d.swept >= int64(time.Minute) {
		d.swept = now
		old := now - int64(d.cfg.MaxLifetime)
		for id, e := range d.live {
			if e.started < old {
				delete(d.live, id)
			}
		}
	}
}

func (d *ContainerChurn) Flush(int64, Sink) {}
