package sip

import (
	"testing"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds(testing.TB) [][3][]byte {
	return [][3][]byte{
		{[]byte(invite), []byte(ringing), nil},
		{[]byte("\r\n" + invite), []byte(ringing), []byte{10, 3, 0x81, 0, 90}},
	}
}

func FuzzSIP(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	p := New()
	f.Fuzz(func(t *testing.T, c2s, s2c, cuts []byte) {
		for _, fi := range []*l7.FlowInfo{udp, tcp} {
			p.Probe(fi, l7.FromClient, c2s)
			p.Probe(fi, l7.FromServer, s2c)
			s := p.NewSession(fi).(*session)
			l7test.FeedChunks(ctx, s, [2][]byte{c2s, s2c}, cuts)
			if cap(s.buf) > 2*maxHeader {
				t.Fatalf("buffer %d", cap(s.buf))
			}
			l7test.CheckOutput(t, s)
		}
	})
}

func BenchmarkProbe(b *testing.B) {
	p := New()
	for _, bc := range []struct {
		name string
		data []byte
	}{{"invite", []byte(invite)}, {"response", []byte(ringing)}, {"other", []byte("GET / HTTP/1.1\r\n\r\n")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(udp, l7.FromClient, bc.data)
			}
		})
	}
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzSIP", seeds(t)) }
