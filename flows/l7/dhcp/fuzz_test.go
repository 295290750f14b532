package dhcp

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

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz from the in-code seeds")

const fuzzName = "FuzzDHCP"

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
		feedChunks(s, [2][]byte{c2s, s2c}, cuts)
		checkOutput(t, s)
		// Feed the whole datagram too: chunking rarely keeps the cookie.
		s = p.NewSession(udp)
		s.Feed(ctx, l7.FromClient, c2s)
		checkOutput(t, s)
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

// feedChunks plays two streams into s in chunks chosen by cuts: each cut
// byte's top bit is the direction and its low bits the chunk length; a
// zero length reports a gap instead. What cuts leave is fed at the end.
// Over UDP each chunk is a datagram.
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

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1], s[2])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOutput renders the session's fields and summary; the JSON must be valid.
func checkOutput(t *testing.T, s l7.Session) {
	var d ecs.Doc
	s.Fields(&d)
	if out := d.AppendJSON(nil); !json.Valid(out) {
		t.Fatalf("invalid JSON %s", out)
	}
	var sum l7.Summary
	s.Summary(&sum)
}
