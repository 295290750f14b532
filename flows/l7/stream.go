package l7

// TCP stream reassembly, one reasm per direction of a flow.
//
// In-order bytes go straight from the packet to the sink without copying.
// Only segments that arrive ahead of a hole are copied, into a fixed-size
// buffer whose byte i is stream byte next+i; the buffer is taken from a pool
// when first needed and returned as soon as it is empty again, so a flow that
// sees no reordering never holds one.

// maxSpans bounds the held runs of one buffer: a peer sending many tiny
// disjoint segments overflows (and is skipped past) instead of costing a long
// list walk per packet.
const maxSpans = 64

// maxAhead is how far past the next expected byte a segment may start before
// it is taken for garbage (a forged or desynchronised sequence number) and
// dropped rather than turned into an enormous gap.
const maxAhead = 1 << 30

// span is a run of held bytes [start, end), as offsets from reasm.next.
type span struct{ start, end int }

// oooBuf holds out-of-order data of one direction.
type oooBuf struct {
	data  []byte // len is the pool's size; data[i] is stream byte next+i
	spans []span // sorted, disjoint and non-adjacent; cap maxSpans
}

// bufPool recycles oooBufs. It is not safe for concurrent use.
type bufPool struct {
	size    int
	maxFree int
	free    []*oooBuf
}

func (p *bufPool) get() *oooBuf {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return &oooBuf{data: make([]byte, p.size), spans: make([]span, 0, maxSpans)}
}

func (p *bufPool) put(b *oooBuf) {
	b.spans = b.spans[:0]
	if len(p.free) < p.maxFree {
		p.free = append(p.free, b)
	}
}

// sink receives what a reasm delivers. Returning false from data or gap
// stops delivery at once; the caller then discards the reasm.
type sink interface {
	data(dir Dir, b []byte) bool
	gap(dir Dir, n int) bool
	overflow(dir Dir)
}

// reasm reassembles one direction of a TCP stream.
type reasm struct {
	next    uint32 // sequence number of the next byte to deliver
	started bool   // next is known
	moved   bool   // bytes were delivered or skipped: next is no longer an ISN guess
	buf     *oooBuf
}

// syn records a SYN: the stream starts at its sequence number + 1, unless
// data has already been delivered or held (a late or retransmitted SYN).
func (r *reasm) syn(seq uint32) {
	if !r.moved && !r.held() {
		r.next = seq + 1
		r.started = true
	}
}

// release returns the buffer to the pool and forgets the stream.
func (r *reasm) release(p *bufPool) {
	if r.buf != nil {
		p.put(r.buf)
	}
	*r = reasm{}
}

// held reports whether out-of-order bytes are waiting.
func (r *reasm) held() bool { return r.buf != nil && len(r.buf.spans) > 0 }

// segment processes one segment whose first byte has sequence number seq.
// total is its length per the headers; data is what was captured of it
// (len(data) <= total when the capture was snapped). It returns false if the
// sink stopped delivery.
func (r *reasm) segment(p *bufPool, dir Dir, k sink, seq uint32, data []byte, total int) bool {
	if total < len(data) {
		total = len(data)
	}
	if total == 0 {
		return true
	}
	if !r.started {
		r.next = seq // mid-stream start: the first data seen is the start
		r.started = true
	}
	off := int(int32(seq - r.next))
	if off+total <= 0 {
		return true // entirely old: retransmission
	}
	if off > maxAhead {
		return true
	}
	if off < 0 {
		// Overlaps what was delivered: the first copy won, keep the rest.
		cut := -off
		if cut >= len(data) {
			data = nil
		} else {
			data = data[cut:]
		}
		total -= cut
		seq += uint32(cut)
		off = 0
	}
	if off == 0 {
		return r.inOrder(p, dir, k, data, total)
	}
	return r.hold(p, dir, k, seq, off, data, total)
}

// inOrder delivers a segment starting at next: total bytes of which data is
// the captured prefix. Bytes already held from an earlier copy win.
func (r *reasm) inOrder(p *bufPool, dir Dir, k sink, data []byte, total int) bool {
	for len(data) > 0 {
		if !r.held() || r.buf.spans[0].start >= len(data) {
			n := len(data)
			if !k.data(dir, data) {
				return false
			}
			r.advance(p, n)
			total -= n
			data = nil
			break
		}
		if s0 := r.buf.spans[0].start; s0 > 0 {
			if !k.data(dir, data[:s0]) {
				return false
			}
			r.advance(p, s0)
			total -= s0
			data = data[s0:]
			continue
		}
		// Held bytes at the front arrived first: deliver them instead.
		n := r.buf.spans[0].end
		if !k.data(dir, r.buf.data[:n]) {
			return false
		}
		r.advance(p, n)
		total -= n
		data = data[min(n, len(data)):]
	}
	if total > 0 {
		// The snapped tail: take held bytes where there are any.
		if !r.skip(p, dir, k, total) {
			return false
		}
	}
	return r.flushFront(p, dir, k)
}

// hold buffers an out-of-order segment at offset off > 0 from next, skipping
// holes when it does not fit.
func (r *reasm) hold(p *bufPool, dir Dir, k sink, seq uint32, off int, data []byte, total int) bool {
	if len(data) == 0 {
		return true // nothing captured to hold; the hole is skipped later
	}
	counted := false
	for !r.fits(p, off, len(data)) {
		if !counted {
			k.overflow(dir)
			counted = true
		}
		if !r.held() {
			if !k.gap(dir, off) {
				return false
			}
			r.advance(p, off)
			return r.inOrder(p, dir, k, data, total)
		}
		// Skip the first hole; the run behind it becomes deliverable.
		if !k.gap(dir, r.buf.spans[0].start) {
			return false
		}
		r.advance(p, r.buf.spans[0].start)
		if !r.flushFront(p, dir, k) {
			return false
		}
		off = int(int32(seq - r.next))
		if off <= 0 {
			return r.segment(p, dir, k, seq, data, total)
		}
	}
	if r.buf == nil {
		r.buf = p.get()
	}
	r.insert(off, data)
	return true
}

func (r *reasm) fits(p *bufPool, off, n int) bool {
	if off+n > p.size {
		return false
	}
	return r.buf == nil || len(r.buf.spans) < maxSpans
}

// insert copies data at offset off into the holes of the buffer (bytes
// already held were first and win) and merges the spans.
func (r *reasm) insert(off int, data []byte) {
	b := r.buf
	end := off + len(data)
	pos := off
	for _, sp := range b.spans {
		if sp.end <= pos {
			continue
		}
		if sp.start >= end {
			break
		}
		if sp.start > pos {
			copy(b.data[pos:sp.start], data[pos-off:sp.start-off])
		}
		pos = max(pos, sp.end)
		if pos >= end {
			break
		}
	}
	if pos < end {
		copy(b.data[pos:end], data[pos-off:])
	}
	// Merge [off, end) with every span it overlaps or touches.
	i := 0
	for i < len(b.spans) && b.spans[i].end < off {
		i++
	}
	j := i
	ns := span{off, end}
	for j < len(b.spans) && b.spans[j].start <= end {
		ns.start = min(ns.start, b.spans[j].start)
		ns.end = max(ns.end, b.spans[j].end)
		j++
	}
	if i == j {
		b.spans = append(b.spans, span{})
		copy(b.spans[i+1:], b.spans[i:])
		b.spans[i] = ns
		return
	}
	b.spans[i] = ns
	b.spans = append(b.spans[:i+1], b.spans[j:]...)
}

// advance moves next forward by n bytes, dropping held bytes it passes.
func (r *reasm) advance(p *bufPool, n int) {
	r.next += uint32(n)
	r.moved = true
	if r.buf == nil {
		return
	}
	b := r.buf
	last := 0
	if len(b.spans) > 0 {
		last = b.spans[len(b.spans)-1].end
	}
	if n >= last {
		p.put(b)
		r.buf = nil
		return
	}
	copy(b.data, b.data[n:last])
	w := 0
	for _, sp := range b.spans {
		if sp.end <= n {
			continue
		}
		b.spans[w] = span{max(sp.start-n, 0), sp.end - n}
		w++
	}
	b.spans = b.spans[:w]
}

// flushFront delivers held bytes that have become contiguous with next.
func (r *reasm) flushFront(p *bufPool, dir Dir, k sink) bool {
	for r.held() && r.buf.spans[0].start == 0 {
		n := r.buf.spans[0].end
		if !k.data(dir, r.buf.data[:n]) {
			return false
		}
		r.advance(p, n)
	}
	return true
}

// skip moves the stream n bytes forward, delivering held bytes where there
// are some and reporting the rest as gaps.
func (r *reasm) skip(p *bufPool, dir Dir, k sink, n int) bool {
	for n > 0 {
		if r.held() && r.buf.spans[0].start == 0 {
			m := r.buf.spans[0].end
			if !k.data(dir, r.buf.data[:m]) {
				return false
			}
			r.advance(p, m)
			n -= m
			continue
		}
		h := n
		if r.held() {
			h = min(h, r.buf.spans[0].start)
		}
		if !k.gap(dir, h) {
			return false
		}
		r.advance(p, h)
		n -= h
	}
	return true
}

// flush delivers everything held, skipping the holes before it: the flow
// ended and nothing will fill them.
func (r *reasm) flush(p *bufPool, dir Dir, k sink) bool {
	if !r.held() {
		return true
	}
	return r.skip(p, dir, k, r.buf.spans[len(r.buf.spans)-1].end)
}
