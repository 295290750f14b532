package l7

import (
	"encoding/binary"
	"testing"
)

// streamByte is the byte at offset o of the reference stream the fuzzer
// cuts segments from.
func streamByte(o uint32) byte { return byte(o*131 + o>>7 + 7) }

// checkSink verifies that deliveries walk the stream forward: every data
// byte is the reference byte at its position (when the segments were cut
// from the reference stream), gaps only move the position.
type checkSink struct {
	t          *testing.T
	base       uint32 // sequence number of reference offset 0
	pos        uint32 // sequence number of the next delivered byte
	posSet     bool
	consistent bool
	moved      uint64
}

func (k *checkSink) data(_ Dir, b []byte) bool {
	if !k.posSet {
		k.t.Fatal("data before the stream start was known")
	}
	for i, c := range b {
		if k.consistent && c != streamByte(k.pos+uint32(i)-k.base) {
			k.t.Fatalf("byte at seq %d: got %d want %d", k.pos+uint32(i), c, streamByte(k.pos+uint32(i)-k.base))
		}
	}
	k.pos += uint32(len(b))
	k.moved += uint64(len(b))
	return true
}

func (k *checkSink) gap(_ Dir, n int) bool {
	if n <= 0 {
		k.t.Fatalf("gap of %d bytes", n)
	}
	k.pos += uint32(n)
	k.moved += uint64(n)
	return true
}

func (k *checkSink) overflow(Dir) {}

func checkSpans(t *testing.T, r *reasm, size int) {
	if r.buf == nil {
		return
	}
	if len(r.buf.spans) == 0 {
		t.Fatal("empty buffer kept")
	}
	prev := -1
	for _, sp := range r.buf.spans {
		if sp.start <= prev || sp.end <= sp.start || sp.end > size || sp.start < 1 {
			t.Fatalf("bad spans %v (size %d)", r.buf.spans, size)
		}
		prev = sp.end
	}
}

// FuzzReasm feeds random segments to a reassembler. Input: byte 0 picks the
// buffer size and whether segments carry reference-stream bytes; then 6-byte
// records: offset (uint16), length, captured length, flags (bit 0 SYN, bit 1
// far jump), spare.
func FuzzReasm(f *testing.F) {
	f.Add([]byte{0x81, 0, 0, 0, 0, 1, 0, 0, 1, 10, 10, 0, 0, 0, 11, 5, 5, 0, 0})
	f.Add([]byte{0x83, 0, 0, 0, 0, 1, 0, 0, 20, 10, 10, 0, 0, 0, 1, 19, 19, 0, 0, 0, 5, 100, 3, 0, 0})
	f.Add([]byte{0x02, 0, 10, 4, 4, 0, 0, 0, 2, 4, 4, 0, 0, 0, 6, 4, 4, 0, 0, 0, 0, 255, 255, 2, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		size := 1 + int(in[0]&0x7f)*8
		consistent := in[0]&0x80 != 0
		p := &bufPool{size: size, maxFree: 2}
		const base = 0xfffff000 // exercises sequence wrap
		k := &checkSink{t: t, base: base, consistent: consistent}
		var r reasm
		var start uint32
		in = in[1:]
		for len(in) >= 6 {
			off := uint32(binary.BigEndian.Uint16(in))
			total, captured, flags := int(in[2]), int(in[3]), in[4]
			in = in[6:]
			if flags&2 != 0 {
				off += uint32(in0(in)) << 24
			}
			captured = min(captured, total)
			seq := base + off
			if flags&1 != 0 {
				r.syn(seq)
			} else {
				buf := make([]byte, captured)
				for i := range buf {
					if consistent {
						buf[i] = streamByte(off + uint32(i))
					} else {
						buf[i] = byte(i * 7)
					}
				}
				if !r.moved {
					// The stream starts at the SYN's or else the first data.
					start = seq
					if r.started {
						start = r.next
					}
					k.pos, k.posSet = start, true
				}
				if !r.segment(p, FromClient, k, seq, buf, total) {
					t.Fatal("segment stopped without the sink asking")
				}
			}
			checkSpans(t, &r, size)
			if r.moved && k.pos != r.next {
				t.Fatalf("delivered up to %d, reassembler at %d", k.pos, r.next)
			}
		}
		r.flush(p, FromClient, k)
		if r.buf != nil {
			t.Fatal("buffer held after flush")
		}
		if r.moved && k.pos != r.next {
			t.Fatalf("after flush delivered up to %d, reassembler at %d", k.pos, r.next)
		}
		if r.moved && uint32(k.moved) != r.next-start {
			t.Fatalf("moved %d bytes, stream advanced %d", k.moved, r.next-start)
		}
	})
}

func in0(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
