//go:build linux

package netlab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Bounds on what the kit waits for.
const (
	// CommandTimeout bounds one command run in a lab.
	CommandTimeout = 60 * time.Second
	// WaitTimeout bounds waiting for a port, a capture to start or stop,
	// a process to exit.
	WaitTimeout = 10 * time.Second

	pollInterval = 10 * time.Millisecond
	maxPolls     = int(WaitTimeout / pollInterval)
	// quietPolls of an unchanged capture file mean the traffic is over.
	quietPolls = 5
	ifaceName  = "veth0"
	// Lab links carry segmentation-offload packets of up to 64 KiB (the
	// kernel's default GSO limit). In immediate mode every packet takes a
	// ring slot of the snapshot length, so the snapshot length is just
	// above that limit rather than tcpdump's 256 KiB, and the buffer holds
	// about a thousand slots: enough for a lock-step TFTP transfer to go
	// on while tcpdump waits for a busy CPU. tcpdump's default (2 MiB of
	// 256 KiB slots) dropped packets of fast transfers.
	captureSnapLen   = 64<<10 + 256
	captureBufferKiB = 64 << 10
)

// Host is one side of a lab: its namespace, its end of the veth pair and
// the addresses on it. V6 is invalid when the kernel refused IPv6.
type Host struct {
	NS     string
	Iface  string
	V4, V6 netip.Addr
}

// Lab is two network namespaces, Client and Server, joined by a veth pair.
// Its methods that fail the test (Run, Start, Capture, WaitListen) must be
// called from the test's goroutine.
type Lab struct {
	Client, Server Host

	t       testing.TB
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	cancels []context.CancelFunc
	procs   map[*exec.Cmd]*proc
}

// proc is a background process started in the lab.
type proc struct {
	cmd  *exec.Cmd
	ns   string
	out  syncBuffer
	done chan struct{}
	err  error
}

var (
	labSeq atomic.Int32
	// Lab namespaces are named of-PID-N-cli and of-PID-N-srv.
	nsName = regexp.MustCompile(`^of-([0-9]+)-[0-9]+-(cli|srv)$`)
)

// New builds a lab, or skips the test where labs cannot be built (not
// root, no ip command, namespaces refused). Cleanup registered with t
// kills the lab's processes and deletes its namespaces and links.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "netlab: creating network namespaces needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip(t, "netlab: the ip command (iproute2) is not installed")
	}
	removeStale(t)

	n := labSeq.Add(1)
	prefix := fmt.Sprintf("of-%d-%d", os.Getpid(), n)
	sub := byte(n%250 + 1)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lab{
		Client: Host{NS: prefix + "-cli", Iface: ifaceName,
			V4: netip.AddrFrom4([4]byte{10, 231, sub, 1}),
			V6: netip.AddrFrom16([16]byte{0xfd, 0, 0x02, 0x31, 0, 0, 0, sub, 15: 1})},
		Server: Host{NS: prefix + "-srv", Iface: ifaceName,
			V4: netip.AddrFrom4([4]byte{10, 231, sub, 2}),
			V6: netip.AddrFrom16([16]byte{0xfd, 0, 0x02, 0x31, 0, 0, 0, sub, 15: 2})},
		t: t, ctx: ctx, cancel: cancel, procs: map[*exec.Cmd]*proc{},
	}
	if err := ip("netns", "add", l.Client.NS); err != nil {
		cancel()
		skip(t, fmt.Sprintf("netlab: cannot create a network namespace: %v", err))
	}
	t.Cleanup(l.cleanup)
	steps := [][]string{
		{"netns", "add", l.Server.NS},
		// Created inside the namespaces: the pair never exists, even
		// briefly, in the caller's namespace. Distinct interface indexes:
		// a veth whose index equals its peer's looks unstacked to the
		// kernel's link watcher, which then delays the carrier event by
		// up to a second, and IPv6 neighbour discovery fails meanwhile.
		{"-n", l.Client.NS, "link", "add", ifaceName, "index", "10", "type", "veth", "peer", "name", ifaceName, "index", "11", "netns", l.Server.NS},
		{"-n", l.Client.NS, "addr", "add", l.Client.V4.String() + "/24", "dev", ifaceName},
		{"-n", l.Server.NS, "addr", "add", l.Server.V4.String() + "/24", "dev", ifaceName},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netlab: %v", err)
		}
	}
	// nodad: the addresses are usable at once, not after duplicate address
	// detection. A kernel without IPv6 leaves the lab IPv4 only.
	for _, h := range []*Host{&l.Client, &l.Server} {
		if err := ip("-n", h.NS, "addr", "add", h.V6.String()+"/64", "dev", ifaceName, "nodad"); err != nil {
			t.Logf("netlab: no IPv6 in the lab: %v", err)
			l.Client.V6, l.Server.V6 = netip.Addr{}, netip.Addr{}
			break
		}
	}
	for _, h := range []Host{l.Client, l.Server} {
		for _, dev := range []string{"lo", ifaceName} {
			if err := ip("-n", h.NS, "link", "set", dev, "up"); err != nil {
				t.Fatalf("netlab: %v", err)
			}
		}
	}
	for _, h := range []Host{l.Client, l.Server} {
		if err := waitUp(h.NS); err != nil {
			t.Fatalf("netlab: %v", err)
		}
	}
	return l
}

// waitUp waits, bounded, until the lab link in ns is operationally up.
func waitUp(ns string) error {
	var out []byte
	var err error
	deadline := time.Now().Add(WaitTimeout)
	for i := 0; i < maxPolls && time.Now().Before(deadline); i++ {
		out, err = exec.Command("ip", "-n", ns, "-o", "link", "show", ifaceName).CombinedOutput()
		if err == nil && bytes.Contains(out, []byte(" state UP ")) {
			return nil
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("%s in %s not up after %v: %v %s", ifaceName, ns, WaitTimeout, err, bytes.TrimSpace(out))
}

// Require skips the test unless every tool is on PATH.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, fmt.Sprintf("netlab: %s is not installed", tool))
		}
	}
}

// ip runs the ip command outside the lab.
func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Command returns cmd to run name inside namespace ns, in a process group
// of its own, killed with its group after CommandTimeout or when the lab
// is torn down.
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(l.ctx, CommandTimeout)
	l.mu.Lock()
	l.cancels = append(l.cancels, cancel)
	l.mu.Unlock()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	// ip netns exec execs name, so the group is name's and its children's.
	// Pdeathsig: a test binary killed before its cleanup (a -timeout
	// panic) takes its servers with it, at least those that keep their
	// credentials; New removes what is left of dead tests' labs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func killGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// Run runs name in namespace ns to completion and returns its combined
// output; it fails the test if name fails.
func (l *Lab) Run(ns, name string, args ...string) []byte {
	l.t.Helper()
	out, err := l.Command(ns, name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("netlab: %s %s in %s: %v\n%s", name, strings.Join(args, " "), ns, err, out)
	}
	return out
}

// Start starts name in namespace ns in the background. It is killed, with
// its process group, when the test ends; Output has what it printed.
func (l *Lab) Start(ns, name string, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := l.Command(ns, name, args...)
	l.start(cmd, ns)
	return cmd
}

func (l *Lab) start(cmd *exec.Cmd, ns string) *proc {
	l.t.Helper()
	p := &proc{cmd: cmd, ns: ns, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("netlab: start %s in %s: %v", cmd.Args[4], ns, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs[cmd] = p
	l.mu.Unlock()
	// Registered now, so it runs before the cleanup of anything the test
	// made earlier (temporary directories the process uses).
	l.t.Cleanup(func() { l.stop(p) })
	return p
}

// stop kills p's process group and waits for it, bounded.
func (l *Lab) stop(p *proc) {
	select {
	case <-p.done:
	default:
		killGroup(p.cmd, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(WaitTimeout):
			l.t.Errorf("netlab: %s (pid %d) did not exit when killed", p.cmd.Args[4], p.cmd.Process.Pid)
		}
	}
	if l.t.Failed() {
		if out := p.out.String(); out != "" {
			l.t.Logf("netlab: output of %s in %s:\n%s", strings.Join(p.cmd.Args[4:], " "), p.ns, out)
		}
	}
}

// Output returns what a process from Start has printed so far.
func (l *Lab) Output(cmd *exec.Cmd) string {
	l.mu.Lock()
	p := l.procs[cmd]
	l.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.out.String()
}

// WaitListen waits until something in namespace ns listens on port with
// proto ("tcp" or "udp"). It fails the test after WaitTimeout, or at once
// when a process started in ns exits first.
func (l *Lab) WaitListen(ns, proto string, port uint16) {
	l.t.Helper()
	flag := map[string]string{"tcp": "-ltn", "udp": "-lun"}[proto]
	if flag == "" {
		l.t.Fatalf("netlab: WaitListen: proto %q, want tcp or udp", proto)
	}
	suffix := ":" + strconv.Itoa(int(port))
	deadline := time.Now().Add(WaitTimeout)
	var lastErr error
	for i := 0; i < maxPolls && time.Now().Before(deadline); i++ {
		out, err := exec.Command("ss", "-N", ns, "-H", flag).CombinedOutput()
		if err != nil {
			lastErr = fmt.Errorf("ss: %w: %s", err, bytes.TrimSpace(out))
		}
		for _, line := range strings.Split(string(out), "\n") {
			// State Recv-Q Send-Q Local:Port Peer:Port
			if f := strings.Fields(line); len(f) >= 4 && strings.HasSuffix(f[3], suffix) {
				return
			}
		}
		if p := l.exited(ns); p != nil {
			l.t.Fatalf("netlab: waiting for %s port %d in %s: %s exited (%v):\n%s",
				proto, port, ns, strings.Join(p.cmd.Args[4:], " "), p.err, p.out.String())
		}
		time.Sleep(pollInterval)
	}
	l.t.Fatalf("netlab: nothing listens on %s port %d in %s after %v (%v)", proto, port, ns, WaitTimeout, lastErr)
}

// exited returns a started process of namespace ns that has exited.
func (l *Lab) exited(ns string) *proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.ns != ns {
			continue
		}
		select {
		case <-p.done:
			return p
		default:
		}
	}
	return nil
}

// Capture starts tcpdump on iface in namespace ns, writing every packet
// whole (up to 64 KiB and a little) to path, and returns once it is capturing. filter is an optional
// BPF expression. The returned stop waits for the traffic to go quiet,
// stops tcpdump and waits until it has written and closed the file; it
// fails the test if tcpdump fails or the kernel dropped packets. Cleanup
// stops it too.
func (l *Lab) Capture(ns, iface, path string, filter ...string) (stop func()) {
	l.t.Helper()
	// -U and --immediate-mode: each packet reaches the file as it arrives,
	// so the file is complete once the traffic is over; -Z root: keep the
	// right to write where the test asks.
	args := append([]string{"-i", iface, "-w", path, "-U", "-s", strconv.Itoa(captureSnapLen), "-B", strconv.Itoa(captureBufferKiB), "--immediate-mode", "-n", "-Z", "root"}, filter...)
	cmd := l.Command(ns, "tcpdump", args...)
	w := &lineWatch{want: "listening on", seen: make(chan struct{})}
	cmd.Stderr = w
	p := l.start(cmd, ns)
	select {
	case <-w.seen:
	case <-p.done:
		l.t.Fatalf("netlab: tcpdump in %s exited (%v):\n%s", ns, p.err, w.String())
	case <-time.After(WaitTimeout):
		l.t.Fatalf("netlab: tcpdump in %s not capturing after %v:\n%s", ns, WaitTimeout, w.String())
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			waitQuiet(path)
			killGroup(cmd, syscall.SIGINT)
			select {
			case <-p.done:
			case <-time.After(WaitTimeout):
				l.t.Errorf("netlab: tcpdump in %s did not stop after %v", ns, WaitTimeout)
				return
			}
			if p.err != nil {
				l.t.Errorf("netlab: tcpdump in %s: %v\n%s", ns, p.err, w.String())
				return
			}
			switch n := dropped(w.String()); {
			case n < 0:
				l.t.Errorf("netlab: tcpdump in %s wrote no closing statistics:\n%s", ns, w.String())
			case n > 0:
				l.t.Errorf("netlab: tcpdump in %s: the kernel dropped %d packets; the capture is incomplete", ns, n)
			}
		})
	}
	l.t.Cleanup(stop)
	return stop
}

// waitQuiet waits, bounded, until the file at path stops growing.
func waitQuiet(path string) {
	var last int64 = -1
	quiet := 0
	deadline := time.Now().Add(WaitTimeout)
	for i := 0; i < maxPolls && quiet < quietPolls && time.Now().Before(deadline); i++ {
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		if size == last {
			quiet++
		} else {
			quiet, last = 0, size
		}
		time.Sleep(pollInterval)
	}
}

var droppedRE = regexp.MustCompile(`(?m)^([0-9]+) packets? dropped by kernel`)

// dropped reads tcpdump's closing statistics; -1 when they are missing.
func dropped(stderr string) int {
	m := droppedRE.FindStringSubmatch(stderr)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// cleanup tears the lab down: processes first, so nothing holds the
// namespaces, then the link and the namespaces. It runs after the test,
// failed or not.
func (l *Lab) cleanup() {
	l.mu.Lock()
	procs := make([]*proc, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	cancels := l.cancels
	l.mu.Unlock()
	for _, p := range procs {
		l.stop(p)
	}
	l.cancel()
	for _, c := range cancels {
		c()
	}
	for _, ns := range []string{l.Client.NS, l.Server.NS} {
		killNamespace(ns)
	}
	ip("-n", l.Client.NS, "link", "del", ifaceName) // also removes the peer
	for _, ns := range []string{l.Client.NS, l.Server.NS} {
		if err := ip("netns", "del", ns); err != nil && namespaceExists(ns) {
			l.t.Errorf("netlab: %v", err)
		}
	}
}

// killNamespace kills whatever still runs in ns: only the lab's own
// processes and their children can be there.
func killNamespace(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func namespaces() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func namespaceExists(ns string) bool {
	for _, n := range namespaces() {
		if n == ns {
			return true
		}
	}
	return false
}

// removeStale deletes the namespaces of labs whose test process died
// before its cleanup ran (killed by a timeout, say).
func removeStale(t testing.TB) {
	for _, ns := range namespaces() {
		m := nsName.FindStringSubmatch(ns)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		killNamespace(ns)
		if err := ip("netns", "del", ns); err != nil {
			t.Logf("netlab: stale namespace %s: %v", ns, err)
		} else {
			t.Logf("netlab: removed stale namespace %s", ns)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writer goroutine and
// the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatch collects output and closes seen once it contains want.
type lineWatch struct {
	syncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWatch) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}
