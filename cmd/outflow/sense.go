package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"outflow/capture"
	"outflow/capture/container"
	"outflow/capture/live"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// outflow sense: the sensor on a container host. It captures on every
// container's host-side veth (or inside the container's namespace when it
// has none) and, for host-network containers, on the host's own interfaces,
// and attributes every flow to the container that sent it.

const (
	ownerHost    uint32 = 0         // the host itself, or unknown
	ownerDropped uint32 = 1<<32 - 1 // a duplicate view of a bridged container's flow
	ownerFirst   uint32 = 1         // container owners start here
	// ownerInbound marks a container owner whose container is the flow's
	// responder (see sensor.Inbound).
	ownerInbound uint32 = 1 << 31
)

type senseFlags struct {
	ringFlags
	dockerSocket string
	procRoot     string
	rescan       time.Duration
	hostIfaces   []string
	includeHost  bool
}

func runSense(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sense", "usage: outflow sense [flags]\n\nWatches every container on this host, live, until SIGINT or SIGTERM.", stderr)
	var tf tableFlags
	tf.register(fs)
	var df detectFlags
	df.register(fs)
	var sf senseFlags
	output := fs.StringP("output", "o", "", "write records to `FILE` instead of standard output")
	writeFlows := fs.Bool("flows", false, "write one record per flow as well as the alerts")
	fs.StringVar(&sf.dockerSocket, "docker-socket", "/var/run/docker.sock", "Docker Engine API socket for container metadata (skipped when absent)")
	fs.StringVar(&sf.procRoot, "proc", "/proc", "proc file system to scan for containers")
	fs.DurationVar(&sf.rescan, "rescan", 5*time.Second, "rescan /proc and the host's interfaces this often (events are followed in between)")
	fs.StringSliceVar(&sf.hostIfaces, "host-ifaces", nil, "host interfaces to watch for host-network containers (default: every interface that is up, except loopback, bridges and container veths)")
	fs.BoolVar(&sf.includeHost, "include-host", false, "also report flows of the host itself (not of any container) seen on host interfaces")
	sf.register(fs, 256<<10, "per watched interface", "the sensor's counters (kernel drops, flows, alerts)")
	var xf ipfixFlags
	xf.register(fs)
	var rf respondFlags
	rf.register(fs, &df)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := rf.check(&df); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	log, err := newLogger(stderr, tf.logLevel)
	if err != nil {
		return err
	}
	tcfg, err := tf.config()
	if err != nil {
		return err
	}
	// Live: report growing flows twice a second so that volume evidence
	// is seen well within the one-second alerting budget.
	tcfg.UpdateInterval = 500 * time.Millisecond
	w, closeOut, err := openOutput(*output, stdout)
	if err != nil {
		return err
	}
	defer closeOut()
	out := ecs.NewWriter(w)

	// Without its capabilities the sensor would find no container and see
	// nothing, silently: say so at once.
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		if missing, ok := missingCaps(string(status)); ok && len(missing) > 0 {
			return fmt.Errorf("missing capabilities: %s; run as root, or grant them (e.g. a privileged container with --pid=host --network=host)",
				strings.Join(missing, ", "))
		}
	}
	opts := []container.Option{container.WithProcRoot(sf.procRoot), container.WithNetlink(), container.WithRescan(sf.rescan), container.WithLogger(log)}
	if _, err := os.Stat(sf.dockerSocket); err == nil {
		opts = append(opts, container.WithDocker(sf.dockerSocket))
	} else {
		log.Info("no Docker API socket; container names come from /proc only", "socket", sf.dockerSocket)
	}
	col, err := container.New(opts...)
	if err != nil {
		return fmt.Errorf("container discovery: %w", err)
	}
	defer col.Close()

	s := newSensor(col, sf, log)
	det, err := buildDetection(&df, out, s, log)
	if err != nil {
		return err
	}
	defer det.close()
	p := &pipeline{dec: decode.New(decode.Config{}), out: out, ifaces: &ifaceNames{}, start: time.Now()}
	s.p = p
	var obs flows.Observers
	if *writeFlows {
		obs = append(obs, flows.NewRecordWriter(out, append([]flows.Enricher{p.ifaces, s}, det.flowEnrich...)...))
	}
	if det.engine != nil {
		p.detect = det.engine
		obs = append(obs, det.engine)
	}
	// Live: a full export queue drops records (counted), never stalls capture.
	xp, err := xf.start(s, 0)
	if err != nil {
		return err
	}
	defer xp.close(log)
	if o := xp.observer(); o != nil {
		obs = append(obs, o)
	}
	var insp flows.Inspector
	if !tf.noL7 {
		p.l7 = l7.NewEngine(parsers(), l7.EngineConfig{})
		insp = flows.NewL7Inspector(p.l7)
	}
	p.table = flows.NewTable(tcfg, insp, ownerFilter{obs})
	p.table.SetAttributor(s)

	stopRespond := rf.start(s, det, out, sf.dockerSocket, log)
	err = s.run(ctx, out, det)
	if stopRespond != nil {
		stopRespond() // actions in flight finish and write their events
		if ferr := out.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// sensor owns the live sources and the container attribution.
type sensor struct {
	col *container.Collection
	cfg senseFlags
	log *slog.Logger
	p   *pipeline
	mu  sync.Mutex // serialises the pipeline: sources run in their own goroutines

	host string

	// Attribution state, under mu.
	owners    map[string]uint32     // container ID -> owner
	byOwner   map[uint32]*ownerInfo // owner -> metadata
	nextOwner uint32                // owners are never reused (2^31 of them before the ownerInbound bit): a flow's owner stays its container's
	pruned    uint64                // owners dropped after their container was gone ownerRetention
	ifaceOf   map[int]string        // interned interface id -> capture kind
	ifaceCtr  map[int]uint32        // interned interface id -> container owner (veths, namespaces)
	hostIf    map[int]bool          // interned interface ids that are host interfaces

	sources map[string]*liveSource // by source key
	closing bool                   // shutting down: sources stay listed for their counters
	// First sightings, so that a container's veth is not taken for a host
	// interface (or its namespace captured as well) while discovery is
	// still mapping it: the same packets at two capture points would be
	// counted twice.
	firstSeen map[string]time.Time
	wg        sync.WaitGroup
	drops     uint64 // kernel drops of sources that have ended
	captured  uint64 // packets the kernel counted on sources that have ended
	skipped   uint64 // packets of bridged containers seen again on host interfaces
	posture   postureState
}

type ownerInfo struct {
	c      *container.Container
	dc     *detect.Container
	labels []byte // container.labels as JSON, encoded once
	// exitNoted: the detectors were told of the container's exit.
	exitNoted bool
	// gone is when discovery stopped listing the container (its grace
	// period after exit is over); zero while listed.
	gone time.Time
}

// ownerRetention is how long a container's metadata is kept after
// discovery dropped it, so that its last flows (ended by the idle timeouts
// once it stopped sending) still get records and alerts naming it. Without
// a bound the registry would grow by one entry per container ever seen,
// which on a CI host is thousands a day.
const ownerRetention = 15 * time.Minute

// pruneOwners forgets containers that discovery has not listed for
// ownerRetention (under mu). Owner numbers are not reused, so a flow
// outliving its owner's entry is left unattributed, never given to another
// container.
func (s *sensor) pruneOwners(snap []*container.Container, now time.Time) {
	listed := make(map[string]bool, len(snap))
	for _, c := range snap {
		listed[c.ID] = true
	}
	for id, o := range s.owners {
		i := s.byOwner[o]
		switch {
		case listed[id]:
			i.gone = time.Time{}
		case i.gone.IsZero():
			i.gone = now
		case now.Sub(i.gone) > ownerRetention:
			delete(s.owners, id)
			delete(s.byOwner, o)
			for iface, io := range s.ifaceCtr {
				if io == o {
					delete(s.ifaceCtr, iface)
				}
			}
			s.pruned++
		}
	}
}

type liveSource struct {
	src  *live.Source
	key  string
	done chan struct{}
}

func newSensor(col *container.Collection, cfg senseFlags, log *slog.Logger) *sensor {
	host, _ := os.Hostname()
	return &sensor{col: col, cfg: cfg, log: log, host: host,
		owners: map[string]uint32{}, byOwner: map[uint32]*ownerInfo{}, nextOwner: ownerFirst,
		ifaceCtr: map[int]uint32{}, hostIf: map[int]bool{}, sources: map[string]*liveSource{},
		firstSeen: map[string]time.Time{}}
}

// ownerOf registers a container (under mu) and returns its owner number.
func (s *sensor) ownerOf(c *container.Container) uint32 {
	if o, ok := s.owners[c.ID]; ok {
		s.byOwner[o].c = c
		s.byOwner[o].dc = toDetect(c)
		return o
	}
	labels, _ := json.Marshal(c.Labels)
	o := s.nextOwner
	s.nextOwner++
	s.byOwner[o] = &ownerInfo{c: c, dc: toDetect(c), labels: labels}
	s.owners[c.ID] = o
	return o
}

func toDetect(c *container.Container) *detect.Container {
	mode := c.NetworkMode
	if c.HostNetwork {
		mode = "host"
	}
	return &detect.Container{ID: c.ID, Name: c.Name, Image: c.Image, Runtime: c.Runtime, NetworkMode: mode, Labels: c.Labels,
		HostNetwork: c.HostNetwork, Privileged: c.Privileged, PidMode: c.PidMode, Mounts: detectMounts(c.Mounts), Ports: detectPorts(c.Ports),
		Started: unixNano(c.Started), Exited: unixNano(c.Exited), PodNamespace: c.Pod.Namespace, PodName: c.Pod.Name}
}

func (s *sensor) info(o uint32) *ownerInfo {
	if o == ownerDropped {
		return nil
	}
	return s.byOwner[o&^ownerInbound]
}

// Attribute implements flows.Attributor: who sent a new flow. It runs with
// mu held (from the packet path).
func (s *sensor) Attribute(f *flows.Flow) uint32 {
	iface := int(f.Interface)
	if o, ok := s.ifaceCtr[iface]; ok {
		return o | s.responderBit(o, f)
	}
	if !s.hostIf[iface] {
		return ownerHost
	}
	src, sp := f.Src()
	dst, dp := f.Dst()
	sa, da := flows.AddrOf(src), flows.AddrOf(dst)
	if o, ok := s.viaProxy(f.Proto, sa, sp, da, dp); ok {
		return o
	}
	// Host-network containers: the local socket's owner.
	for i, try := range [2][2]netip.AddrPort{
		{netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)},
		{netip.AddrPortFrom(da, dp), netip.AddrPortFrom(sa, sp)},
	} {
		if c, ok := s.col.OwnerOfSocket(f.Proto, try[0], try[1]); ok && c != nil {
			o := s.ownerOf(c)
			if i == 1 {
				o |= ownerInbound // the container's socket is the responder's end
			}
			return o
		}
	}
	if s.cfg.includeHost {
		return ownerHost
	}
	return ownerDropped
}

// Container implements detect.Attributor.
func (s *sensor) Container(f *flows.Flow) *detect.Container {
	if i := s.info(f.Owner); i != nil {
		return i.dc
	}
	return nil
}

// EnrichFlow implements flows.Enricher: container and orchestrator fields.
func (s *sensor) EnrichFlow(f *flows.Flow, d *ecs.Doc) {
	d.Str("host.name", s.host)
	i := s.info(f.Owner)
	if i == nil {
		return
	}
	c := i.c
	d.Str("container.id", c.ID)
	d.Str("container.name", c.Name)
	d.Str("container.image.name", c.Image)
	d.Str("container.runtime", c.Runtime)
	if len(c.Labels) > 0 {
		d.Raw("container.labels", i.labels)
	}
	d.Str("outflow.container.network_mode", i.dc.NetworkMode)
	if c.NetNS != 0 {
		d.Uint("outflow.container.netns", c.NetNS)
	}
	if c.Pod.Name != "" {
		d.Str("orchestrator.type", "kubernetes")
		d.Str("orchestrator.namespace", c.Pod.Namespace)
		d.Str("orchestrator.resource.type", "pod")
		d.Str("orchestrator.resource.name", c.Pod.Name)
		d.Str("orchestrator.resource.id", c.Pod.UID)
	}
}

// EnrichAlert adds the same container context to alerts.
func (s *sensor) EnrichAlert(a *detect.Alert, d *ecs.Doc) {
	d.Str("host.name", s.host)
	if a.Container == nil {
		return
	}
	o, ok := s.owners[a.Container.ID]
	if !ok {
		return
	}
	i := s.info(o)
	if len(i.c.Labels) > 0 {
		d.Raw("container.labels", i.labels)
	}
	if i.c.NetNS != 0 {
		d.Uint("outflow.container.netns", i.c.NetNS)
	}
	if i.c.Pod.Name != "" {
		d.Str("orchestrator.type", "kubernetes")
		d.Str("orchestrator.namespace", i.c.Pod.Namespace)
		d.Str("orchestrator.resource.type", "pod")
		d.Str("orchestrator.resource.name", i.c.Pod.Name)
	}
}

// ownerFilter hides flows that are duplicate views (ownerDropped) from
// records and detectors.
type ownerFilter struct{ next flows.Observer }

func (o ownerFilter) FlowEvent(ev flows.Event, f *flows.Flow) {
	if f.Owner == ownerDropped || o.next == nil {
		return
	}
	o.next.FlowEvent(ev, f)
}

// run captures until ctx ends, then flushes every flow and alert.
func (s *sensor) run(ctx context.Context, out *ecs.Writer, det *detection) error {
	if det.alerts != nil {
		det.alerts.AddEnricher(s)
	}
	events := make(chan container.Event, 256)
	cancelSub := s.col.Subscribe(func(e container.Event) {
		select {
		case events <- e:
		default: // a full queue only delays until the next rescan
		}
	})
	defer cancelSub()
	if err := s.sync(); err != nil {
		return err
	}
	s.log.Info("sensor running", "sources", len(s.sources), "containers", len(s.col.Snapshot()))
	tick := time.NewTicker(100 * time.Millisecond) // timers and output flushes: bounds alert latency
	defer tick.Stop()
	resync := time.NewTicker(time.Second) // interfaces come and go between discovery events
	defer resync.Stop()
	stopStats := s.logStatsEvery(det)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-events:
			if err := s.sync(); err != nil {
				s.log.Warn("sync sources", "err", err)
			}
		case <-resync.C:
			if err := s.sync(); err != nil {
				s.log.Warn("sync sources", "err", err)
			}
		case now := <-tick.C:
			s.mu.Lock()
			s.p.table.Advance(now.UnixNano())
			if s.p.detect != nil {
				s.p.detect.Tick(now.UnixNano())
			}
			err := out.Flush()
			s.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	// Shutdown: stop the sources, then flush every open flow and alert.
	stopStats()
	s.mu.Lock()
	s.closing = true
	open := make([]*liveSource, 0, len(s.sources))
	for _, ls := range s.sources {
		open = append(open, ls)
	}
	s.mu.Unlock()
	for _, ls := range open { // not under mu: see sync
		ls.src.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.table.Flush(flows.EndEndOfInput)
	if s.p.detect != nil {
		s.p.detect.Flush()
	}
	kernelPackets, kernelDrops := s.kernelCounters()
	ferr := out.Flush()
	s.p.summary(s.log, "sensor stopped; open flows flushed", append([]any{"sources", len(s.sources), "kernel_packets", kernelPackets, "kernel_drops", kernelDrops,
		"host_view_duplicates_skipped", s.skipped, "containers_forgotten", s.pruned, "records", out.Count()}, det.summaryArgs()...)...)
	return ferr
}

// kernelCounters sums the kernel's packet and drop counters over every
// source, ended ones included. Callers hold mu.
func (s *sensor) kernelCounters() (packets, drops uint64) {
	packets, drops = s.captured, s.drops
	for _, ls := range s.sources {
		if st, err := ls.src.Stats(); err == nil {
			packets += st.Packets
			drops += st.Drops
		}
	}
	return packets, drops
}

// logStatsEvery logs the counters periodically so that drops show while
// the sensor runs, not only at exit. The returned func stops it.
func (s *sensor) logStatsEvery(det *detection) (stop func()) {
	if s.cfg.statsEvery <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(s.cfg.statsEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				kp, kd := s.kernelCounters()
				args := append([]any{"sources", len(s.sources), "kernel_packets", kp, "kernel_drops", kd,
					"host_view_duplicates_skipped", s.skipped, "containers_forgotten", s.pruned}, det.summaryArgs()...)
				s.p.summary(s.log, "sensor stats", args...)
				s.mu.Unlock()
			}
		}
	}()
	return func() { close(done) }
}

// sync opens sources for containers and host interfaces that have none,
// and forgets sources whose interface went away.
func (s *sensor) sync() error {
	now := time.Now()
	settle := 2 * time.Second
	seen := func(key string) time.Duration {
		t, ok := s.firstSeen[key]
		if !ok {
			s.firstSeen[key] = now
			return 0
		}
		return now.Sub(t)
	}
	want := map[string]live.Config{}
	owner := map[string]*container.Container{}
	hostNet := false
	known := map[int]bool{}
	snap := s.col.Snapshot()
	s.mu.Lock()
	s.notePosture(snap, now)
	s.pruneOwners(snap, now)
	s.mu.Unlock()
	for _, c := range snap {
		for _, hi := range c.HostIfaces {
			known[hi.Index] = true
		}
		if !c.Exited.IsZero() {
			continue
		}
		switch {
		case c.HostNetwork:
			hostNet = true
			s.mu.Lock()
			s.ownerOf(c)
			s.mu.Unlock()
		case len(c.HostIfaces) > 0:
			for _, hi := range c.HostIfaces {
				if s.isolated(hi) {
					continue // cut off by the response: nothing to see, and nothing to reopen each second
				}
				key := "veth/" + hi.Name
				want[key] = s.liveConfig(hi.Name, "")
				owner[key] = c
			}
		case c.PID > 0 && c.NetworkMode != "none" && seen("ctr/"+c.ID) > settle:
			// Still no veth in the host namespace after discovery has had
			// time to map it (macvlan, ipvlan, ...): capture inside the
			// container's namespace.
			key := "netns/" + strconv.FormatUint(c.NetNS, 10) + "/eth0"
			want[key] = s.liveConfig("eth0", filepath.Join(s.cfg.procRoot, strconv.Itoa(c.PID), "ns", "net"))
			owner[key] = c
		}
	}
	if hostNet || s.cfg.includeHost || len(s.cfg.hostIfaces) > 0 {
		for _, ifc := range s.hostInterfaces(known) {
			// A veth that just appeared may be a container's that
			// discovery has not mapped yet.
			if len(s.cfg.hostIfaces) == 0 && ifc.veth && seen("if/"+ifc.name) < settle {
				continue
			}
			cfg := s.liveConfig(ifc.name, "")
			// Host-network flows are attributed by looking up the local
			// socket when the first packet arrives; a short connection may
			// be closed by then, so these rings hand packets over at once.
			cfg.BlockTimeout = time.Millisecond
			want["host/"+ifc.name] = cfg
		}
	}
	// One capture point per interface: a host source on what turned out
	// to be a container's veth gives way to the container's.
	// Sources are closed without holding mu: their reader may be waiting
	// for it with a packet from the ring in hand.
	var retire []*liveSource
	s.mu.Lock()
	for key, ls := range s.sources {
		if _, ok := want[key]; !ok && len(key) > 5 && key[:5] == "host/" {
			retire = append(retire, ls)
		}
	}
	s.mu.Unlock()
	for _, ls := range retire {
		ls.src.Close()
	}
	var errs []error
	for key, cfg := range want {
		s.mu.Lock()
		_, have := s.sources[key]
		s.mu.Unlock()
		if have {
			continue
		}
		src, err := live.Open(cfg)
		if err != nil {
			var pe *live.PrivilegeError
			if errors.As(err, &pe) {
				return err // no point trying the others
			}
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		ls := &liveSource{src: src, key: key, done: make(chan struct{})}
		s.mu.Lock()
		id := s.p.ifaces.idNamed(key, cfg.Interface)
		if c := owner[key]; c != nil {
			s.ifaceCtr[id] = s.ownerOf(c)
		} else {
			s.hostIf[id] = true
		}
		s.sources[key] = ls
		s.mu.Unlock()
		s.log.Info("capturing", "source", key, "container", containerName(owner[key]))
		s.wg.Add(1)
		go s.read(ls, id)
	}
	return errors.Join(errs...)
}

func containerName(c *container.Container) string {
	if c == nil {
		return ""
	}
	return c.Name
}

func (s *sensor) liveConfig(iface, ns string) live.Config {
	return live.Config{Interface: iface, NetNS: ns, BlockTimeout: s.cfg.blockTimeout, BlockSize: s.cfg.blockSize, Blocks: s.cfg.blocks,
		PollTimeout: 100 * time.Millisecond}
}

type hostIface struct {
	name string
	veth bool
}

// hostInterfaces lists the host interfaces to watch for host-network
// containers: the configured ones, or every interface that is up except
// loopback, bridges (their traffic is on the member veths) and container
// veths.
func (s *sensor) hostInterfaces(containerIfaces map[int]bool) []hostIface {
	if len(s.cfg.hostIfaces) > 0 {
		out := make([]hostIface, len(s.cfg.hostIfaces))
		for i, n := range s.cfg.hostIfaces {
			out[i] = hostIface{name: n}
		}
		return out
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []hostIface
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || containerIfaces[ifc.Index] {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", ifc.Name, "bridge")); err == nil {
			continue
		}
		_, err := os.Stat(filepath.Join("/sys/class/net", ifc.Name, "brport"))
		if err == nil {
			continue // enslaved to a bridge: a container's veth in all but name
		}
		out = append(out, hostIface{name: ifc.Name, veth: isVeth(ifc.Name)})
	}
	return out
}

// isVeth tells a veth (or other paired device) from a NIC: its iflink is
// its peer's index, not its own.
func isVeth(name string) bool {
	idx, err1 := os.ReadFile(filepath.Join("/sys/class/net", name, "ifindex"))
	ifl, err2 := os.ReadFile(filepath.Join("/sys/class/net", name, "iflink"))
	return err1 == nil && err2 == nil && string(idx) != string(ifl)
}

// read runs one source until it is closed or fails.
func (s *sensor) read(ls *liveSource, iface int) {
	defer s.wg.Done()
	defer close(ls.done)
	var pkt capture.Packet
	for {
		err := ls.src.Next(&pkt)
		if errors.Is(err, capture.ErrTimeout) {
			continue
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Debug("capture stopped (interface gone?)", "source", ls.key, "err", err)
			}
			st, _ := ls.src.Stats()
			s.mu.Lock()
			s.drops += st.Drops
			s.captured += st.Packets
			if s.sources[ls.key] == ls && !s.closing {
				delete(s.sources, ls.key) // the next sync reopens it if it is still wanted
			}
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		if s.hostIf[iface] {
			s.handleHost(&pkt, iface)
		} else {
			s.p.handle(&pkt, iface)
		}
		s.mu.Unlock()
	}
}

// handleHost takes a packet seen on a host interface. A bridged container's
// packets also cross host interfaces when they are routed; they belong to
// the container's own capture point, so here they are skipped before they
// reach the flow table (which one view of a flow creates it first is a
// race).
func (s *sensor) handleHost(pkt *capture.Packet, iface int) {
	p := s.p
	p.packets++
	p.bytes += uint64(pkt.OrigLen)
	if p.dec.Decode(pkt, &p.hdr) != decode.OK {
		return
	}
	if s.bridged(p.hdr.Src) || s.bridged(p.hdr.Dst) {
		s.skipped++
		return
	}
	p.table.Add(&p.hdr, pkt.Timestamp, iface)
}

func (s *sensor) bridged(a decode.Addr) bool {
	c, ok := s.col.ByAddr(flows.AddrOf(a))
	return ok && !c.HostNetwork
}
