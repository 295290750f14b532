package main

import (
	"errors"
	"io"
	"testing"

	"outflow/capture"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/l7"
)

// loadFrames reads a capture into memory so the benchmark measures the
// packet path, not the disk.
func loadFrames(b *testing.B, path string) []capture.Packet {
	b.Helper()
	src, err := capture.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var out []capture.Packet
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			b.Fatal(err)
		}
		q := p
		q.Data = append([]byte(nil), p.Data...)
		out = append(out, q)
	}
}

// BenchmarkPacketPath runs the demo capture's packets through decode, the
// flow table and protocol identification, over and over (timestamps move
// on each round so flows expire and are recreated as in a long capture).
// allocs/op is per packet.
func BenchmarkPacketPath(b *testing.B) {
	for _, withL7 := range []bool{false, true} {
		name := "decode+table"
		if withL7 {
			name = "decode+table+l7"
		}
		b.Run(name, func(b *testing.B) {
			frames := loadFrames(b, "../../testdata/demo.pcap")
			span := frames[len(frames)-1].Timestamp - frames[0].Timestamp + 120e9
			dec := decode.New(decode.Config{})
			var insp flows.Inspector
			if withL7 {
				insp = flows.NewL7Inspector(l7.NewEngine(parsers(), l7.EngineConfig{}))
			}
			tab := flows.NewTable(flows.Config{}, insp, nil)
			var h decode.Headers
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				round, j := i/len(frames), i%len(frames)
				p := frames[j]
				p.Timestamp += int64(round) * span
				if dec.Decode(&p, &h) == decode.OK {
					tab.Add(&h, p.Timestamp, 0)
				}
			}
		})
	}
}
