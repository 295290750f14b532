package synth

import (
	"fmt"
	"io"
	"slices"
	"testing"

	"outflow/capture"
)

// TestBenchScenario checks a small Bench on the wire: the exact packet
// count, at least the requested number of flows open at one moment (open
// from first to last packet, as read back from the file), distinct
// 5-tuples, frame sizes and a protocol mix.
func TestBenchScenario(t *testing.T) {
	for _, c := range []struct{ packets, concurrent int }{{20000, 1000}, {2000, 1000}, {5000, 1}} {
		t.Run(fmt.Sprintf("%d/%d", c.packets, c.concurrent), func(t *testing.T) {
			s, err := Bench(c.packets, c.concurrent, 42)
			if err != nil {
				t.Fatal(err)
			}
			file, m := writeScenario(t, s, WriterOptions{})
			pkts := readCapture(t, file)
			if len(pkts) != c.packets {
				t.Fatalf("%d packets, want %d", len(pkts), c.packets)
			}
			checkManifest(t, m, pkts)
			span := map[string][2]int64{}
			for _, p := range pkts {
				if n := len(p.frame); n < 60 || n > 1514 {
					t.Fatalf("%d-byte frame", n)
				}
				k := canonical(p.key)
				sp, ok := span[k]
				if !ok {
					sp[0] = p.ts
				}
				sp[1] = p.ts
				span[k] = sp
			}
			if len(span) != len(m.Flows) {
				t.Errorf("%d 5-tuples on the wire, %d flows in the manifest", len(span), len(m.Flows))
			}
			if got := maxOpen(span); got < c.concurrent {
				t.Errorf("at most %d flows open at once, want %d", got, c.concurrent)
			}
			if c.packets >= 20000 {
				apps := map[string]int{}
				for _, f := range m.Flows {
					apps[f.App]++
				}
				for _, a := range []string{"dns", "http", "tls", ""} {
					if apps[a] == 0 {
						t.Errorf("no %q flows: %v", a, apps)
					}
				}
			}
		})
	}
}

// canonical maps both directions of a key to one string.
func canonical(key string) string {
	var proto, a, b string
	for i := 0; i < len(key); i++ {
		if key[i] == ' ' {
			proto, a = key[:i], key[i+1:]
			break
		}
	}
	for i := 0; i < len(a); i++ {
		if a[i] == '>' {
			a, b = a[:i], a[i+1:]
			break
		}
	}
	if b < a {
		a, b = b, a
	}
	return proto + " " + a + " " + b
}

// maxOpen sweeps flow spans and returns the largest number open at once.
func maxOpen(span map[string][2]int64) int {
	type ev struct {
		t     int64
		delta int
	}
	var evs []ev
	for _, s := range span {
		evs = append(evs, ev{s[0], 1}, ev{s[1], -1})
	}
	// Opens sort before closes at the same instant: both flows are open then.
	slices.SortFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			if a.t < b.t {
				return -1
			}
			return 1
		}
		return b.delta - a.delta
	})
	n, best := 0, 0
	for _, e := range evs {
		n += e.delta
		best = max(best, n)
	}
	return best
}

// BenchmarkBench measures generation speed: Bench(200k packets, 5k
// concurrent flows) written as pcap to io.Discard.
func BenchmarkBench(b *testing.B) {
	const packets = 200_000
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, err := Bench(packets, 5000, uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(io.Discard, WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Run(s); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkTCPTransfer measures the per-packet cost of one long transfer,
// without flow set-up: 1 GB in 1460-byte segments.
func BenchmarkTCPTransfer(b *testing.B) {
	s := NewScenario("x", 1, DefaultStart)
	c := s.TCP(Endpoints{Client: cli4, Server: srv4, ClientPort: 1, ServerPort: 2}, 0, "", TCPOptions{})
	c.Send(ToClient, Random(1<<30), 0)
	f := c.newFlow()
	fr := newFramer([]capture.LinkType{capture.LinkEthernet})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if f.next() < 0 {
			f = c.newFlow()
		}
		if _, _, _, err := f.emit(fr); err != nil {
			b.Fatal(err)
		}
	}
}
