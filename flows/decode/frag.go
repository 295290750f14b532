package decode

import (
	"encoding/binary"
	"math/rand/v2"
)

// Fragment reassembly. Fragment bytes are copied into fixed 2 KiB chunks
// from a pool that grows in 64 KiB slabs up to Config.MaxFragBytes, so a
// small datagram holds little memory and nothing is allocated once the pool
// has grown. A datagram tracks the byte ranges it has as a short sorted
// list of extents; the first copy of a byte wins. Datagrams are found
// through an open-addressing hash table of fixed size, and kept on a list
// in arrival order so that the oldest is the one expired or evicted.

const (
	maxDatagram = 65535 // largest reassembled payload
	chunkBits   = 11
	chunkSize   = 1 << chunkBits
	dgChunks    = (maxDatagram + chunkSize) >> chunkBits // chunks covering one datagram
	slabChunks  = 32                                     // chunks allocated at once (64 KiB)
	maxExtents  = 16                                     // disjoint ranges (holes+1) tracked per datagram
)

type fragKey struct {
	src, dst Addr
	id       uint32
	proto    uint8 // IPv4 only: part of the IPv4 reassembly key
	v6       bool
}

type extent struct{ s, e int32 }

type datagram struct {
	key       fragKey
	hash      uint32
	first     int64 // packet time of the first fragment seen
	prev      int32 // arrival list
	next      int32
	total     int32 // payload length, -1 until the last fragment arrives
	frags     int32
	ipBytes   int
	proto     uint8 // upper protocol, from the fragment at offset 0
	haveFirst bool
	nExt      uint8
	ext       [maxExtents]extent
	chunk     [dgChunks]int32 // pool index + 1; 0 = not yet allocated
}

type fragTable struct {
	stats      *Stats
	maxDgrams  int
	maxChunks  int
	timeout    int64
	seed       uint64
	dg         []datagram
	free       []int32
	live       int
	head, tail int32
	slots      []int32 // datagram index + 1; 0 = empty
	mask       uint32
	pool       [][]byte
	freeChunks []int32
}

func (t *fragTable) init(cfg Config, stats *Stats) {
	t.stats = stats
	t.maxDgrams = cfg.MaxFragDatagrams
	t.maxChunks = cfg.MaxFragBytes / chunkSize / slabChunks * slabChunks
	if t.maxChunks < slabChunks {
		t.maxChunks = slabChunks // one full-size datagram always fits
	}
	t.timeout = cfg.FragTimeout
	// A per-decoder seed keeps crafted fragment floods from colliding.
	t.seed = rand.Uint64()
	n := 16
	for n < 2*t.maxDgrams {
		n <<= 1
	}
	t.slots = make([]int32, n)
	t.mask = uint32(n - 1)
	t.head, t.tail = -1, -1
}

func (t *fragTable) hash(k *fragKey) uint32 {
	x := t.seed ^ uint64(k.id)<<16 ^ uint64(k.proto)<<8
	if k.v6 {
		x ^= 1
	}
	for _, w := range [4]uint64{
		binary.LittleEndian.Uint64(k.src[:8]), binary.LittleEndian.Uint64(k.src[8:]),
		binary.LittleEndian.Uint64(k.dst[:8]), binary.LittleEndian.Uint64(k.dst[8:]),
	} {
		x = (x ^ w) * 0x9e3779b97f4a7c15
		x ^= x >> 32
	}
	return uint32(x)
}

// lookup returns the datagram for k, or -1 and the empty slot where it
// would go.
func (t *fragTable) lookup(k *fragKey, hv uint32) (int32, uint32) {
	pos := hv & t.mask
	for {
		s := t.slots[pos]
		if s == 0 {
			return -1, pos
		}
		if g := &t.dg[s-1]; g.hash == hv && g.key == *k {
			return s - 1, pos
		}
		pos = (pos + 1) & t.mask
	}
}

// unhash empties slot pos and shifts later entries of its probe run back,
// so that lookups never need tombstones.
func (t *fragTable) unhash(pos uint32) {
	for {
		t.slots[pos] = 0
		j := pos
		for {
			j = (j + 1) & t.mask
			s := t.slots[j]
			if s == 0 {
				return
			}
			home := t.dg[s-1].hash & t.mask
			// Move the entry back unless its home lies cyclically in (pos, j].
			if (j > pos && (home <= pos || home > j)) || (j < pos && home <= pos && home > j) {
				t.slots[pos] = s
				pos = j
				break
			}
		}
	}
}

func (t *fragTable) remove(i int32) {
	g := &t.dg[i]
	pos := g.hash & t.mask
	for t.slots[pos] != i+1 {
		pos = (pos + 1) & t.mask
	}
	t.unhash(pos)
	if g.prev >= 0 {
		t.dg[g.prev].next = g.next
	} else {
		t.head = g.next
	}
	if g.next >= 0 {
		t.dg[g.next].prev = g.prev
	} else {
		t.tail = g.prev
	}
	for c, ci := range g.chunk {
		if ci != 0 {
			t.freeChunks = append(t.freeChunks, ci-1)
			g.chunk[c] = 0
		}
	}
	t.free = append(t.free, i)
	t.live--
}

func (t *fragTable) expire(now int64) {
	for t.head >= 0 && now-t.dg[t.head].first > t.timeout {
		t.remove(t.head)
		t.stats.FragExpired++
	}
}

// evictOther drops the oldest datagram other than keep.
func (t *fragTable) evictOther(keep int32) bool {
	v := t.head
	if v == keep && v >= 0 {
		v = t.dg[v].next
	}
	if v < 0 {
		return false
	}
	t.remove(v)
	t.stats.FragEvicted++
	return true
}

// chunkFor returns the pool index + 1 for a chunk of datagram i, evicting
// older datagrams when the pool is at its limit.
func (t *fragTable) chunkFor(i int32) int32 {
	for {
		if n := len(t.freeChunks); n > 0 {
			c := t.freeChunks[n-1]
			t.freeChunks = t.freeChunks[:n-1]
			return c + 1
		}
		if len(t.pool)+slabChunks <= t.maxChunks {
			slab := make([]byte, slabChunks*chunkSize)
			for j := 0; j < slabChunks; j++ {
				t.freeChunks = append(t.freeChunks, int32(len(t.pool)))
				t.pool = append(t.pool, slab[j*chunkSize:(j+1)*chunkSize:(j+1)*chunkSize])
			}
			continue
		}
		if !t.evictOther(i) {
			return 0
		}
	}
}

// store copies data, which belongs at payload offset off, into datagram i.
func (t *fragTable) store(i int32, off int, data []byte) bool {
	for len(data) > 0 {
		c := off >> chunkBits
		g := &t.dg[i]
		if g.chunk[c] == 0 {
			ci := t.chunkFor(i)
			if ci == 0 {
				return false
			}
			g.chunk[c] = ci
		}
		n := copy(t.pool[g.chunk[c]-1][off&(chunkSize-1):], data)
		off += n
		data = data[n:]
	}
	return true
}

func (t *fragTable) newDatagram(k *fragKey, hv uint32, now int64) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.dg = append(t.dg, datagram{})
		i = int32(len(t.dg) - 1)
	}
	g := &t.dg[i]
	*g = datagram{key: *k, hash: hv, first: now, prev: t.tail, next: -1, total: -1}
	if t.tail >= 0 {
		t.dg[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
	t.live++
	return i
}

// reassemble adds one fragment (payload data at offset off; ipLen is its IP
// length; proto the upper protocol it names) to its datagram. It returns
// Held, Failed, or OK with the complete payload and its upper protocol,
// after setting h's reassembly fields.
func (d *Decoder) reassemble(k *fragKey, off int, more bool, data []byte, ipLen int, proto uint8, h *Headers) (Result, []byte, uint8) {
	end := off + len(data)
	if end > maxDatagram {
		return d.fail(KindFragTooBig), nil, 0
	}
	if more && len(data) == 0 {
		return d.fail(KindBadFragment), nil, 0
	}
	t := &d.frag
	hv := t.hash(k)
	i, pos := t.lookup(k, hv)
	if i < 0 {
		if t.live >= t.maxDgrams {
			t.evictOther(-1)
			_, pos = t.lookup(k, hv) // eviction may have shifted the probe run
		}
		i = t.newDatagram(k, hv, d.now)
		t.slots[pos] = i + 1
	}
	g := &t.dg[i]

	// A fragment must agree with the datagram length once it is known.
	if more {
		if g.total >= 0 && end > int(g.total) {
			return d.fail(KindBadFragment), nil, 0
		}
	} else if (g.total >= 0 && int(g.total) != end) || (g.nExt > 0 && int(g.ext[g.nExt-1].e) > end) {
		return d.fail(KindBadFragment), nil, 0
	}

	// Extents [lo, hi) overlap or touch [off, end) and merge with it.
	n := int(g.nExt)
	lo := 0
	for lo < n && int(g.ext[lo].e) < off {
		lo++
	}
	hi := lo
	for hi < n && int(g.ext[hi].s) <= end {
		hi++
	}
	if len(data) > 0 && n-(hi-lo)+1 > maxExtents {
		t.remove(i)
		return d.fail(KindFragNoRoom), nil, 0
	}

	// Copy only the holes: bytes already held win.
	added, overlap := 0, false
	at := off
	for j := lo; j < hi && at < end; j++ {
		e := g.ext[j]
		if int(e.s) < end && int(e.e) > off {
			overlap = true
		}
		if s := int(e.s); at < s {
			if !t.store(i, at, data[at-off:s-off]) {
				t.remove(i)
				return d.fail(KindFragNoRoom), nil, 0
			}
			added += s - at
		}
		if int(e.e) > at {
			at = int(e.e)
		}
	}
	if at < end {
		if !t.store(i, at, data[at-off:]) {
			t.remove(i)
			return d.fail(KindFragNoRoom), nil, 0
		}
		added += end - at
	}
	g = &t.dg[i]
	if overlap {
		d.stats.FragOverlaps++
	}
	if added == 0 && (more || g.total >= 0) {
		return d.fail(KindFragOverlap), nil, 0 // a duplicate adds nothing
	}

	if len(data) > 0 {
		s, e := int32(off), int32(end)
		if lo < hi {
			s = min(s, g.ext[lo].s)
			e = max(e, g.ext[hi-1].e)
		}
		merged := n - (hi - lo) + 1
		switch {
		case hi == lo: // a new island: open a slot
			copy(g.ext[lo+1:merged], g.ext[lo:n])
		case hi-lo > 1: // bridged several: close the gap
			copy(g.ext[lo+1:], g.ext[hi:n])
		}
		g.ext[lo] = extent{s, e}
		g.nExt = uint8(merged)
	}
	if !more {
		g.total = int32(end)
	}
	g.frags++
	g.ipBytes += ipLen
	if off == 0 && !g.haveFirst {
		g.proto, g.haveFirst = proto, true
	}
	if g.total < 0 || g.nExt != 1 || g.ext[0].s != 0 || g.ext[0].e != g.total {
		return Held, nil, 0
	}

	out := d.outBuf()
	if out == nil {
		t.remove(i)
		return d.fail(KindTooDeep), nil, 0
	}
	out = out[:g.total]
	for c := 0; c*chunkSize < len(out); c++ {
		copy(out[c*chunkSize:], t.pool[g.chunk[c]-1])
	}
	h.Reassembled = true
	h.Packets = int(g.frags)
	h.IPBytes = g.ipBytes
	proto = g.proto
	t.remove(i)
	d.stats.Reassembled++
	return OK, out, proto
}

// outBuf hands out a buffer for a completed datagram, valid until the next
// Decode.
func (d *Decoder) outBuf() []byte {
	if d.outUsed == len(d.out) {
		if len(d.out) > d.maxDepth {
			return nil
		}
		d.out = append(d.out, make([]byte, maxDatagram))
	}
	b := d.out[d.outUsed]
	d.outUsed++
	return b
}
