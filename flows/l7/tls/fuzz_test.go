package tls

import (
	"encoding/json"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds() [][3][]byte {
	client, server := handshake13()
	dch := dtlsRecord(hsClientHello, clientHelloBody(helloSpec{version: 0xfefd, dtls: true, cookie: []byte{1}, ciphers: []uint16{0xc02b},
		exts: []ext{extSNI("d.example")}}), 0xfeff, 0)
	dsh := dtlsRecord(hsServerHello, serverHelloBody(helloSpec{version: 0xfefd, ciphers: []uint16{0xc02b}}), 0xfefd, 0)
	return [][3][]byte{
		{client, server, nil},
		{client, server, []byte{5, 0x85, 1, 1, 1, 50, 0x83, 0x7f, 0x7f, 0, 0x90}},
		{records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(browserleaksHello())), 7), nil, nil},
		{dch, dsh, []byte{0x7f, 0xff}},
		{[]byte{22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, []byte{21, 3, 3, 0, 2, 2, 40}, nil},
	}
}

func FuzzTLS(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s[0], s[1], s[2])
	}
	p := New()
	f.Fuzz(func(t *testing.T, c2s, s2c, cuts []byte) {
		for _, tr := range []l7.Transport{l7.TCP, l7.UDP} {
			fi := &l7.FlowInfo{Transport: tr}
			p.Probe(fi, l7.FromClient, c2s)
			p.Probe(fi, l7.FromServer, s2c)
			s := p.NewSession(fi).(*session)
			l7test.FeedChunks(ctx, s, [2][]byte{c2s, s2c}, cuts)
			for i := range s.dir {
				if c := cap(s.dir[i].hs); c > maxHello {
					t.Fatalf("direction %d buffer %d", i, c)
				}
			}
			var d ecs.Doc
			s.Fields(&d)
			if out := d.AppendJSON(nil); !json.Valid(out) {
				t.Fatalf("invalid JSON %s", out)
			}
			var sum l7.Summary
			s.Summary(&sum)
		}
		// The hello parsers on their own, on raw bodies.
		if h, err := ParseClientHello(c2s, len(cuts)&1 == 1); err == nil {
			h.JA3()
			h.JA4(JA4TCP)
		}
		if h, err := ParseServerHello(s2c); err == nil {
			h.JA3S()
		}
	})
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzTLS", seeds()) }

func BenchmarkProbe(b *testing.B) {
	client, _ := handshake13()
	for _, bc := range []struct {
		name string
		tr   l7.Transport
		data []byte
	}{
		{"clienthello", l7.TCP, client},
		{"other", l7.TCP, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"dtls", l7.UDP, dtlsRecord(hsClientHello, clientHelloBody(helloSpec{version: 0xfefd, dtls: true, ciphers: []uint16{0xc02b}}), 0xfeff, 0)},
	} {
		fi := &l7.FlowInfo{Transport: bc.tr}
		p := New()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(fi, l7.FromClient, bc.data)
			}
		})
	}
}

// BenchmarkHandshake is the per-flow cost: both hellos, fingerprints included.
func BenchmarkHandshake(b *testing.B) {
	client, server := handshake13()
	b.ReportAllocs()
	for b.Loop() {
		s := New().NewSession(nil)
		s.Feed(ctx, l7.FromClient, client)
		s.Feed(ctx, l7.FromServer, server)
	}
}
