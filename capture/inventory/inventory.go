package inventory

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ecs"
)

// An Inventory is all of these.
var (
	_ flows.Attributor         = (*Inventory)(nil)
	_ flows.Enricher           = (*Inventory)(nil)
	_ detect.InboundAttributor = (*Inventory)(nil)
	_ detect.AlertEnricher     = (*Inventory)(nil)
)

// Defaults for Options.
const (
	DefaultPoll   = 5 * time.Second
	DefaultRehash = 12 // polls between full content checks
	DefaultRetain = time.Hour
)

// Options tune an Inventory. Zero values take the defaults.
type Options struct {
	// Poll is how often the file's modification time and size are
	// checked; a change reloads it. Negative: never (load once).
	Poll time.Duration
	// Rehash: every Rehash polls the content is hashed even when time and
	// size look the same (an edit within the file system's time
	// granularity that kept the size).
	Rehash int
	// Retain is how long a pod or container that left the file still
	// names the flows attributed to it while it was there (flows open
	// across a reload are reported later).
	Retain time.Duration
	Logger *slog.Logger
}

// owner is one attributed identity (a pod or a container), as flows see
// it through Flow.Owner.
type owner struct {
	e  *Entry
	dc *detect.Container // nil when the runtime's container ID is unknown
}

// state is what lookups read: immutable once published.
type state struct {
	snap   *Snapshot
	byIP   map[netip.Addr]uint32 // address -> owner
	owners map[uint32]*owner
	byID   map[string]uint32 // container ID -> owner (alerts)
}

// known is the reloader's record of one identity.
type known struct {
	id       uint32
	o        *owner
	lastSeen time.Time
}

// Counters count an Inventory's work.
type Counters struct {
	Stats               // of the inventory in use
	Reloads      uint64 // successful loads, the first included
	ReloadErrors uint64 // loads that failed; the previous inventory stayed
	Owners       int    // identities flows can name (current and retained)
	Attributed   uint64 // flows attributed
	Unattributed uint64 // flows neither of whose addresses is in the inventory
	LastError    string // the last load error, "" after a good load
}

// Inventory is a reloading inventory file. Its lookups take no lock and
// allocate nothing; they may run on the packet path.
type Inventory struct {
	path string
	opt  Options
	log  *slog.Logger
	st   atomic.Pointer[state]

	mu     sync.Mutex // reloads
	ids    map[string]*known
	next   uint32
	mod    time.Time
	size   int64
	hash   [32]byte // of the content last parsed (good or bad)
	polls  int
	reload atomic.Uint64
	errs   atomic.Uint64
	last   atomic.Pointer[string]

	attributed, unattributed atomic.Uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Open loads the inventory at path (an error if it cannot be read or
// parsed) and, unless opt.Poll is negative, watches it for changes.
func Open(path string, opt Options) (*Inventory, error) {
	if opt.Poll == 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Rehash <= 0 {
		opt.Rehash = DefaultRehash
	}
	if opt.Retain <= 0 {
		opt.Retain = DefaultRetain
	}
	inv := &Inventory{path: path, opt: opt, log: opt.Logger, ids: map[string]*known{}, next: 1,
		stop: make(chan struct{}), done: make(chan struct{})}
	if inv.log == nil {
		inv.log = slog.New(slog.DiscardHandler)
	}
	if _, err := inv.check(true); err != nil {
		return nil, err
	}
	if opt.Poll > 0 {
		go inv.watch()
	} else {
		close(inv.done)
	}
	return inv, nil
}

// Close stops watching the file.
func (inv *Inventory) Close() {
	inv.once.Do(func() {
		close(inv.stop)
		<-inv.done
	})
}

func (inv *Inventory) watch() {
	defer close(inv.done)
	t := time.NewTicker(inv.opt.Poll)
	defer t.Stop()
	for {
		select {
		case <-inv.stop:
			return
		case <-t.C:
			inv.mu.Lock()
			inv.polls++
			force := inv.polls%inv.opt.Rehash == 0
			inv.mu.Unlock()
			changed, err := inv.check(force)
			switch {
			case err != nil:
				inv.log.Warn("inventory reload failed; keeping the previous one", "file", inv.path, "err", err)
			case changed:
				s := inv.Counters()
				inv.log.Info("inventory reloaded", "file", inv.path, "pods", s.Pods, "containers", s.Containers,
					"addresses", s.Addresses, "host_network", s.HostNetwork, "ambiguous_addresses", s.Ambiguous)
			}
		}
	}
}

// Reload checks the file now: it reports whether a new inventory is in
// use. On error the previous inventory stays.
func (inv *Inventory) Reload() (bool, error) { return inv.check(true) }

// check reloads the file if its time or size changed (or always, with
// force) and its content differs from what was last parsed.
func (inv *Inventory) check(force bool) (bool, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	fi, err := os.Stat(inv.path)
	if err != nil {
		return false, inv.fail(fmt.Errorf("inventory: %w", err))
	}
	if !force && fi.ModTime().Equal(inv.mod) && fi.Size() == inv.size {
		return false, nil
	}
	data, err := readFile(inv.path)
	if err != nil {
		return false, inv.fail(err)
	}
	inv.mod, inv.size = fi.ModTime(), fi.Size()
	h := sha256.Sum256(data)
	if h == inv.hash && inv.st.Load() != nil {
		return false, nil // same content (or the same bad content, already reported)
	}
	inv.hash = h
	snap, err := Parse(data)
	if err != nil {
		return false, inv.fail(fmt.Errorf("%s: %w", inv.path, err))
	}
	inv.publish(snap, time.Now())
	inv.reload.Add(1)
	inv.last.Store(nil)
	return true, nil
}

func (inv *Inventory) fail(err error) error {
	inv.errs.Add(1)
	s := err.Error()
	inv.last.Store(&s)
	return err
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("inventory: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("inventory: %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// identity names what an owner number stands for across reloads.
func identity(e *Entry) string {
	if e.Source == SourceKubernetes {
		return e.group
	}
	return "docker/" + e.ID
}

// publish makes snap the inventory in use. Owner numbers are kept per
// identity across reloads and never reused, so a flow attributed before a
// reload names the same pod after it (with its latest metadata), or none
// once the identity has been gone for Retain.
func (inv *Inventory) publish(snap *Snapshot, now time.Time) {
	st := &state{snap: snap, byIP: make(map[netip.Addr]uint32, len(snap.byIP)), owners: map[uint32]*owner{}, byID: map[string]uint32{}}
	cur := make(map[int]uint32, len(snap.Entries))
	for i := range snap.Entries {
		e := &snap.Entries[i]
		key := identity(e)
		k := inv.ids[key]
		if k == nil {
			k = &known{id: inv.next}
			inv.next++
			inv.ids[key] = k
		}
		k.o = &owner{e: e, dc: toDetect(e)}
		k.lastSeen = now
		cur[i] = k.id
	}
	for key, k := range inv.ids {
		if now.Sub(k.lastSeen) > inv.opt.Retain {
			delete(inv.ids, key)
			continue
		}
		st.owners[k.id] = k.o
		if k.o.dc != nil {
			st.byID[k.o.e.ID] = k.id
		}
	}
	// Current entries win the container ID index over retained ones.
	for i, id := range cur {
		if e := &snap.Entries[i]; e.ID != "" {
			st.byID[e.ID] = id
		}
	}
	for a, i := range snap.byIP {
		st.byIP[a] = cur[i]
	}
	inv.st.Store(st)
}

func toDetect(e *Entry) *detect.Container {
	if e.ID == "" {
		return nil // a pod not started yet: no container to be an entity
	}
	dc := &detect.Container{ID: e.ID, Name: e.Name, Image: e.Image, Runtime: e.Runtime, NetworkMode: e.NetworkMode, Labels: e.Labels,
		HostNetwork: e.HostNetwork, Privileged: e.Privileged, PidMode: e.PidMode, PodNamespace: e.Pod.Namespace, PodName: e.Pod.Name}
	for _, m := range e.Mounts {
		dc.Mounts = append(dc.Mounts, detect.Mount{Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	for _, p := range e.Ports {
		dc.Ports = append(dc.Ports, detect.Port{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto})
	}
	return dc
}

// Snapshot returns the inventory in use.
func (inv *Inventory) Snapshot() *Snapshot { return inv.st.Load().snap }

// Counters returns the counters.
func (inv *Inventory) Counters() Counters {
	st := inv.st.Load()
	c := Counters{Stats: st.snap.Stats, Reloads: inv.reload.Load(), ReloadErrors: inv.errs.Load(), Owners: len(st.owners),
		Attributed: inv.attributed.Load(), Unattributed: inv.unattributed.Load()}
	if p := inv.last.Load(); p != nil {
		c.LastError = *p
	}
	return c
}

// ownerInbound marks an owner that is the flow's responder. Owner numbers
// count up from 1 and stay below it.
const ownerInbound uint32 = 1 << 31

// Attribute implements flows.Attributor: the pod or container whose
// address the flow's initiator has, else its responder's (a connection
// into a pod is the pod's). 0: neither is known.
func (inv *Inventory) Attribute(f *flows.Flow) uint32 {
	st := inv.st.Load()
	src, _ := f.Src()
	if o, ok := st.byIP[flows.AddrOf(src)]; ok {
		inv.attributed.Add(1)
		return o
	}
	dst, _ := f.Dst()
	if o, ok := st.byIP[flows.AddrOf(dst)]; ok {
		inv.attributed.Add(1)
		return o | ownerInbound
	}
	inv.unattributed.Add(1)
	return 0
}

// Inbound implements detect.InboundAttributor: the flow's owner is its
// responder (something connected to the pod or container).
func (inv *Inventory) Inbound(f *flows.Flow) bool { return f.Owner&ownerInbound != 0 }

func (inv *Inventory) owner(o uint32) *owner {
	o &^= ownerInbound
	if o == 0 {
		return nil
	}
	return inv.st.Load().owners[o]
}

// Owner returns the entry a flow was attributed to.
func (inv *Inventory) Owner(f *flows.Flow) (*Entry, bool) {
	if o := inv.owner(f.Owner); o != nil {
		return o.e, true
	}
	return nil, false
}

// Container implements detect.Attributor.
func (inv *Inventory) Container(f *flows.Flow) *detect.Container {
	if o := inv.owner(f.Owner); o != nil {
		return o.dc
	}
	return nil
}

// EnrichFlow implements flows.Enricher: the sensor's container and
// orchestrator fields.
func (inv *Inventory) EnrichFlow(f *flows.Flow, d *ecs.Doc) {
	if o := inv.owner(f.Owner); o != nil {
		o.e.enrich(d, true)
	}
}

// EnrichAlert implements detect.AlertEnricher: the fields the alert
// writer does not add itself (labels, orchestrator).
func (inv *Inventory) EnrichAlert(a *detect.Alert, d *ecs.Doc) {
	if a.Container == nil {
		return
	}
	st := inv.st.Load()
	if o := st.owners[st.byID[a.Container.ID]]; o != nil {
		o.e.enrich(d, false)
	}
}

// enrich writes e's fields; the container ones only when all is set (the
// alert writer has its own).
func (e *Entry) enrich(d *ecs.Doc, all bool) {
	if all {
		d.Str("container.id", e.ID)
		d.Str("container.name", e.Name)
		d.Str("container.image.name", e.Image)
		d.Str("container.runtime", e.Runtime)
		d.Str("outflow.container.network_mode", e.NetworkMode)
	}
	if len(e.labels) > 0 {
		d.Raw("container.labels", e.labels)
	}
	if e.Pod.Name != "" {
		d.Str("orchestrator.type", "kubernetes")
		d.Str("orchestrator.namespace", e.Pod.Namespace)
		d.Str("orchestrator.resource.type", "pod")
		d.Str("orchestrator.resource.name", e.Pod.Name)
		d.Str("orchestrator.resource.id", e.Pod.UID)
	}
}
