package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"outflow/capture/container"
	"outflow/detect"
	"outflow/detect/respond"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// The sensor's side of the posture detectors and the response: container
// metadata for the detectors, which side of a flow a container is on,
// published ports reached through the runtime's userland proxy, container
// exits, and the optional automatic isolation.

// postureState is kept under sensor.mu.
type postureState struct {
	published map[pubKey][]publisher // host port -> the running containers publishing it
	// What the host does with a container's published port, as seen:
	// proxied (the host held a connection to it) or forwarded (DNAT: the
	// container saw clients with their own addresses).
	proxied, dnat map[portOf]bool
	local         map[netip.Addr]bool // the host's own addresses
	respond       *autoResponder      // nil without --respond
}

// portOf is a container's published host port.
type portOf struct {
	id   string
	port uint16
}

type pubKey struct {
	proto uint8
	port  uint16
}

type publisher struct {
	hostIP netip.Addr // unspecified: every host address
	c      *container.Container
}

func detectMounts(ms []container.Mount) []detect.Mount {
	if len(ms) == 0 {
		return nil
	}
	out := make([]detect.Mount, len(ms))
	for i, m := range ms {
		out[i] = detect.Mount{Source: m.Source, Destination: m.Destination, RW: m.RW}
	}
	return out
}

func detectPorts(ps []container.PublishedPort) []detect.Port {
	if len(ps) == 0 {
		return nil
	}
	out := make([]detect.Port, len(ps))
	for i, p := range ps {
		out[i] = detect.Port{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Proto: p.Proto}
	}
	return out
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Inbound implements detect.InboundAttributor: the flow's container is its
// responder (marked by Attribute in the owner).
func (s *sensor) Inbound(f *flows.Flow) bool {
	return f.Owner != ownerDropped && f.Owner&ownerInbound != 0
}

// responderBit is ownerInbound when the flow, captured at container o's own
// interface, is addressed to one of its addresses.
func (s *sensor) responderBit(o uint32, f *flows.Flow) uint32 {
	i := s.info(o)
	if i == nil {
		return 0
	}
	dst, _ := f.Dst()
	da := flows.AddrOf(dst).Unmap()
	for _, a := range i.c.Addrs {
		if a == da {
			s.noteDNAT(i.c, f)
			return ownerInbound
		}
	}
	return 0
}

// viaProxy attributes a connection to a published host port, seen on a
// host interface, to the container publishing it, when the host's userland
// proxy (docker-proxy with --iptables=false, or userland-proxy setups)
// serves the port: the proxy accepts the connection and opens another from
// the bridge's gateway to the container, so the container's own view never
// shows the outside client. When the kernel forwards the port to the
// container (DNAT), the container's view has the client, and the host's
// view is not the container's:
//
//   - no host socket takes the connection (no proxy at all): DNAT;
//   - the connection itself is on the host: proxied (remembered per port);
//   - only the proxy's listener is found: the connection is proxied and
//     already closed (a sub-millisecond exchange ends before the lookup),
//     unless the container's view has shown the port's clients with their
//     own addresses (DNAT, remembered per port by responderBit).
func (s *sensor) viaProxy(proto uint8, sa netip.Addr, sp uint16, da netip.Addr, dp uint16) (uint32, bool) {
	if proto != decode.ProtoTCP {
		return 0, false
	}
	k := pubKey{proto, dp}
	pubs := s.posture.published[k]
	if len(pubs) == 0 {
		return 0, false
	}
	var c *container.Container
	for _, p := range pubs {
		if !p.hostIP.IsValid() || p.hostIP.IsUnspecified() || p.hostIP == da.Unmap() {
			if c != nil && c.ID != p.c.ID {
				return 0, false // two containers claim it: not certain
			}
			c = p.c
		}
	}
	if c == nil {
		return 0, false
	}
	accepts, conn := s.col.HostAccepts(netip.AddrPortFrom(da, dp), netip.AddrPortFrom(sa, sp))
	pk := portOf{c.ID, dp}
	switch {
	case !accepts:
		return 0, false
	case conn:
		s.posture.proxied[pk] = true
	case s.posture.dnat[pk] && !s.posture.proxied[pk]:
		return 0, false
	}
	return s.ownerOf(c) | ownerInbound, true
}

// noteDNAT remembers, from a connection the container accepted on its own
// interface, that the host forwards the port to it (DNAT): the client's
// address is not one of the host's, as the proxy's would be.
func (s *sensor) noteDNAT(c *container.Container, f *flows.Flow) {
	if len(c.Ports) == 0 || f.Proto != decode.ProtoTCP {
		return
	}
	src, _ := f.Src()
	_, dp := f.Dst()
	if s.posture.local[flows.AddrOf(src).Unmap()] {
		return
	}
	for _, p := range c.Ports {
		if p.Proto == "tcp" && p.ContainerPort == dp {
			if s.posture.dnat == nil {
				s.posture.dnat = map[portOf]bool{}
			}
			s.posture.dnat[portOf{c.ID, p.HostPort}] = true
		}
	}
}

// notePosture brings the sensor's view of the containers up to date (under
// mu): the published ports, the detectors' metadata of known containers,
// and their exits, which go to the detectors that follow life cycles.
func (s *sensor) notePosture(snap []*container.Container, now time.Time) {
	pub := map[pubKey][]publisher{}
	for _, c := range snap {
		if !c.Running() || c.HostNetwork {
			continue
		}
		for _, p := range c.Ports {
			if p.Proto != "tcp" {
				continue
			}
			k := pubKey{decode.ProtoTCP, p.HostPort}
			pub[k] = append(pub[k], publisher{hostIP: p.HostIP, c: c})
		}
	}
	s.posture.published = pub
	// Forget what is known of ports no longer published.
	for _, m := range []map[portOf]bool{s.posture.proxied, s.posture.dnat} {
		for k := range m {
			if !slices.ContainsFunc(pub[pubKey{decode.ProtoTCP, k.port}], func(p publisher) bool { return p.c.ID == k.id }) {
				delete(m, k)
			}
		}
	}
	if s.posture.proxied == nil {
		s.posture.proxied = map[portOf]bool{}
	}
	s.posture.local = hostAddrs(s.posture.local)
	for _, c := range snap {
		o, ok := s.owners[c.ID]
		if !ok {
			continue
		}
		i := s.byOwner[o]
		if i.c != c {
			i.c, i.dc = c, toDetect(c)
		}
		switch {
		case c.Running():
			i.exitNoted = false
		case !i.exitNoted:
			i.exitNoted = true
			if s.p != nil && s.p.detect != nil {
				s.p.detect.ContainerEvent(i.dc, now.UnixNano())
			}
		}
	}
}

// hostAddrs lists the host's own addresses (reusing m).
func hostAddrs(m map[netip.Addr]bool) map[netip.Addr]bool {
	if m == nil {
		m = map[netip.Addr]bool{}
	}
	clear(m)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return m
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			m[p.Addr().Unmap()] = true
		}
	}
	return m
}

// isolated reports whether a container's veth that has no capture open is
// administratively down (isolated by the response, or by hand): it is not
// opened, rather than opened, failed and reopened every second.
func (s *sensor) isolated(hi container.Iface) bool {
	s.mu.Lock()
	_, open := s.sources["veth/"+hi.Name]
	s.mu.Unlock()
	if open {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/net", hi.Name, "flags"))
	if err != nil {
		return false
	}
	flags, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
	return err == nil && flags&1 == 0 // IFF_UP
}

// autoResponder isolates the container of every alert at or above a
// severity (sense --respond isolate), once per container, off the packet
// path: alerts queue jobs, one goroutine acts and writes the events.
type autoResponder struct {
	r      *respond.Responder
	col    *container.Collection
	out    *ecs.Writer
	host   string
	log    *slog.Logger
	minSev int
	jobs   chan respondJob
	acted  map[string]bool // container IDs queued; under sensor.mu (AlertWritten runs there)
	wg     sync.WaitGroup
}

type respondJob struct {
	id, alertID, rule string
}

func newAutoResponder(r *respond.Responder, col *container.Collection, out *ecs.Writer, host string, minSev int, log *slog.Logger) *autoResponder {
	a := &autoResponder{r: r, col: col, out: out, host: host, log: log, minSev: minSev,
		jobs: make(chan respondJob, 64), acted: map[string]bool{}}
	a.wg.Add(1)
	go a.run()
	return a
}

// AlertWritten implements detect.AlertListener.
func (a *autoResponder) AlertWritten(al *detect.Alert, id string) {
	if al.Container == nil || al.Severity < a.minSev || a.acted[al.Container.ID] {
		return
	}
	select {
	case a.jobs <- respondJob{id: al.Container.ID, alertID: id, rule: al.Rule.Name}:
		a.acted[al.Container.ID] = true
	default:
		a.log.Warn("respond: queue full; container not isolated", "container", al.Container.Name, "alert_id", id)
	}
}

func (a *autoResponder) run() {
	defer a.wg.Done()
	for j := range a.jobs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var res *respond.Result
		var err error
		if c, ok := a.col.ByID(j.id); ok {
			res, err = a.r.Isolate(ctx, c, a.col.Snapshot(), j.alertID)
		} else {
			res = &respond.Result{Action: respond.ActionIsolate, AlertID: j.alertID, Time: time.Now(),
				Container: &container.Container{ID: j.id}}
			err = fmt.Errorf("%w: container %s is no longer known to discovery", respond.ErrRefused, j.id)
			res.Err = err
		}
		cancel()
		res.Rule = j.rule
		var d ecs.Doc
		res.Event(&d, a.host)
		if werr := a.out.Write(&d); werr != nil {
			a.log.Warn("respond: write event", "err", werr)
		}
		if err != nil {
			a.log.Warn("respond: isolation failed", "container", j.id, "alert_id", j.alertID, "err", err)
		} else {
			a.log.Info("respond: "+res.Message(), "container", j.id, "alert_id", j.alertID)
		}
	}
}

// stop waits for queued actions to finish.
func (a *autoResponder) stop() {
	close(a.jobs)
	a.wg.Wait()
}

// respondFlags are sense's state and response flags.
type respondFlags struct {
	mode     string
	minSev   int
	stateDir string // df.stateDir, once checked
}

func (rf *respondFlags) register(fs *pflag.FlagSet, df *detectFlags) {
	fs.StringVar(&df.stateDir, "state-dir", "", "`DIR` for state kept across restarts: the unexpected-destination baselines, and the isolation records of --respond (default: baselines in memory only)")
	fs.StringVar(&rf.mode, "respond", "", "`ACTION` on alerts at or above --respond-min-severity: \"isolate\" cuts the alert's container off the network (host-network containers are paused); needs --state-dir")
	fs.IntVar(&rf.minSev, "respond-min-severity", 3, "lowest alert severity (1-4) that --respond acts on")
}

// check validates the flags and makes the state directory.
func (rf *respondFlags) check(df *detectFlags) error {
	switch rf.mode {
	case "", respond.ActionIsolate:
	default:
		return fmt.Errorf("%w: --respond %q: the only action is \"isolate\"", errUsage, rf.mode)
	}
	if rf.minSev < 1 || rf.minSev > 4 {
		return fmt.Errorf("%w: --respond-min-severity %d: want 1 (low) to 4 (critical)", errUsage, rf.minSev)
	}
	if rf.mode != "" && df.stateDir == "" {
		return fmt.Errorf("%w: --respond needs --state-dir: the isolation records that outflow release restores from live there", errUsage)
	}
	if df.stateDir != "" {
		if err := os.MkdirAll(df.stateDir, 0o700); err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
	}
	rf.stateDir = df.stateDir
	return nil
}

// start hooks the automatic response to the alert writer; the returned
// func (nil without --respond) waits for the actions in flight.
func (rf *respondFlags) start(s *sensor, det *detection, out *ecs.Writer, dockerSocket string, log *slog.Logger) func() {
	if rf.mode == "" || det.alerts == nil {
		return nil
	}
	r := newResponder(filepath.Join(rf.stateDir, "isolation"), dockerSocket)
	ar := newAutoResponder(r, s.col, out, s.host, rf.minSev, log)
	s.mu.Lock()
	s.posture.respond = ar
	s.mu.Unlock()
	det.alerts.AddListener(ar)
	log.Info("respond: containers of alerts at or above the severity are isolated", "action", rf.mode, "min_severity", rf.minSev, "records", r.Dir)
	return ar.stop
}

// newResponder builds the responder, with the Docker API when its socket
// is there (to pause host-network containers).
func newResponder(dir, dockerSocket string) *respond.Responder {
	r := &respond.Responder{Dir: dir, Links: respond.Netlink{}}
	if _, err := os.Stat(dockerSocket); err == nil && dockerSocket != "" {
		r.Runtime = container.NewDockerControl(dockerSocket)
	}
	return r
}
