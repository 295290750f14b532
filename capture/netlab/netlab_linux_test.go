//go:build linux

package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// helperEnv makes the test binary, run again by a test here, act out a
// lab whose test fails or whose process dies.
const helperEnv = "NETLAB_TEST_HELPER"

// TestHelperLab is not a test of its own: the tests below run the test
// binary again with helperEnv set, and then it builds a lab with a process
// and a capture running in it, prints the namespaces and the process id,
// and fails ("fail") or dies without any cleanup ("die").
func TestHelperLab(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for the cleanup tests")
	}
	l := New(t)
	cmd := l.Start(l.Server.NS, "busybox", "nc", "-l", "-p", "5002")
	l.WaitListen(l.Server.NS, "tcp", 5002)
	l.Capture(l.Client.NS, l.Client.Iface, filepath.Join(t.TempDir(), "c.pcap"))
	fmt.Printf("lab %s %s %d\n", l.Client.NS, l.Server.NS, cmd.Process.Pid)
	if mode == "die" {
		os.Exit(3)
	}
	t.Fatal("failing on purpose")
}

// runHelper runs the test binary as a helper and returns the namespaces
// and process id it reported.
func runHelper(t *testing.T, mode string) (cli, srv string, pid int, exit int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperLab$", "-test.v")
	// Under -race, a binary sleeps a second at exit unless told not to.
	// The "die" helper exits without its cleanup, temporary directories
	// included: they go under this test's own, which is removed.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper %s: %v (want a non-zero exit)\n%s", mode, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "lab" {
			cli, srv = f[1], f[2]
			pid, _ = strconv.Atoi(f[3])
		}
	}
	if cli == "" || pid == 0 {
		t.Fatalf("helper %s reported no lab:\n%s", mode, out)
	}
	return cli, srv, pid, ee.ExitCode()
}

func alive(pid int) bool { return syscall.Kill(pid, 0) != syscall.ESRCH }

// waitGone waits, bounded, for a killed process to be reaped.
func waitGone(pid int) bool {
	for i := 0; i < maxPolls && alive(pid); i++ {
		time.Sleep(pollInterval)
	}
	return !alive(pid)
}

func TestLabConnectivityAndCapture(t *testing.T) {
	Require(t, "busybox", "tcpdump", "ss")
	tests := []struct {
		name string
		v6   bool
		port uint16
	}{
		{"IPv4", false, 5001},
		{"IPv6", true, 5003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(t)
			srvAddr, cliAddr := l.Server.V4, l.Client.V4
			if tc.v6 {
				if !l.Server.V6.IsValid() {
					t.Skip("no IPv6 in the lab")
				}
				srvAddr, cliAddr = l.Server.V6, l.Client.V6
			}
			for _, a := range []netip.Addr{srvAddr, cliAddr} {
				if !a.IsPrivate() {
					t.Fatalf("lab address %v is not private", a)
				}
			}
			pcap := filepath.Join(t.TempDir(), "lab.pcap")
			// The server's input stays open until the client is done: at
			// end of input busybox nc half-closes the connection, and the
			// client may then exit on that before it has sent its line.
			srvIn, srvInW := io.Pipe()
			defer srvInW.Close()
			srv := l.Command(l.Server.NS, "busybox", "nc", "-l", "-p", strconv.Itoa(int(tc.port)))
			srv.Stdin = srvIn
			l.start(srv, l.Server.NS)
			l.WaitListen(l.Server.NS, "tcp", tc.port)
			stop := l.Capture(l.Server.NS, l.Server.Iface, pcap)
			msg := "hello from the lab client"
			cmd := l.Command(l.Client.NS, "busybox", "nc", srvAddr.String(), strconv.Itoa(int(tc.port)))
			// Keep the client's input open a moment after the line: busybox
			// nc may close on end of input before it has forwarded what it
			// read, on a loaded machine.
			cmd.Stdin = io.MultiReader(strings.NewReader(msg+"\n"), &lateEOF{d: 300 * time.Millisecond})
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("client: %v\n%s", err, out)
			}
			srvInW.Close() // the client is done: the server may end too
			select {
			case <-l.procs[srv].done:
			case <-time.After(WaitTimeout):
				t.Fatal("server did not exit after the connection closed")
			}
			if got := l.Output(srv); !strings.Contains(got, msg) {
				t.Errorf("server got %q, want %q", got, msg)
			}
			stop()
			// The capture holds the connection both ways, whole.
			f, err := os.Open(pcap)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := pcapgo.NewReader(bufio.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			var syn, synack, fin int
			var payload []byte
			for i := 0; i < 10000; i++ {
				data, ci, err := r.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if ci.CaptureLength != ci.Length {
					t.Errorf("packet %d cut to %d of %d bytes", i, ci.CaptureLength, ci.Length)
				}
				p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp == nil {
					continue
				}
				var src netip.Addr
				if nl := p.NetworkLayer(); nl != nil {
					src, _ = netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
				}
				switch {
				case tcp.SYN && !tcp.ACK && src == cliAddr && tcp.DstPort == layers.TCPPort(tc.port):
					syn++
				case tcp.SYN && tcp.ACK && src == srvAddr:
					synack++
				}
				if tcp.FIN {
					fin++
				}
				if src == cliAddr {
					payload = append(payload, tcp.Payload...)
				}
			}
			if syn != 1 || synack != 1 || fin != 2 {
				t.Errorf("capture has %d SYN, %d SYN-ACK, %d FIN; want 1, 1, 2", syn, synack, fin)
			}
			if string(payload) != msg+"\n" {
				t.Errorf("captured client payload %q, want %q", payload, msg+"\n")
			}
		})
	}
}

func TestLabCleanupAfterFailure(t *testing.T) {
	Require(t, "busybox", "tcpdump", "ss")
	if os.Geteuid() != 0 {
		skip(t, "netlab: creating network namespaces needs root")
	}
	cli, srv, pid, code := runHelper(t, "fail")
	if code != 1 {
		t.Errorf("helper exit %d, want 1 (a failed test)", code)
	}
	for _, ns := range []string{cli, srv} {
		if namespaceExists(ns) {
			t.Errorf("namespace %s left behind by a failed test", ns)
			killNamespace(ns)
			ip("netns", "del", ns)
		}
	}
	if !waitGone(pid) {
		t.Errorf("process %d started by a failed test still runs", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestLabRemovesStaleNamespaces(t *testing.T) {
	Require(t, "busybox", "tcpdump", "ss")
	if os.Geteuid() != 0 {
		skip(t, "netlab: creating network namespaces needs root")
	}
	cli, srv, pid, code := runHelper(t, "die")
	if code != 3 {
		t.Errorf("helper exit %d, want 3", code)
	}
	// The helper died without cleanup: its lab is still there...
	for _, ns := range []string{cli, srv} {
		if !namespaceExists(ns) {
			t.Fatalf("namespace %s is gone before any cleanup; the test proves nothing", ns)
		}
	}
	// ...until the next lab is built.
	New(t)
	for _, ns := range []string{cli, srv} {
		if namespaceExists(ns) {
			t.Errorf("stale namespace %s not removed", ns)
			killNamespace(ns)
			ip("netns", "del", ns)
		}
	}
	if !waitGone(pid) {
		t.Errorf("process %d in a stale namespace still runs", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// lateEOF reports end of input only after a pause.
type lateEOF struct {
	d    time.Duration
	done bool
}

func (r *lateEOF) Read([]byte) (int, error) {
	if !r.done {
		time.Sleep(r.d)
		r.done = true
	}
	return 0, io.EOF
}
