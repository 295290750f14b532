//go:build linux

package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// platform holds the Linux-only parts of a Collection.
type platform struct {
	sock *socketResolver
}

// close releases the sock_diag socket; OwnerOfSocket opens another if
// called afterwards.
func (p *platform) close() {
	if s := p.sock; s != nil {
		s.diagMu.Lock()
		if s.diag != nil {
			s.diag.Close()
			s.diag = nil
		}
		s.diagMu.Unlock()
	}
}

// Bounds on a /proc scan.
const (
	// maxProcFile bounds a read of /proc/PID/cgroup or stat.
	maxProcFile = 64 << 10
	// maxScanPIDs bounds the processes one scan looks at (the kernel's
	// pid_max is at most 4 Mi; real hosts run thousands).
	maxScanPIDs = 1 << 20
	// userHZ is the unit of /proc/PID/stat's start time: the kernel
	// reports it in USER_HZ, 100 on every architecture Linux runs
	// containers on.
	userHZ = 100
)

// New discovers the containers running now with the chosen sources and
// keeps following them until Close. /proc is always scanned. An error
// names what could not be read; a *PrivilegeError names the capability
// that was missing.
func New(opts ...Option) (*Collection, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := newCollection(cfg)
	if c.hostNS, err = hostNetNS(cfg.procRoot); err != nil {
		return nil, err
	}
	c.plat.sock = newSocketResolver(c)
	if err := c.rescan(); err != nil {
		return nil, err
	}
	if cfg.dockerSocket != "" {
		if err := c.startDocker(cfg.dockerSocket); err != nil {
			c.Close()
			return nil, err
		}
	}
	if cfg.netlink {
		if err := c.startNetlink(); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.goRun(c.rescanLoop)
	return c, nil
}

// hostNetNS is the network namespace of PID 1 or, when a sandbox hides
// PID 1 from us, our own: the namespace whose sockets and links netlink
// shows the sensor.
func hostNetNS(root string) (uint64, error) {
	ns, err := readNetNSOf(root, "1")
	if err == nil {
		return ns, nil
	}
	var pe *PrivilegeError
	if errors.As(err, &pe) || errors.Is(err, fs.ErrNotExist) {
		if self, serr := readNetNSOf(root, "self"); serr == nil {
			return self, nil
		}
	}
	return 0, fmt.Errorf("host network namespace: %w", err)
}

// readNetNS returns the inode of a process's network namespace. It reads
// the text of the /proc/PID/ns/net link, "net:[4026531840]", whose number
// is the namespace's nsfs inode (what stat would return): this needs the
// same ptrace access as stat, and lets fixture trees made of plain
// symlinks stand in for /proc.
func readNetNS(root string, pid int) (uint64, error) {
	return readNetNSOf(root, strconv.Itoa(pid))
}

func readNetNSOf(root, pid string) (uint64, error) {
	p := filepath.Join(root, pid, "ns", "net")
	link, err := os.Readlink(p)
	if err != nil {
		if isPermission(err) {
			return 0, &PrivilegeError{Op: "read " + p, Capability: capProc, Err: err}
		}
		return 0, err
	}
	ns, ok := parseNSLink(link, "net")
	if !ok {
		return 0, fmt.Errorf("%s: unexpected link %q", p, link)
	}
	return ns, nil
}

// rescanLoop scans /proc every rescan interval and drops expired
// containers often enough to honour short grace periods.
func (c *Collection) rescanLoop() {
	scan := time.NewTicker(c.cfg.rescan)
	defer scan.Stop()
	exp := time.NewTicker(min(max(c.cfg.grace/4, 10*time.Millisecond), c.cfg.rescan, time.Second))
	defer exp.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-scan.C:
			if err := c.rescan(); err != nil {
				c.stats.rescanErrors.Add(1)
				c.cfg.log.Warn("proc rescan", "err", err)
			}
		case <-exp.C:
			c.expireIfDue()
		}
	}
}

// expireIfDue rebuilds only when a container's grace period is over.
func (c *Collection) expireIfDue() {
	c.mu.Lock()
	now := c.cfg.now()
	due := false
	for _, r := range c.st.recs {
		if r.expired(now, c.cfg.grace) {
			due = true
			break
		}
	}
	c.mu.Unlock()
	if due {
		c.expire()
	}
}

// rescan scans /proc and applies what it found.
func (c *Collection) rescan() error {
	c.stats.rescans.Add(1)
	found, pids, err := scanProc(c.cfg.procRoot)
	if err != nil {
		return err
	}
	c.update(func(st *state, now time.Time) {
		for id, r := range st.recs {
			if found[id] != nil || r.proc == nil {
				continue
			}
			r.proc = nil
			// Docker, when it knows the container, says when it exits.
			if r.docker == nil {
				r.markExited(now, now)
			}
		}
		for id, p := range found {
			r := st.recs[id]
			if r == nil {
				r = &record{id: id}
				st.recs[id] = r
			}
			r.proc = p
			if r.docker == nil {
				r.markRunning() // back (Podman keeps IDs across restarts)
			}
		}
		st.pids = pids
	})
	c.plat.sock.resetPIDs()
	return nil
}

// procEntry is one process of a container seen by a scan.
type procEntry struct {
	pid, ppid int
	start     uint64 // clock ticks after boot
}

// scanProc reads every process's cgroup under root and returns the
// containers found, and every container process's PID with its container
// ID. Processes that vanish during the scan are skipped.
func scanProc(root string) (map[string]*procInfo, map[int]string, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, nil, fmt.Errorf("proc scan: %w", err)
	}
	names, err := d.Readdirnames(maxScanPIDs)
	d.Close()
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("proc scan %s: %w", root, err)
	}
	btime := bootTime(root)
	groups := map[string][]procEntry{}
	infos := map[string]CgroupInfo{}
	pids := map[int]string{}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		data, err := readLimited(filepath.Join(root, name, "cgroup"))
		if err != nil {
			continue
		}
		info, ok := ParseCgroup(data)
		if !ok {
			continue
		}
		e := procEntry{pid: pid}
		if stat, err := readLimited(filepath.Join(root, name, "stat")); err == nil {
			e.ppid, e.start, _ = parseStat(stat)
		}
		groups[info.ID] = append(groups[info.ID], e)
		infos[info.ID] = info
		pids[pid] = info.ID
	}
	out := make(map[string]*procInfo, len(groups))
	for id, es := range groups {
		init := initProcess(es)
		info := infos[id]
		p := &procInfo{runtime: info.Runtime, podUID: info.PodUID, pid: init.pid}
		if !btime.IsZero() && init.start > 0 {
			p.started = btime.Add(time.Duration(init.start) * (time.Second / userHZ))
		}
		ns, err := readNetNS(root, init.pid)
		var pe *PrivilegeError
		switch {
		case errors.As(err, &pe):
			return nil, nil, err
		case err == nil:
			p.netNS = ns
		}
		out[id] = p
	}
	return out, pids, nil
}

// initProcess picks a container's first process: the one whose parent is
// outside the container (runc's child of the shim), the earliest started
// and then the lowest PID among several.
func initProcess(es []procEntry) procEntry {
	in := make(map[int]bool, len(es))
	for _, e := range es {
		in[e.pid] = true
	}
	best := -1
	for i, e := range es {
		if best >= 0 {
			b := es[best]
			bo, eo := !in[b.ppid], !in[e.ppid]
			if bo != eo {
				if eo {
					best = i
				}
				continue
			}
			if e.start != b.start {
				if e.start < b.start {
					best = i
				}
				continue
			}
			if e.pid < b.pid {
				best = i
			}
			continue
		}
		best = i
	}
	return es[best]
}

// parseStat returns the parent PID and start time (clock ticks after
// boot) from /proc/PID/stat. The command name, in parentheses, may hold
// spaces and parentheses itself: fields are counted after the last ')'.
func parseStat(b []byte) (ppid int, start uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return 0, 0, false
	}
	pp, err1 := strconv.Atoi(f[1])
	st, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pp, st, true
}

// bootTime reads btime from root/stat; zero when absent.
func bootTime(root string) time.Time {
	b, err := readLimited(filepath.Join(root, "stat"))
	if err != nil {
		return time.Time{}
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s > 0 {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
}

// readLimited reads at most maxProcFile bytes of a file.
func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxProcFile))
}

// byPIDSlow reads the cgroup of a process the last scan did not see.
func (c *Collection) byPIDSlow(pid int) (*Container, bool) {
	if c.plat.sock == nil {
		return nil, false
	}
	id, ok := c.plat.sock.containerOfPID(pid)
	if !ok || id == "" {
		return nil, false
	}
	return c.ByID(id)
}
