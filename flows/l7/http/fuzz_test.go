package http

import (
	"encoding/json"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

func seeds() [][3][]byte {
	var out [][3][]byte
	cl, sv := "", ""
	for _, m := range conversation {
		if m.dir == l7.FromClient {
			cl += m.data
		} else {
			sv += m.data
		}
	}
	out = append(out,
		[3][]byte{[]byte(cl), []byte(sv), nil},
		[3][]byte{[]byte(cl), []byte(sv), []byte{3, 0x85, 17, 0x81, 0x90, 1, 1, 1, 0, 40, 0xa0}},
		[3][]byte{[]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"), nil},
		[3][]byte{[]byte("CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01"), []byte("HTTP/1.1 200 OK\r\n\r\n"), []byte{0x90, 0x10}},
		[3][]byte{[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), nil, nil},
		[3][]byte{[]byte("PUT /x HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n"), nil},
	)
	return out
}

func FuzzHTTP(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s[0], s[1], s[2])
	}
	p := New()
	fi := &l7.FlowInfo{Transport: l7.TCP}
	f.Fuzz(func(t *testing.T, c2s, s2c, cuts []byte) {
		p.Probe(fi, l7.FromClient, c2s)
		p.Probe(fi, l7.FromServer, s2c)
		s := p.NewSession(fi).(*session)
		l7test.FeedChunks(ctx, s, [2][]byte{c2s, s2c}, cuts)
		for i := range s.half {
			if c := cap(s.half[i].buf); c > 2*maxHeaderBytes {
				t.Fatalf("direction %d buffer grew to %d", i, c)
			}
		}
		if len(s.files) > l7.MaxFileOps || s.nMethods > maxMethods || s.pendN > maxPending {
			t.Fatalf("unbounded state: files %d methods %d pending %d", len(s.files), s.nMethods, s.pendN)
		}
		var d ecs.Doc
		s.Fields(&d)
		if out := d.AppendJSON(nil); !json.Valid(out) {
			t.Fatalf("invalid JSON %s", out)
		}
		var sum l7.Summary
		s.Summary(&sum)
	})
}

// TestWriteSeeds regenerates the committed seed corpus with -write-seeds.
func TestWriteSeeds(t *testing.T) { l7test.WriteSeeds(t, "FuzzHTTP", seeds()) }

func BenchmarkProbe(b *testing.B) {
	fi := &l7.FlowInfo{Transport: l7.TCP}
	p := New()
	for _, bc := range []struct{ name, data string }{
		{"request", "PROPFIND /dav/collection/ HTTP/1.1\r\nHost: x\r\n"},
		{"response", "HTTP/1.1 200 OK\r\n"},
		{"other", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
	} {
		data := []byte(bc.data)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(fi, l7.FromClient, data)
			}
		})
	}
}

// BenchmarkFeedKeepAlive measures a keep-alive flow in steady state: one
// request and one response per iteration, the response split mid-header.
func BenchmarkFeedKeepAlive(b *testing.B) {
	req := []byte("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\nCache-Control: no-cache\r\n\r\n" +
		"{\"items\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}\n")
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP})
	s.Feed(ctx, l7.FromClient, req)
	s.Feed(ctx, l7.FromServer, resp)
	b.ReportAllocs()
	b.SetBytes(int64(len(req) + len(resp)))
	for b.Loop() {
		s.Feed(ctx, l7.FromClient, req)
		s.Feed(ctx, l7.FromServer, resp[:40])
		if !s.Feed(ctx, l7.FromServer, resp[40:]) {
			b.Fatal("session stopped")
		}
	}
}
