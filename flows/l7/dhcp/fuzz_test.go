package dhcp

import (
	"testing"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds(t testing.TB) [][3][]byte {
	return [][3][]byte{
		{discover(t), ack(t), nil},
		{append(discover(t)[:240:240], 53, 1, 1, 12, 9, 'h'), nil, nil},
	}
}

func FuzzDHCP(f *testing.F) {
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
		// Feed the whole datagram too: chunking rarely keeps the cookie.
		s = p.NewSession(udp)
		s.Feed(ctx, l7.FromClient, c2s)
		l7test.CheckOutput(t, s)
	})
}

func BenchmarkProbe(b *testing.B) {
	p := New()
	for _, bc := range []struct {
		name string
		data []byte
	}{{"discover", discover(b)}, {"other", make([]byte, 300)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(udp, l7.FromClient, bc.data)
			}
		})
	}
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzDHCP", seeds(t)) }
