//go:build linux

package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// E2ERequireEnv turns the end-to-end test's skips (not root, no Docker)
// into failures, for a CI that must not pass by skipping.
const E2ERequireEnv = "OUTFLOW_E2E_REQUIRE"

// helperEnv makes the test binary run New once and print the error: the
// end-to-end test runs it as an unprivileged user.
const helperEnv = "OUTFLOW_CONTAINER_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "new" {
		c, err := New(WithNetlink())
		if err == nil {
			c.Close()
		}
		fmt.Println("New:", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Bounds on the end-to-end test's waits.
const (
	e2eCmdTimeout = 60 * time.Second
	e2eWait       = 15 * time.Second
	e2eGrace      = 1500 * time.Millisecond
)

func e2eSkip(t *testing.T, reason string) {
	t.Helper()
	if v := os.Getenv(E2ERequireEnv); v != "" && v != "0" {
		t.Fatalf("%s (and %s is set)", reason, E2ERequireEnv)
	}
	t.Skip(reason)
}

// requireDocker skips unless the test can run containers: root, a Docker
// daemon answering, and a busybox binary to build the image from.
func requireDocker(t *testing.T) (busybox string) {
	t.Helper()
	if os.Geteuid() != 0 {
		e2eSkip(t, "end-to-end container test needs root")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		e2eSkip(t, "no docker command")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		e2eSkip(t, "no ip command")
	}
	if _, err := os.Stat(DefaultDockerSocket); err != nil {
		e2eSkip(t, "no Docker socket: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		e2eSkip(t, fmt.Sprintf("docker info: %v: %s", err, bytes.TrimSpace(out)))
	}
	for _, p := range []string{"/usr/bin/busybox", "/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	e2eSkip(t, "no busybox (busybox-static) to build the test image from")
	return ""
}

// run runs a command, bounded, and returns its trimmed standard output.
func run(t *testing.T, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return strings.TrimSpace(out.String())
}

// cleanupRun runs a cleanup command, bounded, reporting failures.
func cleanupRun(t *testing.T, name string, args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), e2eCmdTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Logf("cleanup %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// buildImage imports a one-binary busybox image and removes it at the end.
func buildImage(t *testing.T, busybox, tag string) {
	t.Helper()
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "sleep", "wget", "nc", "ip", "cat", "ls", "ps"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { cleanupRun(t, "docker", "rmi", "-f", tag) })
	run(t, nil, "sh", "-c", `tar -C "$1" -cf - . | docker import - "$2"`, "sh", rootfs, tag)
}

// startContainer runs `sleep 300` and removes the container at the end.
func startContainer(t *testing.T, image, name string, extra ...string) {
	t.Helper()
	t.Cleanup(func() { cleanupRun(t, "docker", "rm", "-f", name) })
	args := append([]string{"run", "-d", "--name", name, "--label", "outflow.test=container-e2e"}, extra...)
	run(t, nil, "docker", append(args, image, "sleep", "300")...)
}

// expected is what the host itself says about a container.
type expected struct {
	id, name string
	pid      int
	netNS    uint64
	addr     netip.Addr
	iface    Iface // host end of eth0; zero for host network
}

var ipLinkRE = regexp.MustCompile(`(?m)^(\d+): ([^:@\s]+)(?:@[^:\s]+)?:`)

func inspectExpected(t *testing.T, name string, hostNet bool) expected {
	t.Helper()
	out := run(t, nil, "docker", "inspect", "-f", "{{.Id}} {{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name)
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("docker inspect %s: %q", name, out)
	}
	e := expected{id: f[0], name: name}
	e.pid, _ = strconv.Atoi(f[1])
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", e.pid), &st); err != nil {
		t.Fatal(err)
	}
	e.netNS = st.Ino
	if hostNet {
		return e
	}
	if len(f) < 3 {
		t.Fatalf("docker inspect %s: no address in %q", name, out)
	}
	e.addr = netip.MustParseAddr(f[2])
	iflink, err := strconv.Atoi(run(t, nil, "docker", "exec", name, "cat", "/sys/class/net/eth0/iflink"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ipLinkRE.FindAllStringSubmatch(run(t, nil, "ip", "-o", "link", "show"), -1) {
		if idx, _ := strconv.Atoi(m[1]); idx == iflink {
			e.iface = Iface{Name: m[2], Index: idx}
		}
	}
	if e.iface.Name == "" {
		t.Fatalf("ip link shows no interface %d (eth0's peer in %s)", iflink, name)
	}
	return e
}

// waitUntil polls cond until it holds, failing the test after e2eWait.
func waitUntil(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after %v", what, err, e2eWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEndToEndDocker(t *testing.T) {
	busybox := requireDocker(t)
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	image := "outflow-container-e2e:" + suffix
	buildImage(t, busybox, image)
	names := map[string]string{"a": "ofce2e-a-" + suffix, "b": "ofce2e-b-" + suffix, "h": "ofce2e-h-" + suffix}
	startContainer(t, image, names["a"])
	startContainer(t, image, names["b"], "-p", "127.0.0.1::8080")
	startContainer(t, image, names["h"], "--network=host")
	want := map[string]expected{
		"a": inspectExpected(t, names["a"], false),
		"b": inspectExpected(t, names["b"], false),
		"h": inspectExpected(t, names["h"], true),
	}

	c, err := New(WithDocker(DefaultDockerSocket), WithNetlink(), WithRescan(200*time.Millisecond),
		WithGrace(e2eGrace), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	log := subscribe(t, c)

	for _, k := range []string{"a", "b", "h"} {
		w := want[k]
		waitUntil(t, "discovery of "+w.name, func() error {
			ct, ok := c.ByID(w.id)
			switch {
			case !ok:
				return fmt.Errorf("not found")
			case ct.Name != w.name || ct.Image != image || ct.Runtime != RuntimeDocker:
				return fmt.Errorf("name %q image %q runtime %q", ct.Name, ct.Image, ct.Runtime)
			case ct.PID != w.pid || ct.NetNS != w.netNS:
				return fmt.Errorf("pid %d netns %d; want %d %d", ct.PID, ct.NetNS, w.pid, w.netNS)
			case ct.HostNetwork != (k == "h"):
				return fmt.Errorf("host network %v", ct.HostNetwork)
			case k != "h" && !slices.Equal(ct.HostIfaces, []Iface{w.iface}):
				return fmt.Errorf("host interfaces %v; want %v", ct.HostIfaces, w.iface)
			case k != "h" && !slices.Contains(ct.Addrs, w.addr):
				return fmt.Errorf("addresses %v; want %v", ct.Addrs, w.addr)
			}
			return nil
		})
		ct, _ := c.ByID(w.id)
		if got, ok := c.ByNetNS(w.netNS); ok != (k != "h") || (ok && got != ct) {
			t.Errorf("ByNetNS(%d) = %v, %v", w.netNS, got, ok)
		}
		if got, ok := c.ByPID(w.pid); !ok || got != ct {
			t.Errorf("ByPID(%d) = %v, %v", w.pid, got, ok)
		}
		if k == "h" {
			if ct.NetworkMode != "host" || len(ct.Addrs) != 0 || len(ct.HostIfaces) != 0 {
				t.Errorf("host-network container: %+v", ct)
			}
			continue
		}
		if got, ok := c.ByHostIface(w.iface.Index); !ok || got != ct {
			t.Errorf("ByHostIface(%d) = %v, %v", w.iface.Index, got, ok)
		}
		if got, ok := c.ByAddr(w.addr); !ok || got != ct {
			t.Errorf("ByAddr(%v) = %v, %v", w.addr, got, ok)
		}
	}
	if ct, _ := c.ByID(want["b"].id); len(ct.Ports) == 0 || ct.Ports[0].ContainerPort != 8080 || ct.Ports[0].HostIP != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("published ports of b: %+v", ct.Ports)
	}
	if !slices.ContainsFunc(c.HostNetwork(), func(ct *Container) bool { return ct.ID == want["h"].id }) {
		t.Errorf("HostNetwork() lacks the host-network container")
	}

	t.Run("OwnerOfSocket", func(t *testing.T) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		run(t, nil, "docker", "exec", "-d", names["h"], "nc", "-l", "-p", strconv.Itoa(port))
		listener := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
		any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		waitUntil(t, "nc's listener attributed", func() error {
			if ct, ok := c.OwnerOfSocket(6, listener, any4); !ok || ct.ID != want["h"].id {
				return fmt.Errorf("owner %v, %v", ct, ok)
			}
			return nil
		})
		conn, err := net.DialTimeout("tcp4", listener.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := netip.MustParseAddrPort(conn.LocalAddr().String())
		waitUntil(t, "the accepted connection attributed", func() error {
			if ct, ok := c.OwnerOfSocket(6, listener, client); !ok || ct.ID != want["h"].id {
				return fmt.Errorf("owner %v, %v", ct, ok)
			}
			return nil
		})
		// The test's own end of the connection is the host's.
		time.Sleep(minWalkInterval)
		if ct, ok := c.OwnerOfSocket(6, client, listener); ok {
			t.Errorf("the test's socket attributed to %s", ct.Name)
		}
	})

	t.Run("unprivileged", func(t *testing.T) {
		// The test binary, run as nobody, must say which capability it lacks.
		dir, err := os.MkdirTemp("", "ofce2e")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		self, err := os.ReadFile("/proc/self/exe")
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "container.test")
		if err := os.WriteFile(bin, self, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), e2eCmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Dir = dir
		cmd.Env = []string{helperEnv + "=new"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "CAP_SYS_PTRACE") || strings.Contains(string(out), "goroutine") {
			t.Errorf("unprivileged New said %q; want one line naming CAP_SYS_PTRACE", out)
		}
	})

	// b is removed: kept as exited with its identity, then dropped.
	b := want["b"]
	run(t, nil, "docker", "rm", "-f", names["b"])
	e := log.waitFor(t, "exit of b", e2eWait, func(e Event) bool { return e.Container.ID == b.id && !e.Container.Running() })
	if e.Type != Updated || e.Container.NetNS != b.netNS || !slices.Equal(e.Container.HostIfaces, []Iface{b.iface}) {
		t.Errorf("exit event %v %+v", e.Type, e.Container)
	}
	if ct, ok := c.ByNetNS(b.netNS); !ok || ct.ID != b.id || ct.Running() {
		t.Errorf("during grace ByNetNS = %v, %v", ct, ok)
	}
	if ct, ok := c.ByAddr(b.addr); !ok || ct.ID != b.id {
		t.Errorf("during grace ByAddr = %v, %v", ct, ok)
	}
	log.waitFor(t, "removal of b", e2eGrace+e2eWait, func(e Event) bool { return e.Container.ID == b.id && e.Type == Removed })
	if _, ok := c.ByID(b.id); ok {
		t.Errorf("b still known after its grace period")
	}
	if ct, ok := c.ByID(want["a"].id); !ok || !ct.Running() {
		t.Errorf("a disturbed by b's removal: %+v, %v", ct, ok)
	}
	t.Logf("stats: %+v", c.Stats())
}
