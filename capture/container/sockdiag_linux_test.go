//go:build linux

package container

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sockInode returns the inode of a socket's file.
func sockInode(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return st.Ino
}

func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// giveSocket makes a fixture process hold a socket: fd/N -> socket:[inode].
func giveSocket(t testing.TB, root string, pid, fd int, inode uint64) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid), "fd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, fmt.Sprint(fd))); err != nil {
		t.Fatal(err)
	}
}

// TestSocketLookup checks the exact sock_diag lookup against the test's
// own sockets, which needs no privilege.
func TestSocketLookup(t *testing.T) {
	s := newSocketResolver(nil)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srvConn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srvConn.Close()

	ln6, err := net.Listen("tcp", "[::]:0") // dual stack
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	defer ln6.Close()
	cli6, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", ln6.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer cli6.Close()

	u1, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u1.Close()
	u2, err := net.Dial("udp4", u1.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	uw, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uw.Close()

	cliAP, srvAP := addrPort(t, cli.LocalAddr()), addrPort(t, ln.Addr())
	v6srv := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ln6.Addr().(*net.TCPAddr).Port))
	uwAP := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uw.LocalAddr().(*net.UDPAddr).Port))
	far := netip.MustParseAddrPort("192.0.2.1:53")
	tests := []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          uint64
	}{
		{"tcp client", 6, cliAP, srvAP, sockInode(t, cli.(*net.TCPConn))},
		{"tcp accepted", 6, srvAP, cliAP, sockInode(t, srvConn.(*net.TCPConn))},
		{"tcp listener", 6, srvAP, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), sockInode(t, ln.(*net.TCPListener))},
		{"tcp dual-stack client", 6, addrPort(t, cli6.LocalAddr()), v6srv, sockInode(t, cli6.(*net.TCPConn))},
		{"tcp dual-stack listener", 6, v6srv, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), sockInode(t, ln6.(*net.TCPListener))},
		{"tcp unknown", 6, netip.MustParseAddrPort("127.0.0.1:1"), far, 0},
		{"udp connected", 17, addrPort(t, u2.LocalAddr()), addrPort(t, u1.LocalAddr()), sockInode(t, u2.(*net.UDPConn))},
		{"udp bound", 17, addrPort(t, u1.LocalAddr()), far, sockInode(t, u1.(*net.UDPConn))},
		{"udp wildcard", 17, uwAP, far, sockInode(t, uw.(*net.UDPConn))},
		{"mixed families", 6, cliAP, netip.MustParseAddrPort("[2001:db8::1]:80"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.lookup(tt.proto, tt.local, tt.remote)
			if err != nil || uint64(got) != tt.want {
				t.Errorf("lookup(%d, %v, %v) = %d, %v; want %d", tt.proto, tt.local, tt.remote, got, err, tt.want)
			}
		})
	}
}

// TestOwnerOfSocket attributes real sockets of this process through a
// fixture /proc whose processes claim them.
func TestOwnerOfSocket(t *testing.T) {
	root := copyTree(t, "testdata/proc-v1")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAP := addrPort(t, ln.Addr())
	// An established connection the listener has not accepted: its socket
	// has no file yet, so the listener's owner answers.
	pending, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	hostConn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hostConn.Close()
	late, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	orphan, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer orphan.Close()

	hostNet := testID("docker-host")
	giveSocket(t, root, 200, 3, sockInode(t, ln.(*net.TCPListener)))  // the host-network container listens
	giveSocket(t, root, 90, 7, sockInode(t, hostConn.(*net.TCPConn))) // a host process connects
	c, err := New(WithProcRoot(root), WithRescan(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A process of the container that started after the last scan.
	if err := os.MkdirAll(filepath.Join(root, "600"), 0o755); err != nil {
		t.Fatal(err)
	}
	cg, _ := os.ReadFile(filepath.Join(root, "200", "cgroup"))
	if err := os.WriteFile(filepath.Join(root, "600", "cgroup"), cg, 0o644); err != nil {
		t.Fatal(err)
	}
	giveSocket(t, root, 600, 4, sockInode(t, late.(*net.UDPConn)))

	far := netip.MustParseAddrPort("192.0.2.1:53")
	tests := []struct {
		name          string
		proto         uint8
		local, remote netip.AddrPort
		want          string
	}{
		{"pending connection -> listener", 6, lnAP, addrPort(t, pending.LocalAddr()), hostNet},
		{"listener", 6, lnAP, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), hostNet},
		{"host process", 6, addrPort(t, hostConn.LocalAddr()), lnAP, ""},
		{"process newer than the scan", 17, addrPort(t, late.LocalAddr()), far, hostNet},
		{"socket nobody holds", 17, addrPort(t, orphan.LocalAddr()), far, ""},
		{"no such socket", 6, netip.MustParseAddrPort("127.0.0.1:1"), far, ""},
		{"bad proto", 1, lnAP, far, ""},
		{"invalid", 6, netip.AddrPort{}, far, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, ok := c.OwnerOfSocket(tt.proto, tt.local, tt.remote)
			if ok != (tt.want != "") || (ok && ct.ID != tt.want) {
				t.Errorf("OwnerOfSocket = %v, %v; want %q", ct, ok, tt.want)
			}
		})
	}
	st := c.Stats()
	if st.SocketWalks == 0 || st.SocketLookups == 0 {
		t.Errorf("stats %+v: want walks and lookups", st)
	}
	// Asked again, the answers come from the cache.
	hits := st.SocketCacheHits
	if ct, ok := c.OwnerOfSocket(6, lnAP, netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); !ok || ct.ID != hostNet {
		t.Errorf("second lookup = %v, %v", ct, ok)
	}
	if _, ok := c.OwnerOfSocket(6, addrPort(t, hostConn.LocalAddr()), lnAP); ok {
		t.Errorf("host process attributed on the second lookup")
	}
	if got := c.Stats().SocketCacheHits; got != hits+2 {
		t.Errorf("cache hits %d -> %d; want +2", hits, got)
	}
}

func TestDiagRequest(t *testing.T) {
	ne := binary.NativeEndian
	tests := []struct {
		name          string
		proto         uint8
		local, remote string
		family        uint8
		src, dst      string // as encoded: TCP src is local, UDP src is remote
		ok            bool
	}{
		{"tcp4", 6, "10.0.0.1:1000", "10.0.0.2:80", unix.AF_INET, "10.0.0.1:1000", "10.0.0.2:80", true},
		{"udp4 swaps", 17, "10.0.0.1:1000", "10.0.0.2:53", unix.AF_INET, "10.0.0.2:53", "10.0.0.1:1000", true},
		{"tcp6", 6, "[2001:db8::1]:1000", "[2001:db8::2]:80", unix.AF_INET6, "[2001:db8::1]:1000", "[2001:db8::2]:80", true},
		{"mapped is v4", 6, "[::ffff:10.0.0.1]:1000", "10.0.0.2:80", unix.AF_INET, "10.0.0.1:1000", "10.0.0.2:80", true},
		{"no remote", 6, "10.0.0.1:22", "", unix.AF_INET, "10.0.0.1:22", "0.0.0.0:0", true},
		{"mixed", 6, "10.0.0.1:1", "[2001:db8::2]:80", 0, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var remote netip.AddrPort
			if tt.remote != "" {
				remote = netip.MustParseAddrPort(tt.remote)
			}
			b, ok := diagRequest(tt.proto, netip.MustParseAddrPort(tt.local), remote)
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
			addr := func(p []byte) netip.Addr {
				if tt.family == unix.AF_INET {
					return netip.AddrFrom4([4]byte(p[:4]))
				}
				return netip.AddrFrom16([16]byte(p))
			}
			gotSrc := netip.AddrPortFrom(addr(b[12:28]), binary.BigEndian.Uint16(b[8:10]))
			gotDst := netip.AddrPortFrom(addr(b[28:44]), binary.BigEndian.Uint16(b[10:12]))
			if b[0] != tt.family || b[1] != tt.proto || gotSrc != src || gotDst != dst ||
				ne.Uint32(b[4:8]) != 0xffffffff || ne.Uint32(b[48:52]) != 0xffffffff {
				t.Errorf("request %x: family %d src %v dst %v", b, b[0], gotSrc, gotDst)
			}
		})
	}
}

func FuzzParseDiagMsg(f *testing.F) {
	msg := make([]byte, diagMsgLen)
	msg[0] = unix.AF_INET
	f.Add(msg)
	msg6 := make([]byte, diagMsgLen+8)
	msg6[0] = unix.AF_INET6
	f.Add(msg6)
	f.Add([]byte{2, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseDiagMsg(b)
		if ok && (len(b) < diagMsgLen || !m.src.IsValid() || !m.dst.IsValid()) {
			t.Fatalf("accepted %x as %+v", b, m)
		}
	})
}

// BenchmarkOwnerOfSocket measures a lookup answered from the cache: one
// sock_diag round trip to the kernel.
func BenchmarkOwnerOfSocket(b *testing.B) {
	root := copyTree(b, "testdata/proc-v1")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	giveSocket(b, root, 200, 3, sockInode(b, ln.(*net.TCPListener)))
	c, err := New(WithProcRoot(root), WithRescan(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	local, remote := addrPort(b, ln.Addr()), netip.MustParseAddrPort("192.0.2.1:40000")
	if _, ok := c.OwnerOfSocket(6, local, remote); !ok {
		b.Fatal("not attributed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.OwnerOfSocket(6, local, remote)
	}
}
