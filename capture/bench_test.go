package capture

import (
	"bytes"
	"io"
	"testing"
)

// manyPackets builds a pcap and a pcapng of n packets with sizes from
// 60 bytes to about 1.5 KB, cycling through a few distinct frames.
func manyPackets(tb testing.TB, n int) (pcap, ng []byte) {
	tb.Helper()
	var frames [][]byte
	for i := range 16 {
		frames = append(frames, frame(tb, i, i*i*5))
	}
	recs := make([]pcapRec, n)
	b := newNg()
	b.shb(false)
	b.idb(ifSpec{link: LinkEthernet, name: "eth0", resol: 9})
	b.idb(ifSpec{link: LinkRaw, name: "tun0", resol: -1})
	flags := uint32(1)
	for i := range recs {
		d := frames[i%len(frames)]
		recs[i] = pcapRec{sec: 1_700_000_000 + uint32(i/1000), frac: uint32(i%1000) * 997, data: d}
		b.epb(i%2, 1_700_000_000_000_000_000+uint64(i)*1000, d, 0, &flags, false)
	}
	return buildPcap(false, false, uint32(LinkEthernet), recs).data, b.data
}

// TestNoAllocs proves the steady-state read path allocates nothing per
// packet. Each run reads 1000 packets, so that even one allocation per
// thousand packets shows (AllocsPerRun rounds its average down).
func TestNoAllocs(t *testing.T) {
	pcap, ng := manyPackets(t, 20_000)
	for _, c := range []struct {
		name string
		data []byte
		max  float64 // allocations per 1000 packets
	}{
		{"pcap", pcap, 0},
		{"pcapng", ng, 0},
		// compress/flate allocates Huffman tables for some dynamic
		// blocks; that is about one per 100 packets, not ours to remove.
		{"pcap gzip", gz(t, pcap), 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := NewReader("a", bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			var readErr error
			allocs := testing.AllocsPerRun(10, func() {
				for range 1000 {
					if err := src.Next(&p); err != nil {
						readErr = err
					}
				}
			})
			if readErr != nil {
				t.Fatal(readErr)
			}
			if allocs > c.max {
				t.Fatalf("%v allocations per 1000 packets, want <= %v", allocs, c.max)
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	const n = 100_000
	pcap, ng := manyPackets(b, n)
	for _, c := range []struct {
		name string
		data []byte
		raw  int // uncompressed bytes
	}{{"pcap", pcap, len(pcap)}, {"pcapng", ng, len(ng)}, {"pcap.gz", gz(b, pcap), len(pcap)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(c.raw))
			var p Packet
			for b.Loop() {
				src, err := NewReader("bench", bytes.NewReader(c.data))
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					if err := src.Next(&p); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
					got++
				}
				if got != n {
					b.Fatalf("read %d packets", got)
				}
				src.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
