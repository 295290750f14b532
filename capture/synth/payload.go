package synth

import (
	"math/rand/v2"
	"strings"
)

// Payload is the application data of one message: literal bytes and filler
// runs. Filler is only materialised while a packet is being built, so a plan
// can describe a gigabyte transfer in a few words of memory.
//
// A Payload never owns its literal bytes exclusively: builders hand out
// fresh slices, and callers must not modify a slice after wrapping it.
type Payload struct {
	chunks []chunk
	n      int
}

type fillKind uint8

const (
	fillNone   fillKind = iota // literal bytes
	fillRandom                 // incompressible bytes (ciphertext, archives)
	fillText                   // printable words (HTML, logs, listings)
)

type chunk struct {
	lit  []byte
	n    int
	kind fillKind
	base uint32 // pool offset of the chunk's first filler byte, before the flow's own offset
}

// Bytes wraps literal bytes.
func Bytes(b []byte) Payload {
	if len(b) == 0 {
		return Payload{}
	}
	return Payload{chunks: []chunk{{lit: b, n: len(b)}}, n: len(b)}
}

// String wraps a literal string.
func String(s string) Payload { return Bytes([]byte(s)) }

// Random is n incompressible filler bytes.
func Random(n int) Payload { return filler(n, fillRandom) }

// Text is n bytes of printable filler text (lower-case words, spaces and
// newlines).
func Text(n int) Payload { return filler(n, fillText) }

func filler(n int, k fillKind) Payload {
	if n <= 0 {
		return Payload{}
	}
	return Payload{chunks: []chunk{{n: n, kind: k}}, n: n}
}

// Concat joins payloads.
func Concat(ps ...Payload) Payload {
	var out Payload
	for _, p := range ps {
		out.chunks = append(out.chunks, p.chunks...)
		out.n += p.n
	}
	return out
}

// Len is the payload length in bytes.
func (p Payload) Len() int { return p.n }

// Slice returns bytes [off, off+n) of p (clamped to p's length). Filler keeps
// its content: a slice reads the same bytes as the original at that offset.
func (p Payload) Slice(off, n int) Payload {
	var out Payload
	if off < 0 {
		off = 0
	}
	end := min(off+max(n, 0), p.n)
	pos := 0
	for _, c := range p.chunks {
		cs, ce := pos, pos+c.n
		pos = ce
		lo, hi := max(cs, off), min(ce, end)
		if lo >= hi {
			continue
		}
		s := c
		s.n = hi - lo
		if c.kind == fillNone {
			s.lit = c.lit[lo-cs : hi-cs]
		} else {
			s.base = c.base + uint32(lo-cs)
		}
		out.chunks = append(out.chunks, s)
		out.n += s.n
	}
	return out
}

// Materialize returns the payload's bytes as a packet of a flow with the
// given filler seed would carry them. It is meant for tests and small
// payloads; the packet path reads ranges without materialising.
func (p Payload) Materialize(seed uint32) []byte {
	out := make([]byte, p.n)
	var cur cursor
	cur.read(p, out, 0, seed)
	return out
}

// cursor remembers where the previous read ended, because messages are read
// front to back one segment at a time and a fresh scan would make long
// multi-chunk payloads quadratic.
type cursor struct {
	idx   int // chunk index
	start int // payload offset of chunk idx
}

// read fills dst with bytes [off, off+len(dst)) of p. seed shifts filler into
// a flow-specific region of the pools.
func (c *cursor) read(p Payload, dst []byte, off int, seed uint32) {
	if off < c.start || c.idx >= len(p.chunks) {
		c.idx, c.start = 0, 0
	}
	for len(dst) > 0 && c.idx < len(p.chunks) {
		ch := &p.chunks[c.idx]
		if off >= c.start+ch.n {
			c.start += ch.n
			c.idx++
			continue
		}
		in := off - c.start
		k := min(len(dst), ch.n-in)
		switch ch.kind {
		case fillNone:
			copy(dst[:k], ch.lit[in:in+k])
		case fillRandom:
			fillFrom(dst[:k], randomPool, seed+ch.base+uint32(in))
		case fillText:
			fillFrom(dst[:k], textPool, seed+ch.base+uint32(in))
		}
		dst = dst[k:]
		off += k
	}
	// Past the end (cannot happen for well-formed plans): keep bytes defined.
	clear(dst)
}

const poolSize = 1 << 16

// Filler pools: fixed content, so files depend only on the scenario seed.
var (
	randomPool = makeRandomPool()
	textPool   = makeTextPool()
)

func fillFrom(dst, pool []byte, pos uint32) {
	for len(dst) > 0 {
		p := int(pos % poolSize)
		k := copy(dst, pool[p:poolSize])
		dst = dst[k:]
		pos += uint32(k)
	}
}

func makeRandomPool() []byte {
	r := rand.New(rand.NewPCG(0x6f7574666c6f77, 0x73796e7468))
	b := make([]byte, poolSize)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func makeTextPool() []byte {
	words := strings.Fields(`the of and to in is that for it as was with be by on not
		he this are or his from at which but have an they you were her she there one
		all we their can been has more if will would who so no data value node
		service request config cluster status error update build release image
		container network stream buffer index record table report summary`)
	r := rand.New(rand.NewPCG(0x74657874, 0x706f6f6c))
	b := make([]byte, 0, poolSize+16)
	col := 0
	for len(b) < poolSize {
		w := words[r.IntN(len(words))]
		b = append(b, w...)
		col += len(w)
		if col > 60 {
			b = append(b, '\n')
			col = 0
		} else {
			b = append(b, ' ')
			col++
		}
	}
	return b[:poolSize]
}
