//go:build linux

package live

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFilterInKernel checks that a capture filter runs in the kernel: of
// datagrams to two ports, only those the filter selects reach the ring,
// whole (the snap length is the filter's return value), and alone or in
// a fanout group.
func TestFilterInKernel(t *testing.T) {
	const n, keep, other = 200, 6101, 6102
	l := newLab(t)
	cli, _ := udpPair(t, l, false, keep)
	dst, _ := udpPair(t, l, false, other)
	for _, fanout := range []*Fanout{nil, {Group: 21, Mode: FanoutHash, Defrag: true}} {
		name := "alone"
		if fanout != nil {
			name = "fanout"
		}
		t.Run(name, func(t *testing.T) {
			src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 20 * time.Millisecond, Fanout: fanout,
				Filter: "udp dst port " + itoa(keep) + " and src host " + l.Client.V4.String()})
			done := make(chan struct{})
			res := make(chan []frame, 1)
			errc := make(chan error, 1)
			go func() {
				fr, err := collect(src, done, func([]byte) bool { return true })
				res <- fr
				errc <- err
			}()
			for i := 0; i < n; i++ {
				if _, err := cli.Write(payload(i)); err != nil {
					t.Fatal(err)
				}
				if _, err := dst.Write(payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			close(done)
			frames := <-res
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, f := range frames {
				if !isUDPTo(keep)(f.data) {
					t.Fatalf("the filter let through a frame that is not UDP to %d: % x", keep, f.data[:min(len(f.data), 64)])
				}
				if len(f.data) != f.orig {
					t.Fatalf("frame cut to %d of %d bytes", len(f.data), f.orig)
				}
				got++
			}
			if got != n {
				t.Fatalf("captured %d of %d datagrams to port %d", got, n, keep)
			}
		})
	}
}

// TestFilterDuringSetup opens filtered sockets, alone and in a fanout
// group, while datagrams the filter rejects stream past: the ring exists
// before the filter is attached, and frames that reached it in between
// must not come out of Next.
func TestFilterDuringSetup(t *testing.T) {
	const keep, other, opens = 6111, 6112, 8
	l := newLab(t)
	cli, _ := udpPair(t, l, false, keep)
	noise, _ := udpPair(t, l, false, other)
	for i := 0; i < opens; i++ {
		var fanout *Fanout
		if i%2 == 1 {
			fanout = &Fanout{Group: uint16(40 + i), Mode: FanoutHash}
		}
		stop := make(chan struct{})
		sent := make(chan int)
		go func() {
			// Bounded: at most 20,000 datagrams or 2 s.
			n, deadline := 0, time.Now().Add(2*time.Second)
			for ; n < 20000 && time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					sent <- n
					return
				default:
				}
				noise.Write([]byte("noise"))
			}
			<-stop
			sent <- n
		}()
		src := open(t, Config{Interface: "veth0", NetNS: l.cliNS, PollTimeout: 20 * time.Millisecond, Fanout: fanout,
			Filter: "udp dst port " + itoa(keep)})
		time.Sleep(5 * time.Millisecond)
		close(stop)
		if n := <-sent; n == 0 {
			t.Fatal("no noise was sent while the socket was set up")
		}
		done := make(chan struct{})
		res := make(chan []frame, 1)
		go func() {
			fr, _ := collect(src, done, func([]byte) bool { return true })
			res <- fr
		}()
		if _, err := cli.Write(payload(i)); err != nil {
			t.Fatal(err)
		}
		close(done)
		frames := <-res
		for _, f := range frames {
			if !isUDPTo(keep)(f.data) {
				t.Fatalf("open %d (fanout %v): a frame the filter rejects came out: % x", i, fanout != nil, f.data[:min(len(f.data), 64)])
			}
		}
		if len(frames) != 1 {
			t.Fatalf("open %d: captured %d frames, want the 1 datagram to port %d", i, len(frames), keep)
		}
		src.Close()
	}
}

// TestFilterErrors checks that a bad filter fails Open with the
// compiler's message.
func TestFilterErrors(t *testing.T) {
	_, err := Open(Config{Interface: "lo", Filter: "vlan 10"})
	if err == nil || !strings.Contains(err.Error(), "vlan") {
		t.Fatalf("Open with filter \"vlan 10\": %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
