package l7

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// recSink records deliveries as text: data as-is, gaps as "<gap n>".
type recSink struct {
	out       bytes.Buffer
	gaps      int
	overflows int
	stopAfter int // stop when this many bytes were delivered (0: never)
	delivered int
}

func (k *recSink) data(_ Dir, b []byte) bool {
	k.out.Write(b)
	k.delivered += len(b)
	return k.stopAfter == 0 || k.delivered < k.stopAfter
}

func (k *recSink) gap(_ Dir, n int) bool {
	fmt.Fprintf(&k.out, "<gap %d>", n)
	k.gaps++
	return true
}

func (k *recSink) overflow(Dir) { k.overflows++ }

type seg struct {
	seq   uint32
	data  string
	total int  // 0: len(data)
	syn   bool // a SYN with seq (data ignored)
}

func TestReasm(t *testing.T) {
	const isn = 1000
	tests := []struct {
		name      string
		bufSize   int
		segs      []seg
		flush     bool
		want      string
		overflows int
	}{
		{"in order after SYN", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "hello "}, {seq: isn + 7, data: "world"}}, false, "hello world", 0},
		{"reversed", 64, []seg{{seq: isn, syn: true}, {seq: isn + 7, data: "world"}, {seq: isn + 4, data: "lo "}, {seq: isn + 1, data: "hel"}}, false, "hello world", 0},
		{"retransmission dropped", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "abc"}, {seq: isn + 1, data: "abc"}, {seq: isn + 4, data: "def"}}, false, "abcdef", 0},
		{"overlap delivered first copy wins", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "abcd"}, {seq: isn + 3, data: "XXef"}}, false, "abcdef", 0},
		{"overlap held first copy wins", 64, []seg{{seq: isn, syn: true}, {seq: isn + 5, data: "efgh"}, {seq: isn + 4, data: "dXXXXi"}, {seq: isn + 1, data: "abc"}}, false, "abcdefghi", 0},
		{"in-order segment over held bytes", 64, []seg{{seq: isn, syn: true}, {seq: isn + 3, data: "cd"}, {seq: isn + 1, data: "abXXe"}}, false, "abcde", 0},
		{"held spans merge", 64, []seg{{seq: isn, syn: true}, {seq: isn + 3, data: "c"}, {seq: isn + 5, data: "e"}, {seq: isn + 4, data: "d"}, {seq: isn + 1, data: "ab"}}, false, "abcde", 0},
		{"hole skipped at flush", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "ab"}, {seq: isn + 6, data: "fg"}, {seq: isn + 10, data: "k"}}, true, "ab<gap 3>fg<gap 2>k", 0},
		{"hole waits without flush", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "ab"}, {seq: isn + 6, data: "fg"}}, false, "ab", 0},
		{"overflow skips first hole only", 8, []seg{{seq: isn, syn: true}, {seq: isn + 3, data: "cd"}, {seq: isn + 7, data: "ghij"}}, false, "<gap 2>cd", 1},
		{"overflow then flush", 8, []seg{{seq: isn, syn: true}, {seq: isn + 3, data: "cd"}, {seq: isn + 7, data: "ghij"}}, true, "<gap 2>cd<gap 2>ghij", 1},
		{"overflow keeps later runs", 8, []seg{{seq: isn, syn: true}, {seq: isn + 2, data: "b"}, {seq: isn + 5, data: "e"}, {seq: isn + 8, data: "hi"}}, true, "<gap 1>b<gap 2>e<gap 2>hi", 1},
		{"segment larger than buffer", 4, []seg{{seq: isn, syn: true}, {seq: isn + 3, data: "cdefghij"}}, false, "<gap 2>cdefghij", 1},
		{"mid-stream start", 64, []seg{{seq: 5000, data: "xyz"}, {seq: 5003, data: "w"}}, false, "xyzw", 0},
		{"mid-stream earlier data dropped", 64, []seg{{seq: 5000, data: "xyz"}, {seq: 4998, data: "uvxyz!"}}, false, "xyz!", 0},
		{"snapped in order", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "ab", total: 5}, {seq: isn + 6, data: "fg"}}, false, "ab<gap 3>fg", 0},
		{"snapped tail filled by held", 64, []seg{{seq: isn, syn: true}, {seq: isn + 4, data: "de"}, {seq: isn + 1, data: "ab", total: 4}}, false, "ab<gap 1>de", 0},
		{"late SYN ignored", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "ab"}, {seq: 7, syn: true}, {seq: isn + 3, data: "c"}}, false, "abc", 0},
		{"sequence wrap", 64, []seg{{seq: 0xfffffffd, syn: true}, {seq: 0xfffffffe, data: "ab"}, {seq: 1, data: "d"}, {seq: 0, data: "c"}}, false, "abcd", 0},
		{"garbage far ahead dropped", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: "a"}, {seq: isn + 1 + maxAhead + 10, data: "zz"}, {seq: isn + 2, data: "b"}}, false, "ab", 0},
		{"empty segment", 64, []seg{{seq: isn, syn: true}, {seq: isn + 1, data: ""}, {seq: isn + 1, data: "a"}}, false, "a", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &bufPool{size: tc.bufSize, maxFree: 4}
			var r reasm
			k := &recSink{}
			for _, sg := range tc.segs {
				if sg.syn {
					r.syn(sg.seq)
					continue
				}
				r.segment(p, FromClient, k, sg.seq, []byte(sg.data), max(sg.total, len(sg.data)))
			}
			if tc.flush {
				r.flush(p, FromClient, k)
			}
			if got := k.out.String(); got != tc.want {
				t.Errorf("delivered %q, want %q", got, tc.want)
			}
			if k.overflows != tc.overflows {
				t.Errorf("overflows %d, want %d", k.overflows, tc.overflows)
			}
			if tc.flush && r.buf != nil {
				t.Errorf("buffer still held after flush")
			}
		})
	}
}

func TestReasmTooManySpans(t *testing.T) {
	p := &bufPool{size: 1 << 16, maxFree: 4}
	var r reasm
	k := &recSink{}
	r.syn(0)
	// Every other byte: maxSpans+1 disjoint runs force an overflow.
	for i := range maxSpans + 1 {
		r.segment(p, FromClient, k, uint32(2+2*i), []byte{'x'}, 1)
	}
	if k.overflows != 1 || k.gaps != 1 {
		t.Fatalf("overflows %d gaps %d, want 1 and 1", k.overflows, k.gaps)
	}
	if got := len(r.buf.spans); got != maxSpans {
		t.Fatalf("spans %d, want %d", got, maxSpans)
	}
	if !strings.HasPrefix(k.out.String(), "<gap 1>x") {
		t.Fatalf("delivered %q", k.out.String())
	}
}

func TestReasmStop(t *testing.T) {
	p := &bufPool{size: 64, maxFree: 4}
	var r reasm
	k := &recSink{stopAfter: 2}
	r.syn(0)
	r.segment(p, FromClient, k, 3, []byte("cd"), 2)
	if r.segment(p, FromClient, k, 1, []byte("ab"), 2) {
		t.Fatal("segment returned true after the sink stopped")
	}
	if got := k.out.String(); got != "ab" {
		t.Fatalf("delivered %q after stop, want %q", got, "ab")
	}
	r.release(p)
	if len(p.free) != 1 {
		t.Fatalf("buffer not returned to the pool")
	}
}

func TestReasmBufferReturned(t *testing.T) {
	p := &bufPool{size: 64, maxFree: 4}
	var r reasm
	k := &recSink{}
	r.syn(0)
	r.segment(p, FromClient, k, 3, []byte("cd"), 2)
	if r.buf == nil {
		t.Fatal("no buffer for out-of-order data")
	}
	r.segment(p, FromClient, k, 1, []byte("ab"), 2)
	if r.buf != nil || len(p.free) != 1 {
		t.Fatalf("buffer not returned once empty (buf %v, free %d)", r.buf != nil, len(p.free))
	}
}
