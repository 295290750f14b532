package dns

import (
	"encoding/json"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds(t testing.TB) [][3][]byte {
	q := serialize(t, gpQuery("www.example.com", layers.DNSTypeA))
	r := serialize(t, gpResponse(gpQuery("www.example.com", layers.DNSTypeA), rrCNAME("www.example.com", "e.example.net"), rrA("e.example.net", "192.0.2.1", 5)))
	return [][3][]byte{
		{q, compressed(), nil},
		{tcpFrame(q, q), tcpFrame(r, compressed()), []byte{3, 0x81, 0x85, 40, 0, 0x90}},
		{q, r, []byte{byte(len(q)), 0x80 | 0x7f}},
		{[]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, []byte{0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1, 0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4}, nil},
	}
}

func FuzzDNS(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	p := New()
	f.Fuzz(func(t *testing.T, c2s, s2c, cuts []byte) {
		for _, tr := range []l7.Transport{l7.UDP, l7.TCP} {
			fi := &l7.FlowInfo{Transport: tr}
			p.Probe(fi, l7.FromClient, c2s)
			p.Probe(fi, l7.FromServer, s2c)
			s := p.NewSession(fi).(*session)
			l7test.FeedChunks(ctx, s, [2][]byte{c2s, s2c}, cuts)
			for i := range s.dir {
				if c := cap(s.dir[i].buf); c > 2*maxTCPMsg {
					t.Fatalf("direction %d buffer %d", i, c)
				}
			}
			if len(s.answers) > maxAnswerLen+2*presMax+256 {
				t.Fatalf("answers grew to %d bytes", len(s.answers))
			}
			var d ecs.Doc
			s.Fields(&d)
			if out := d.AppendJSON(nil); !json.Valid(out) {
				t.Fatalf("invalid JSON %s", out)
			}
			var sum l7.Summary
			s.Summary(&sum)
		}
	})
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzDNS", seeds(t)) }

func BenchmarkProbe(b *testing.B) {
	q := serialize(b, gpQuery("www.example.com", layers.DNSTypeA))
	p := New()
	for _, bc := range []struct {
		name string
		f    *l7.FlowInfo
		data []byte
	}{
		{"udp-query", udp, q},
		{"udp-response", udp, compressed()},
		{"tcp-query", tcp, tcpFrame(q)},
		{"random", udp, []byte("\x8b\x1f\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00\x07random!\x00\x00\x01\x00\x01")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(bc.f, l7.FromClient, bc.data)
			}
		})
	}
}

// BenchmarkFeed is a resolver flow in steady state: a query and a
// compressed response with a CNAME chain, answers and EDNS.
func BenchmarkFeed(b *testing.B) {
	q := serialize(b, gpQuery("www.example.com", layers.DNSTypeA))
	r := compressed()
	s := New().NewSession(udp)
	s.Feed(ctx, l7.FromClient, q)
	s.Feed(ctx, l7.FromServer, r)
	b.ReportAllocs()
	for b.Loop() {
		s.Feed(ctx, l7.FromClient, q)
		s.Feed(ctx, l7.FromServer, r)
	}
}
