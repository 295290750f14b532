package ntp

import (
	"testing"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds(t testing.TB) [][3][]byte {
	return [][3][]byte{
		{clientPacket(t), serverPacket(t), nil},
		{monlist, readvar, []byte{8, 0x84}},
	}
}

func FuzzNTP(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	p := New()
	f.Fuzz(func(t *testing.T, c2s, s2c, cuts []byte) {
		p.Probe(udp, l7.FromClient, c2s)
		p.Probe(udp, l7.FromServer, s2c)
		s := p.NewSession(udp)
		l7test.FeedChunks(ctx, s, [2][]byte{c2s, s2c}, cuts)
		l7test.CheckOutput(t, s)
	})
}

func BenchmarkProbe(b *testing.B) {
	p := New()
	for _, bc := range []struct {
		name string
		data []byte
	}{{"client", clientPacket(b)}, {"other", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n\r\n\r\n\r\n")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(udp, l7.FromClient, bc.data)
			}
		})
	}
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzNTP", seeds(t)) }
