package decode

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

// hotFrames are the per-packet paths that must not allocate.
func hotFrames(tb testing.TB) map[string][][]byte {
	dg := udpDatagram(3000)
	return map[string][][]byte{
		"eth-ipv4-tcp": {build(tb, cat(layerList{ethL(layers.EthernetTypeIPv4)}, tcp4())...)},
		"vlan-ipv4-tcp": {build(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q),
			vlanL(100, layers.EthernetTypeIPv4)}, tcp4())...)},
		"vxlan-ipv4-tcp": {vxlanTCP4(tb)},
		"eth-ipv6-tcp":   {build(tb, cat(layerList{ethL(layers.EthernetTypeIPv6)}, tcp6())...)},
		"ipv4-3-frags":   fragments4(tb, 9, layers.IPProtocolUDP, dg, 1480),
		"ipv6-3-frags":   fragments6(tb, 9, ProtoUDP, dg, 1448),
	}
}

func TestZeroAlloc(t *testing.T) {
	for name, frames := range hotFrames(t) {
		t.Run(name, func(t *testing.T) {
			d := New(Config{})
			var h Headers
			pkts := make([]capture.Packet, len(frames))
			for i, f := range frames {
				pkts[i] = capture.Packet{Data: f, OrigLen: len(f), LinkType: capture.LinkEthernet}
			}
			var last Result
			run := func() {
				for i := range pkts {
					pkts[i].Timestamp++
					last = d.Decode(&pkts[i], &h)
				}
			}
			run() // warm up: the fragment pool grows once
			if last != OK {
				t.Fatalf("does not decode: %v %v", last, d.LastFailure())
			}
			if n := testing.AllocsPerRun(200, run); n != 0 {
				t.Errorf("%v allocations per run", n)
			}
			if len(pkts) > 1 && d.Stats().Reassembled < 200 {
				t.Errorf("datagrams not reassembled: %+v", d.Stats())
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := hotFrames(b)
	for _, name := range []string{"eth-ipv4-tcp", "vlan-ipv4-tcp", "vxlan-ipv4-tcp", "eth-ipv6-tcp", "ipv4-3-frags"} {
		fs := frames[name]
		b.Run(name, func(b *testing.B) {
			d := New(Config{})
			var h Headers
			pkts := make([]capture.Packet, len(fs))
			n := 0
			for i, f := range fs {
				pkts[i] = capture.Packet{Data: f, OrigLen: len(f), LinkType: capture.LinkEthernet}
				n += len(f)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range pkts {
					if d.Decode(&pkts[j], &h) == Failed {
						b.Fatal(d.LastFailure())
					}
				}
			}
		})
	}
}
