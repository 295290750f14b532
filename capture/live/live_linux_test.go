//go:build linux

package live

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"

	"outflow/capture"
	"outflow/capture/netlab"
)

// netnsDir is where `ip netns add` bind-mounts its namespaces.
const netnsDir = "/var/run/netns/"

// collectBound bounds every wait on a capture in these tests.
const collectBound = 30 * time.Second

// testLab is a netlab lab with the paths of its namespaces.
type testLab struct {
	*netlab.Lab
	cliNS, srvNS string
}

func newLab(t testing.TB) *testLab {
	t.Helper()
	l := netlab.New(t)
	tl := &testLab{Lab: l, cliNS: netnsDir + l.Client.NS, srvNS: netnsDir + l.Server.NS}
	for _, p := range []string{tl.cliNS, tl.srvNS} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("lab namespace not where ip netns puts it: %v", err)
		}
	}
	return tl
}

// inNS runs fn on a thread inside the namespace at path; sockets fn opens
// stay in that namespace.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// udpPair connects a UDP socket in the lab's client to one bound in its
// server, and sends one datagram across first so that neighbour discovery
// is over before a burst (packets queued behind an unresolved neighbour
// are dropped before any capture could see them).
func udpPair(t testing.TB, l *testLab, v6 bool, port int) (cli, srv *net.UDPConn) {
	t.Helper()
	srvIP, netw := l.Server.V4, "udp4"
	if v6 {
		if !l.Server.V6.IsValid() {
			t.Skip("no IPv6 in the lab")
		}
		srvIP, netw = l.Server.V6, "udp6"
	}
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(srvIP, uint16(port)))
	if err := inNS(l.srvNS, func() (err error) { srv, err = net.ListenUDP(netw, addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := inNS(l.cliNS, func() (err error) { cli, err = net.DialUDP(netw, nil, addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	srv.SetReadBuffer(4 << 20)
	buf := make([]byte, 64)
	for i := 0; ; i++ {
		if _, err := cli.Write([]byte("warm-up")); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := srv.ReadFromUDP(buf); err == nil {
			break
		} else if i == 5 {
			t.Fatalf("warm-up datagram never arrived: %v", err)
		}
	}
	srv.SetReadDeadline(time.Time{})
	return cli, srv
}

func open(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// frame is a captured packet copied out of the ring.
type frame struct {
	ts   int64
	data []byte
	orig int
	link capture.LinkType
}

// collect reads src, keeping copies of the frames keep accepts, until done
// is closed and the source has then been idle for a poll timeout.
func collect(src *Source, done <-chan struct{}, keep func([]byte) bool) ([]frame, error) {
	var frames []frame
	var p capture.Packet
	deadline := time.Now().Add(collectBound)
	finished := false
	for time.Now().Before(deadline) {
		err := src.Next(&p)
		if err == capture.ErrTimeout {
			if finished {
				return filter(frames, keep), nil
			}
			select {
			case <-done:
				finished = true // one more idle poll: the last block is out
			default:
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		// Copied now and filtered later: decoding here would slow the
		// reader enough to fill the ring under -race.
		frames = append(frames, frame{ts: p.Timestamp, data: bytes.Clone(p.Data), orig: p.OrigLen, link: p.LinkType})
	}
	return nil, fmt.Errorf("capture still busy after %v", collectBound)
}

func filter(frames []frame, keep func([]byte) bool) []frame {
	var out []frame
	for _, f := range frames {
		if keep(f.data) {
			out = append(out, f)
		}
	}
	return out
}

// decoded is the part of a captured frame the tests look at.
type decoded struct {
	src, dst netip.Addr
	udp      *layers.UDP
	tcp      *layers.TCP
}

func decode(data []byte) (d decoded, ok bool) {
	pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
	nl := pkt.NetworkLayer()
	if nl == nil {
		return d, false
	}
	d.src, _ = netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
	d.dst, _ = netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
	d.udp, _ = pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d.tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return d, d.udp != nil || d.tcp != nil
}

func isUDPTo(port int) func([]byte) bool {
	return func(b []byte) bool {
		d, ok := decode(b)
		return ok && d.udp != nil && int(d.udp.DstPort) == port
	}
}

// payload returns datagram i of a burst: its sequence number, then a
// pattern of a length that varies with i.
func payload(i int) []byte {
	b := make([]byte, 4+16+(i*37)%300)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return b
}

// checkTimestamps checks that frames' timestamps never go back and lie in
// [from, to], widened by a second for clock granularity.
func checkTimestamps(t *testing.T, frames []frame, from, to time.Time) {
	t.Helper()
	lo, hi := from.Add(-time.Second).UnixNano(), to.Add(time.Second).UnixNano()
	for i, f := range frames {
		if f.ts < lo || f.ts > hi {
			t.Fatalf("frame %d timestamp %v outside the test's run [%v, %v]", i, time.Unix(0, f.ts), from, to)
		}
		if i > 0 && f.ts < frames[i-1].ts {
			t.Fatalf("frame %d timestamp %d before frame %d's %d", i, f.ts, i-1, frames[i-1].ts)
		}
	}
}

// TestUDPBurst sends a burst of datagrams from the lab's client to its
// server and checks that captures on both ends of the veth pair (outgoing
// at the client, incoming at the server) see every one, whole and in order.
func TestUDPBurst(t *testing.T) {
	const n, port = 2000, 6001
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			l := newLab(t)
			cli, _ := udpPair(t, l, v6, port)
			sides := []struct {
				name string
				ns   string
			}{{"client-outgoing", l.cliNS}, {"server-incoming", l.srvNS}}
			srcs := make([]*Source, len(sides))
			for i, side := range sides {
				srcs[i] = open(t, Config{Interface: "veth0", NetNS: side.ns})
			}
			done := make(chan struct{})
			results := make([][]frame, len(sides))
			errs := make([]error, len(sides))
			var wg sync.WaitGroup
			for i := range sides {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = collect(srcs[i], done, isUDPTo(port))
				}()
			}
			start := time.Now()
			wantBytes := 0
			for i := 0; i < n; i++ {
				b := payload(i)
				wantBytes += len(b)
				if _, err := cli.Write(b); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			close(done)
			wg.Wait()
			end := time.Now()
			for i, side := range sides {
				t.Run(side.name, func(t *testing.T) {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					frames := results[i]
					gotBytes := 0
					for j, f := range frames {
						d, _ := decode(f.data)
						if f.link != capture.LinkEthernet {
							t.Fatalf("frame %d link type %v", j, f.link)
						}
						if f.orig != len(f.data) {
							t.Fatalf("frame %d cut: %d of %d bytes", j, len(f.data), f.orig)
						}
						if j >= n {
							continue
						}
						if want := payload(j); !bytes.Equal(d.udp.Payload, want) {
							t.Fatalf("frame %d payload %x..., want datagram %d", j, d.udp.Payload[:min(8, len(d.udp.Payload))], j)
						}
						gotBytes += len(d.udp.Payload)
					}
					if len(frames) != n || gotBytes != wantBytes {
						t.Fatalf("captured %d datagrams, %d payload bytes; sent %d, %d bytes", len(frames), gotBytes, n, wantBytes)
					}
					checkTimestamps(t, frames, start, end)
					st, err := srcs[i].Stats()
					if err != nil {
						t.Fatal(err)
					}
					if st.Drops != 0 || st.Packets < n {
						t.Fatalf("stats %+v: want no drops and at least %d packets", st, n)
					}
				})
			}
		})
	}
}

// TestTCPStream sends a stream over TCP and rebuilds the client's bytes
// from the capture at each end: whole segmentation-offload frames (up to
// 64 KiB on a veth) must come through uncut.
func TestTCPStream(t *testing.T) {
	const size, port = 4 << 20, 6002
	l := newLab(t)
	var ln net.Listener
	addr := netip.AddrPortFrom(l.Server.V4, port).String()
	if err := inNS(l.srvNS, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs := []*Source{open(t, Config{Interface: "veth0", NetNS: l.cliNS}), open(t, Config{Interface: "veth0", NetNS: l.srvNS})}
	keep := func(b []byte) bool {
		d, ok := decode(b)
		return ok && d.tcp != nil && d.src == l.Client.V4 && int(d.tcp.DstPort) == port
	}
	done := make(chan struct{})
	results := make([][]frame, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i := range srcs {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], errs[i] = collect(srcs[i], done, keep) }()
	}
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	sent := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range sent {
		sent[i] = byte(rng.Uint32())
	}
	var conn net.Conn
	if err := inNS(l.cliNS, func() (err error) { conn, err = net.Dial("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(sent); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case n := <-received:
		if n != size {
			t.Fatalf("server received %d bytes, want %d", n, size)
		}
	case <-time.After(collectBound):
		t.Fatal("server did not receive the stream")
	}
	close(done)
	wg.Wait()
	for i, name := range []string{"client-outgoing", "server-incoming"} {
		t.Run(name, func(t *testing.T) {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if st, err := srcs[i].Stats(); err != nil || st.Drops != 0 {
				t.Fatalf("stats %+v, %v: want no drops", st, err)
			}
			got, largest := reassemble(t, results[i])
			t.Logf("%d frames, largest %d bytes", len(results[i]), largest)
			if !bytes.Equal(got, sent) {
				t.Fatalf("rebuilt %d bytes of the stream, want the %d sent", len(got), len(sent))
			}
		})
	}
}

// reassemble rebuilds one direction of a TCP connection from its frames,
// by sequence number: a frame lost on the wire before the capture point
// shows up later as a retransmission. It returns the largest frame seen.
func reassemble(t *testing.T, frames []frame) (stream []byte, largest int) {
	t.Helper()
	type segment struct {
		off  int64 // from the first byte after the SYN
		data []byte
	}
	var segs []segment
	var isn uint32
	synced := false
	for i, f := range frames {
		if f.orig != len(f.data) {
			t.Fatalf("frame %d cut: %d of %d bytes", i, len(f.data), f.orig)
		}
		largest = max(largest, len(f.data))
		d, _ := decode(f.data)
		switch {
		case d.tcp.SYN:
			isn, synced = d.tcp.Seq, true
		case !synced:
			t.Fatalf("frame %d before the SYN", i)
		case len(d.tcp.Payload) > 0:
			// The stream is far shorter than 2 GiB: no wrap to undo.
			segs = append(segs, segment{int64(d.tcp.Seq - isn - 1), d.tcp.Payload})
		}
	}
	slices.SortStableFunc(segs, func(a, b segment) int { return cmp.Compare(a.off, b.off) })
	for _, sg := range segs {
		have := int64(len(stream))
		if sg.off > have {
			t.Fatalf("%d bytes missing at stream offset %d", sg.off-have, have)
		}
		if end := sg.off + int64(len(sg.data)); end > have {
			stream = append(stream, sg.data[have-sg.off:]...)
		}
	}
	return stream, largest
}

// TestFanout opens two sockets in one fanout group on the same veth and
// checks how the group splits a single flow between them.
func TestFanout(t *testing.T) {
	const n, port = 500, 6006
	tests := []struct {
		name   string
		fanout Fanout
		check  func(counts [2]int) bool
		want   string
	}{
		{"hash keeps a flow on one socket", Fanout{Group: 11, Mode: FanoutHash},
			func(c [2]int) bool { return c[0] == 0 || c[1] == 0 }, "all on one socket"},
		{"hash with defrag", Fanout{Group: 12, Mode: FanoutHash, Defrag: true},
			func(c [2]int) bool { return c[0] == 0 || c[1] == 0 }, "all on one socket"},
		{"load balance uses both", Fanout{Group: 13, Mode: FanoutLoadBalance},
			func(c [2]int) bool { return c[0] > 0 && c[1] > 0 }, "some on each socket"},
	}
	l := newLab(t)
	cli, _ := udpPair(t, l, false, port)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srcs [2]*Source
			for i := range srcs {
				f := tc.fanout
				srcs[i] = open(t, Config{Interface: "veth0", NetNS: l.cliNS, Fanout: &f, PollTimeout: 20 * time.Millisecond})
			}
			done := make(chan struct{})
			var results [2][]frame
			var errs [2]error
			var wg sync.WaitGroup
			for i := range srcs {
				wg.Add(1)
				go func() { defer wg.Done(); results[i], errs[i] = collect(srcs[i], done, isUDPTo(port)) }()
			}
			for i := 0; i < n; i++ {
				if _, err := cli.Write(payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			close(done)
			wg.Wait()
			var counts [2]int
			for i := range srcs {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				counts[i] = len(results[i])
				srcs[i].Close()
			}
			if counts[0]+counts[1] != n || !tc.check(counts) {
				t.Fatalf("sockets got %d and %d of %d datagrams; want them %s", counts[0], counts[1], n, tc.want)
			}
		})
	}
}

// TestPromiscuous checks that a promiscuous source raises the interface's
// promiscuity while it is open, and only then.
func TestPromiscuous(t *testing.T) {
	l := newLab(t)
	promiscuity := func() string {
		out := l.Run(l.Client.NS, "ip", "-d", "link", "show", "veth0")
		f := strings.Fields(string(out))
		for i := range f[:len(f)-1] {
			if f[i] == "promiscuity" {
				return f[i+1]
			}
		}
		t.Fatalf("no promiscuity in %s", out)
		return ""
	}
	if got := promiscuity(); got != "0" {
		t.Fatalf("promiscuity %s before Open", got)
	}
	src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, Promiscuous: true})
	if got := promiscuity(); got != "1" {
		t.Fatalf("promiscuity %s while open, want 1", got)
	}
	src.Close()
	if got := promiscuity(); got != "0" {
		t.Fatalf("promiscuity %s after Close, want 0", got)
	}
}

// TestLinkTypes checks the link type reported for kinds of interface,
// each made in the lab's client namespace.
func TestLinkTypes(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		iface  string
		create []string // ip command that makes it; nil when the lab has it
		want   capture.LinkType
	}{
		{"veth0", nil, capture.LinkEthernet},
		{"lo", nil, capture.LinkEthernet},
		{"tun0", []string{"tuntap", "add", "dev", "tun0", "mode", "tun"}, capture.LinkRaw},
		{"tap0", []string{"tuntap", "add", "dev", "tap0", "mode", "tap"}, capture.LinkEthernet},
	}
	for _, tc := range tests {
		t.Run(tc.iface, func(t *testing.T) {
			if tc.create != nil {
				out, err := l.Command(l.Client.NS, "ip", tc.create...).CombinedOutput()
				if err != nil {
					t.Skipf("cannot make %s here: %v %s", tc.iface, err, out)
				}
			}
			src := open(t, Config{Interface: tc.iface, NetNS: l.cliNS})
			if src.link != tc.want {
				t.Fatalf("link type %v, want %v", src.link, tc.want)
			}
			if src.InterfaceName(0) != tc.iface || src.InterfaceName(1) != "" || !strings.Contains(src.Name(), l.cliNS) {
				t.Fatalf("names %q, %q, %q", src.Name(), src.InterfaceName(0), src.InterfaceName(1))
			}
		})
	}
}

// TestTimeoutWhenIdle checks that an idle source returns ErrTimeout and
// stays usable after it.
func TestTimeoutWhenIdle(t *testing.T) {
	const port = 6003
	l := newLab(t)
	cli, _ := udpPair(t, l, false, port)
	src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 20 * time.Millisecond})
	var p capture.Packet
	timeouts := 0
	// Stray frames (IPv6 neighbour or multicast chatter) may come first.
	for i := 0; i < 500 && timeouts == 0; i++ {
		switch err := src.Next(&p); err {
		case capture.ErrTimeout:
			timeouts++
		case nil:
		default:
			t.Fatal(err)
		}
	}
	if timeouts == 0 {
		t.Fatal("no ErrTimeout from an idle link")
	}
	if _, err := cli.Write([]byte("after the timeout")); err != nil {
		t.Fatal(err)
	}
	keep := isUDPTo(port)
	for i := 0; i < 500; i++ {
		err := src.Next(&p)
		if err == nil && keep(p.Data) {
			return
		}
		if err != nil && err != capture.ErrTimeout {
			t.Fatal(err)
		}
	}
	t.Fatal("the datagram sent after a timeout was never captured")
}

// TestCloseUnblocksNext closes a source while another goroutine waits in
// Next.
func TestCloseUnblocksNext(t *testing.T) {
	l := newLab(t)
	src, err := Open(Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		var p capture.Packet
		for i := 0; ; i++ {
			if i == 1 {
				close(waiting)
			}
			if err := src.Next(&p); err != nil && err != capture.ErrTimeout {
				errc <- err
				return
			}
		}
	}()
	<-waiting
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Next after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(collectBound):
		t.Fatal("Next still blocked after Close")
	}
	var p capture.Packet
	if err := src.Next(&p); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Next on a closed source: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := src.Stats(); err != nil {
		t.Fatalf("Stats after Close: %v", err)
	}
}

// TestCloseWhileHoldingPacket closes a source from another goroutine while
// its reader still works on a packet in the ring: Close must wait for the
// reader to come back to Next rather than unmap the packet under it.
func TestCloseWhileHoldingPacket(t *testing.T) {
	const port = 6004
	l := newLab(t)
	cli, _ := udpPair(t, l, false, port)
	// The poll timeout is the grace Close gives a reader holding a packet.
	src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 5 * time.Second})
	holding, closing := make(chan struct{}), make(chan struct{})
	var processed atomic.Bool
	errc := make(chan error, 1)
	go func() {
		var p capture.Packet
		keep := isUDPTo(port)
		for {
			if err := src.Next(&p); err != nil {
				errc <- fmt.Errorf("before the packet: %w", err)
				return
			}
			if keep(p.Data) {
				break
			}
		}
		close(holding)
		<-closing
		// Work on the packet while Close runs: this would fault if the
		// ring were unmapped under it.
		sum := 0
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
			for _, b := range p.Data {
				sum += int(b)
			}
		}
		processed.Store(sum >= 0)
		errc <- src.Next(&p)
	}()
	if _, err := cli.Write([]byte("hold me")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-holding:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(collectBound):
		t.Fatal("datagram never captured")
	}
	close(closing)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if !processed.Load() {
		t.Fatal("Close returned while the reader still held its packet")
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("reader's Next after Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	l := newLab(t)
	notNetNS := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(notNetNS, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// An interface of the test's own namespace that the lab lacks: the
	// lookup must happen inside the target namespace.
	hostOnly := ""
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifc := range ifs {
			if ifc.Name != "lo" && ifc.Name != "veth0" {
				hostOnly = ifc.Name
				break
			}
		}
	}
	tests := []struct {
		name  string
		cfg   Config
		is    error
		wants []string // substrings of the message
	}{
		{"missing interface here", Config{Interface: "nosuch0"}, ErrNoInterface,
			[]string{`"nosuch0"`, "current network namespace"}},
		{"missing interface in namespace", Config{Interface: "nosuch0", NetNS: l.cliNS}, ErrNoInterface,
			[]string{`"nosuch0"`, l.cliNS}},
		{"missing namespace", Config{Interface: "veth0", NetNS: "/nonexistent/netns"}, fs.ErrNotExist,
			[]string{"veth0", "/nonexistent/netns"}},
		{"not a namespace", Config{Interface: "veth0", NetNS: notNetNS}, syscall.EINVAL,
			[]string{"not a network namespace", notNetNS}},
	}
	if hostOnly != "" {
		tests = append(tests, struct {
			name  string
			cfg   Config
			is    error
			wants []string
		}{"interface of the host, not the namespace", Config{Interface: hostOnly, NetNS: l.srvNS}, ErrNoInterface,
			[]string{`"` + hostOnly + `"`, l.srvNS}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// nsInode identifies the network namespace behind a /proc ns link.
func nsInode(t testing.TB, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestOpenLeavesThreadsInPlace opens sources inside a namespace many
// times, successfully and not, and checks that neither the caller's thread
// nor any other thread of the process is left in the lab's namespace.
func TestOpenLeavesThreadsInPlace(t *testing.T) {
	l := newLab(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home := nsInode(t, "/proc/thread-self/ns/net")
	lab := nsInode(t, l.cliNS)
	if home == lab {
		t.Fatal("the test already runs in the lab's namespace")
	}
	small := Config{Interface: "veth0", NetNS: l.cliNS, BlockSize: 16 * os.Getpagesize(), Blocks: 2}
	for i := 0; i < 100; i++ {
		cfg := small
		if i%2 == 1 {
			cfg.Interface = "nosuch0"
		}
		s, err := Open(cfg)
		if err == nil {
			s.Close()
		} else if i%2 == 0 {
			t.Fatal(err)
		}
		if got := nsInode(t, "/proc/thread-self/ns/net"); got != home {
			t.Fatalf("open %d moved the calling thread to namespace %d (home %d)", i, got, home)
		}
	}
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads listed: %v", err)
	}
	for _, task := range tasks {
		fi, err := os.Stat(task)
		if err != nil {
			continue // the thread exited meanwhile
		}
		if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != home {
			t.Errorf("%s is in namespace %d, not the process's %d", task, ino, home)
		}
	}
}

// TestPrivilegeErrors runs Open in a copy of the test binary stripped of a
// capability and checks the *PrivilegeError it gets.
func TestPrivilegeErrors(t *testing.T) {
	netlab.Require(t, "setpriv")
	l := newLab(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, drop, iface, ns string
		wantCap, wantOp       string
	}{
		{"socket without CAP_NET_RAW", "-net_raw", "lo", "", "CAP_NET_RAW", "open AF_PACKET socket on lo"},
		{"setns without CAP_SYS_ADMIN", "-sys_admin", "veth0", l.cliNS, "CAP_SYS_ADMIN", "setns on veth0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Dropped from the bounding set, the capability is gone from
			// the process after exec, root or not.
			cmd := exec.Command("setpriv", "--bounding-set", tc.drop, "--", exe, "-test.run=^TestPrivilegeHelper$", "-test.v")
			cmd.Env = append(os.Environ(), privHelperEnv+"="+tc.iface, privHelperNSEnv+"="+tc.ns)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var line string
			for _, ln := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(ln, "privilege-error|") || strings.HasPrefix(ln, "other|") {
					line = ln
				}
			}
			f := strings.SplitN(line, "|", 3)
			if len(f) != 3 || f[0] != "privilege-error" || f[1] != tc.wantCap {
				t.Fatalf("helper reported %q, want a privilege error needing %s\n%s", line, tc.wantCap, out)
			}
			if !strings.HasPrefix(f[2], tc.wantOp) || !strings.HasSuffix(f[2], "operation not permitted (needs "+tc.wantCap+")") {
				t.Errorf("message %q", f[2])
			}
		})
	}
}

const (
	privHelperEnv   = "LIVE_PRIVILEGE_HELPER_IFACE"
	privHelperNSEnv = "LIVE_PRIVILEGE_HELPER_NETNS"
)

// TestPrivilegeHelper is not a test of its own: TestPrivilegeErrors runs
// the binary again, short of a capability, to open a source here.
func TestPrivilegeHelper(t *testing.T) {
	iface := os.Getenv(privHelperEnv)
	if iface == "" {
		t.Skip("helper process for TestPrivilegeErrors")
	}
	s, err := Open(Config{Interface: iface, NetNS: os.Getenv(privHelperNSEnv)})
	if err == nil {
		s.Close()
		fmt.Println("other|opened")
		return
	}
	var pe *PrivilegeError
	if errors.As(err, &pe) {
		fmt.Printf("privilege-error|%s|%s\n", pe.Capability, pe.Error())
		return
	}
	fmt.Printf("other|%v\n", err)
}

// TestNextAllocatesNothing reads a burst already in the ring and checks
// that Next allocates nothing per packet, nor when it times out.
func TestNextAllocatesNothing(t *testing.T) {
	const n, port = 3000, 6005
	l := newLab(t)
	cli, _ := udpPair(t, l, false, port)
	// A long block timeout keeps the burst in one or two blocks however
	// slowly the sender runs, so the ring cannot fill before reading.
	src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, BlockTimeout: 2 * time.Second, PollTimeout: time.Millisecond})
	for i := 0; i < n; i++ {
		if _, err := cli.Write(payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	var p capture.Packet
	got := 0
	for i := 0; got == 0; i++ {
		switch err := src.Next(&p); {
		case err == nil:
			got++
		case err != capture.ErrTimeout:
			t.Fatal(err)
		case i > 10000:
			t.Fatal("the burst never arrived")
		}
	}
	const runs = 2000
	var errs int
	allocs := testing.AllocsPerRun(runs, func() {
		if err := src.Next(&p); err != nil {
			errs++
		}
		got++
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v times per packet", allocs)
	}
	if errs != 0 {
		t.Fatalf("%d of %d reads of a full ring failed", errs, runs+1)
	}
	// Drain, then time out.
	for i := 0; i < 2*n; i++ {
		if err := src.Next(&p); err == capture.ErrTimeout {
			break
		}
	}
	allocs = testing.AllocsPerRun(50, func() { src.Next(&p) })
	if allocs != 0 {
		t.Errorf("Next allocates %v times per timeout", allocs)
	}
}

// BenchmarkCaptureUDP sends a bounded number of datagrams (b.N) through
// the lab's veth pair as fast as one sender can and captures them at the
// server end, as a sensor sees a container's egress on the host's side of
// its veth. Run with -benchtime=2s or so.
func BenchmarkCaptureUDP(b *testing.B) {
	l := newLab(b)
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			port := 7000 + size
			cli, _ := udpPair(b, l, false, port)
			src, err := Open(Config{Interface: "veth0", NetNS: l.srvNS, PollTimeout: 20 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			msg := make([]byte, size)
			var sent atomic.Int64
			var sendTime time.Duration
			done := make(chan struct{})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() {
				defer close(done)
				for i := 0; i < b.N; i++ {
					if _, err := cli.Write(msg); err != nil {
						return
					}
					sent.Add(1)
				}
				sendTime = time.Since(start)
			}()
			var p capture.Packet
			captured, last := 0, start
			finished := false
			// Ethernet + IPv4 (no options on these) + UDP destination port.
			const dportAt = 14 + 20 + 2
			for captured < b.N {
				err := src.Next(&p)
				if err == capture.ErrTimeout {
					if finished {
						break // the rest was lost
					}
					select {
					case <-done:
						finished = true
					default:
					}
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Data) > dportAt+1 && int(binary.BigEndian.Uint16(p.Data[dportAt:])) == port {
					captured++
					last = time.Now()
				}
			}
			b.StopTimer()
			<-done
			st, err := src.Stats()
			if err != nil {
				b.Fatal(err)
			}
			if captured > 0 {
				b.ReportMetric(float64(captured)/last.Sub(start).Seconds(), "captured/s")
			}
			if sendTime > 0 {
				b.ReportMetric(float64(sent.Load())/sendTime.Seconds(), "sent/s")
			}
			b.ReportMetric(float64(st.Drops), "drops")
			b.ReportMetric(float64(sent.Load()-int64(captured)), "lost")
		})
	}
}

// TestCloseLeavesTeardownToSlowReader closes a source while its reader
// holds a packet for longer than the poll timeout (it may be waiting for a
// lock the closer holds): Close must return without unmapping the ring, the
// packet must stay readable, and the reader's next Next tears down.
func TestCloseLeavesTeardownToSlowReader(t *testing.T) {
	const port = 6005
	l := newLab(t)
	cli, _ := udpPair(t, l, false, port)
	src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 20 * time.Millisecond})
	holding, closed := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		var p capture.Packet
		keep := isUDPTo(port)
		for {
			err := src.Next(&p)
			if errors.Is(err, capture.ErrTimeout) {
				continue
			}
			if err != nil {
				errc <- fmt.Errorf("before the packet: %w", err)
				return
			}
			if keep(p.Data) {
				break
			}
		}
		want := append([]byte(nil), p.Data...)
		close(holding)
		<-closed // Close has returned while this packet is still in use
		for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
			if !bytes.Equal(p.Data, want) { // faults if the ring were unmapped
				errc <- errors.New("packet changed under the reader after Close")
				return
			}
		}
		errc <- src.Next(&p)
	}()
	if _, err := cli.Write([]byte("slow reader")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-holding:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(collectBound):
		t.Fatal("datagram never captured")
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	close(closed)
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("reader's Next after Close: %v", err)
	}
	if _, err := src.Stats(); err != nil {
		t.Fatalf("Stats after the reader's teardown: %v", err)
	}
}
