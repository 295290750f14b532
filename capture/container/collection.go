package container

import (
	"context"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Collection is the set of containers on the host, kept current by its
// sources. Its lookups are safe for concurrent use.
type Collection struct {
	cfg    config
	hostNS uint64 // network namespace inode of the host (0 when unknown)

	view atomic.Pointer[view]

	mu      sync.Mutex // guards st and pending
	st      state
	pending []Event

	// notifyMu orders deliveries: whoever holds it delivers the pending
	// events in the order they were queued.
	notifyMu sync.Mutex
	subsMu   sync.Mutex
	subs     map[int]func(Event)
	nextSub  int

	docker *dockerSource
	plat   platform // Linux: the netlink source and the socket resolver

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // asks the netlink source to map namespaces again

	stats counters
}

// state is what the sources have said, merged into Containers by rebuild.
type state struct {
	recs map[string]*record
	// netByNS is what netlink found in (and for) each namespace.
	netByNS map[uint64]netInfo
	// pids maps every process of every container found by the last /proc
	// scan to its container ID.
	pids map[int]string
}

// record is one container as its sources describe it.
type record struct {
	id     string
	proc   *procInfo   // nil when the last /proc scan did not see it
	docker *dockerInfo // nil when Docker does not know it
	// exited is when the container exited (as its runtime says, or when
	// we noticed); zero while running. exitSeen is when we learned it: the
	// grace period counts from then, as the packets that still need the
	// container's name are those captured until we knew.
	exited, exitSeen time.Time
	pub              *Container // last published value
}

// markExited records an exit at the given time (now when unknown or in
// the future); an exit already recorded stands.
func (r *record) markExited(at, now time.Time) {
	if !r.exited.IsZero() {
		return
	}
	if at.IsZero() || at.After(now) {
		at = now
	}
	r.exited, r.exitSeen = at, now
}

// markRunning records that the container runs (again).
func (r *record) markRunning() { r.exited, r.exitSeen = time.Time{}, time.Time{} }

// expired reports whether an exited container's grace period is over.
func (r *record) expired(now time.Time, grace time.Duration) bool {
	return !r.exited.IsZero() && now.Sub(r.exitSeen) > grace
}

// procInfo is one container as /proc shows it.
type procInfo struct {
	runtime string
	podUID  string
	pid     int // the container's init process
	netNS   uint64
	started time.Time
}

// netInfo is what netlink found for one network namespace.
type netInfo struct {
	ifaces []Iface
	addrs  []netip.Addr
}

// view is an immutable index over the published containers.
type view struct {
	all     []*Container // sorted by ID
	byID    map[string]*Container
	byNetNS map[uint64]*Container
	byIface map[int]*Container
	byAddr  map[netip.Addr]*Container
	byPID   map[int]*Container
	hostNet []*Container
}

var emptyView = &view{}

// counters are the collection's statistics.
type counters struct {
	rescans, rescanErrors           atomic.Uint64
	dockerEvents, dockerErrors      atomic.Uint64
	netlinkRemaps, netlinkErrors    atomic.Uint64
	socketLookups, socketCacheHits  atomic.Uint64
	socketWalks, socketWalksSkipped atomic.Uint64
	socketWalkTruncated             atomic.Uint64
}

// Stats counts what the collection did and what it gave up on.
type Stats struct {
	Rescans, RescanErrors uint64
	DockerEvents          uint64
	DockerErrors          uint64 // failed requests and dropped event streams
	NetlinkRemaps         uint64
	NetlinkErrors         uint64
	// SocketLookups counts OwnerOfSocket calls that found a socket;
	// SocketCacheHits those answered without walking /proc.
	SocketLookups, SocketCacheHits uint64
	// SocketWalks counts /proc walks; SocketWalksSkipped the walks not
	// made because one had just been made; SocketWalkTruncated the walks
	// that stopped at their bound.
	SocketWalks, SocketWalksSkipped, SocketWalkTruncated uint64
}

// Stats returns the collection's counters.
func (c *Collection) Stats() Stats {
	s := &c.stats
	return Stats{
		Rescans: s.rescans.Load(), RescanErrors: s.rescanErrors.Load(),
		DockerEvents: s.dockerEvents.Load(), DockerErrors: s.dockerErrors.Load(),
		NetlinkRemaps: s.netlinkRemaps.Load(), NetlinkErrors: s.netlinkErrors.Load(),
		SocketLookups: s.socketLookups.Load(), SocketCacheHits: s.socketCacheHits.Load(),
		SocketWalks: s.socketWalks.Load(), SocketWalksSkipped: s.socketWalksSkipped.Load(),
		SocketWalkTruncated: s.socketWalkTruncated.Load(),
	}
}

func newCollection(cfg config) *Collection {
	c := &Collection{
		cfg:  cfg,
		st:   state{recs: map[string]*record{}, netByNS: map[uint64]netInfo{}, pids: map[int]string{}},
		subs: map[int]func(Event){},
		kick: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.view.Store(emptyView)
	return c
}

// Close stops the sources. Lookups keep answering from the last state.
func (c *Collection) Close() error {
	c.cancel()
	c.wg.Wait()
	c.plat.close()
	return nil
}

func (c *Collection) goRun(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// HostNetNS is the inode of the host's network namespace (0 if unknown).
func (c *Collection) HostNetNS() uint64 { return c.hostNS }

// ByID returns the container with this full ID, or with this unambiguous
// ID prefix of at least 12 characters (docker ps's short form).
func (c *Collection) ByID(id string) (*Container, bool) {
	v := c.view.Load()
	if ct, ok := v.byID[id]; ok {
		return ct, true
	}
	if len(id) < 12 || len(id) >= 64 {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(v.all, id, func(ct *Container, id string) int {
		return strings.Compare(ct.ID, id)
	})
	if i < len(v.all) && strings.HasPrefix(v.all[i].ID, id) &&
		(i+1 == len(v.all) || !strings.HasPrefix(v.all[i+1].ID, id)) {
		return v.all[i], true
	}
	return nil, false
}

// ByNetNS returns the container whose network namespace has this inode.
// When several share it (a pod), the running one that owns the namespace
// (not joined with container:<id>) and started first is returned. The
// host's namespace answers nothing: the host and every host-network
// container share it, and only OwnerOfSocket tells them apart.
func (c *Collection) ByNetNS(inode uint64) (*Container, bool) {
	ct, ok := c.view.Load().byNetNS[inode]
	return ct, ok
}

// ByHostIface returns the container behind the host-side veth with this
// interface index.
func (c *Collection) ByHostIface(index int) (*Container, bool) {
	ct, ok := c.view.Load().byIface[index]
	return ct, ok
}

// ByAddr returns the container that owns a (bridged, non-host) address.
func (c *Collection) ByAddr(a netip.Addr) (*Container, bool) {
	ct, ok := c.view.Load().byAddr[a.Unmap()]
	return ct, ok
}

// ByPID returns the container a process belongs to: from the last /proc
// scan, or (on Linux) by reading the process's cgroup when the scan has not
// seen it yet.
func (c *Collection) ByPID(pid int) (*Container, bool) {
	if ct, ok := c.view.Load().byPID[pid]; ok {
		return ct, true
	}
	return c.byPIDSlow(pid)
}

// HostNetwork returns the containers that share the host's network
// namespace, exited ones (in their grace period) included.
func (c *Collection) HostNetwork() []*Container {
	return slices.Clone(c.view.Load().hostNet)
}

// Snapshot returns every container, exited ones in their grace period
// included, sorted by ID.
func (c *Collection) Snapshot() []*Container {
	return slices.Clone(c.view.Load().all)
}

// Subscribe calls fn for every change from now on, after calling it with
// an Added event for every container already known, so that the
// subscriber misses nothing and sees nothing twice. Calls are made one at
// a time, in order, from the source that saw the change: fn should be
// quick, and must not call Subscribe (the returned cancel is fine).
func (c *Collection) Subscribe(fn func(Event)) (cancel func()) {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	c.mu.Lock()
	ev := c.pending
	c.pending = nil
	v := c.view.Load()
	c.mu.Unlock()
	c.deliver(ev)
	c.subsMu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	c.subsMu.Unlock()
	for _, ct := range v.all {
		fn(Event{Type: Added, Container: ct})
	}
	return func() {
		c.subsMu.Lock()
		delete(c.subs, id)
		c.subsMu.Unlock()
	}
}

// flush delivers the queued events. Called without c.mu held.
func (c *Collection) flush() {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	c.mu.Lock()
	ev := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.deliver(ev)
}

func (c *Collection) deliver(ev []Event) {
	if len(ev) == 0 {
		return
	}
	c.subsMu.Lock()
	fns := make([]func(Event), 0, len(c.subs))
	for _, id := range slices.Sorted(maps.Keys(c.subs)) {
		fns = append(fns, c.subs[id])
	}
	c.subsMu.Unlock()
	for _, e := range ev {
		for _, fn := range fns {
			fn(e)
		}
	}
}

// update applies a change from a source under the lock, publishes the
// result and delivers the events it caused.
func (c *Collection) update(f func(st *state, now time.Time)) {
	c.mu.Lock()
	now := c.cfg.now()
	f(&c.st, now)
	added := c.rebuildLocked(now)
	c.mu.Unlock()
	c.flush()
	if added {
		c.kickNetlink()
	}
}

// kickNetlink asks the netlink source (if any) to map namespaces again.
func (c *Collection) kickNetlink() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// expire drops containers whose grace period is over.
func (c *Collection) expire() { c.update(func(*state, time.Time) {}) }

// rebuildLocked merges every record, drops those past their grace period,
// queues the events and publishes a new view. It reports whether a
// container was added, started running again or moved to another network
// namespace: the namespaces need mapping.
func (c *Collection) rebuildLocked(now time.Time) (added bool) {
	changed := false
	for id, r := range c.st.recs {
		if r.expired(now, c.cfg.grace) {
			delete(c.st.recs, id)
			if r.pub != nil {
				c.pending = append(c.pending, Event{Type: Removed, Container: r.pub})
				changed = true
			}
			continue
		}
		ct := c.merge(r)
		if ct == nil {
			continue
		}
		switch {
		case r.pub == nil:
			c.pending = append(c.pending, Event{Type: Added, Container: ct})
			added = true
		case !reflect.DeepEqual(r.pub, ct):
			c.pending = append(c.pending, Event{Type: Updated, Container: ct})
			if ct.Running() && (!r.pub.Running() || r.pub.NetNS != ct.NetNS) {
				added = true
			}
		default:
			continue
		}
		r.pub = ct
		changed = true
	}
	if changed || c.view.Load() == emptyView {
		c.view.Store(c.buildView())
	}
	return added
}

// merge builds a container from what its sources say; nil when no source
// knows enough to publish it yet.
func (c *Collection) merge(r *record) *Container {
	if !r.exited.IsZero() {
		// An exited container keeps the identity it had while running:
		// its veth and addresses are gone, but late packets still carry
		// them.
		if r.pub == nil {
			return nil // exited before it was ever published
		}
		if r.pub.Exited.Equal(r.exited) {
			return r.pub
		}
		ct := *r.pub
		ct.Exited = r.exited
		return &ct
	}
	if r.proc == nil && r.docker == nil {
		return nil
	}
	ct := &Container{ID: r.id}
	if p := r.proc; p != nil {
		ct.Runtime, ct.PID, ct.NetNS, ct.Started = p.runtime, p.pid, p.netNS, p.started
		ct.Pod.UID = p.podUID
	}
	if d := r.docker; d != nil {
		ct.Runtime = RuntimeDocker
		ct.Name, ct.Image, ct.Labels = d.name, d.image, d.labels
		ct.NetworkMode, ct.Privileged, ct.PidMode = d.networkMode, d.privileged, d.pidMode
		ct.Ports, ct.Mounts = d.ports, d.mounts
		if d.pid > 0 {
			ct.PID = d.pid
			if d.netNS != 0 {
				ct.NetNS = d.netNS
			}
		}
		if !d.started.IsZero() {
			ct.Started = d.started
		}
		ct.Pod.Name = d.labels["io.kubernetes.pod.name"]
		ct.Pod.Namespace = d.labels["io.kubernetes.pod.namespace"]
		if uid := d.labels["io.kubernetes.pod.uid"]; uid != "" {
			ct.Pod.UID = uid
		}
		ct.Addrs = d.addrs
	}
	ct.HostNetwork = ct.NetworkMode == "host" || (c.hostNS != 0 && ct.NetNS == c.hostNS)
	if ct.HostNetwork {
		ct.Addrs = nil
		if ct.NetworkMode == "" {
			ct.NetworkMode = "host"
		}
	} else if ni, ok := c.st.netByNS[ct.NetNS]; ok && ct.NetNS != 0 {
		ct.HostIfaces = ni.ifaces
		ct.Addrs = mergeAddrs(ct.Addrs, ni.addrs)
	}
	return ct
}

// mergeAddrs returns the sorted union of two address lists.
func mergeAddrs(a, b []netip.Addr) []netip.Addr {
	if len(b) == 0 {
		return a
	}
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// preferred reports whether a should answer a lookup that b also matches:
// running before exited, the owner of a shared namespace before those that
// joined it, the earlier start, then the smaller ID so that answers are
// stable.
func preferred(a, b *Container) bool {
	if a.Running() != b.Running() {
		return a.Running()
	}
	aj, bj := strings.HasPrefix(a.NetworkMode, "container:"), strings.HasPrefix(b.NetworkMode, "container:")
	if aj != bj {
		return !aj
	}
	if !a.Started.Equal(b.Started) && !a.Started.IsZero() && !b.Started.IsZero() {
		return a.Started.Before(b.Started)
	}
	return a.ID < b.ID
}

func putPreferred[K comparable](m map[K]*Container, k K, ct *Container) {
	if old, ok := m[k]; !ok || preferred(ct, old) {
		m[k] = ct
	}
}

// buildView indexes the published containers. Called with c.mu held.
func (c *Collection) buildView() *view {
	v := &view{
		byID:    make(map[string]*Container, len(c.st.recs)),
		byNetNS: map[uint64]*Container{},
		byIface: map[int]*Container{},
		byAddr:  map[netip.Addr]*Container{},
		byPID:   make(map[int]*Container, len(c.st.pids)),
	}
	for _, r := range c.st.recs {
		ct := r.pub
		if ct == nil {
			continue
		}
		v.all = append(v.all, ct)
		v.byID[ct.ID] = ct
		if ct.NetNS != 0 && !ct.HostNetwork {
			putPreferred(v.byNetNS, ct.NetNS, ct)
		}
		for _, ifc := range ct.HostIfaces {
			putPreferred(v.byIface, ifc.Index, ct)
		}
		if !ct.HostNetwork {
			for _, a := range ct.Addrs {
				putPreferred(v.byAddr, a.Unmap(), ct)
			}
		}
		if ct.PID > 0 && ct.Running() {
			// An exited container's PID may already be another process's.
			putPreferred(v.byPID, ct.PID, ct)
		}
		if ct.HostNetwork {
			v.hostNet = append(v.hostNet, ct)
		}
	}
	for pid, id := range c.st.pids {
		if r, ok := c.st.recs[id]; ok && r.pub != nil {
			if _, taken := v.byPID[pid]; !taken {
				v.byPID[pid] = r.pub
			}
		}
	}
	byID := func(a, b *Container) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(v.all, byID)
	slices.SortFunc(v.hostNet, byID)
	return v
}
