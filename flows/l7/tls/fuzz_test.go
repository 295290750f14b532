package tls

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzTLS from the in-code seeds")

// feedChunks plays two streams into s in chunks chosen by cuts: each cut
// byte's top bit is the direction and its low bits the chunk length; a
// zero length reports a gap instead. What cuts leave is fed at the end.
func feedChunks(s l7.Session, streams [2][]byte, cuts []byte) {
	for _, b := range cuts {
		d := l7.Dir(b >> 7)
		n := int(b & 0x7f)
		if n == 0 {
			s.Gap(ctx, d, 7)
			continue
		}
		n = min(n, len(streams[d]))
		s.Feed(ctx, d, streams[d][:n])
		streams[d] = streams[d][n:]
	}
	for d := range streams {
		if len(streams[d]) > 0 {
			s.Feed(ctx, l7.Dir(d), streams[d])
		}
	}
}

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
			feedChunks(s, [2][]byte{c2s, s2c}, cuts)
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
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz/FuzzTLS")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzTLS")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1], s[2])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

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
