package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// The flow index maps keys to slab positions with open addressing and
// linear probing over 8-byte slots. Compared with a Go map keyed by the
// 38-byte Key, a lookup touches one index cache line and then the flow
// itself, which the packet needs anyway; it is the hot spot of the packet
// path once the table is larger than the CPU caches.

type slot struct {
	hash uint32
	pos  int32 // slab position + 1; 0 is an empty slot
}

type index struct {
	slots []slot
	mask  uint32
	n     int
	seed  uint64 // random per table, so crafted keys cannot aim at one chain
}

func newIndex(capacity int) index {
	size := 1024
	for size < capacity*2 {
		size <<= 1
	}
	slots := make([]slot, size)
	Prefault(slots)
	return index{slots: slots, mask: uint32(size - 1), seed: rand.Uint64() | 1}
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0x2d358dccaa6c78a5, b^0x8bb84b93962eacc9)
	return hi ^ lo
}

func (x *index) hash(k *Key) uint32 {
	h := mix(binary.LittleEndian.Uint64(k.A[0:8])^x.seed, binary.LittleEndian.Uint64(k.A[8:16]))
	h = mix(h^binary.LittleEndian.Uint64(k.B[0:8]), binary.LittleEndian.Uint64(k.B[8:16])^x.seed)
	h = mix(h, uint64(k.APort)|uint64(k.BPort)<<16|uint64(k.Proto)<<32)
	return uint32(h) ^ uint32(h>>32)
}

// lookup returns the slab position of k.
func (t *Table) lookup(k *Key, h uint32) (int32, bool) {
	x := &t.idx
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := x.slots[i]
		if s.pos == 0 {
			return 0, false
		}
		if s.hash == h && keyEqual(&t.flow(s.pos-1).Key, k) {
			return s.pos - 1, true
		}
	}
}

// insert adds a key known to be absent.
func (t *Table) insert(h uint32, pos int32) {
	x := &t.idx
	if (x.n+1)*10 > len(x.slots)*6 {
		x.grow()
	}
	i := h & x.mask
	for x.slots[i].pos != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = slot{hash: h, pos: pos + 1}
	x.n++
}

func (x *index) grow() {
	old := x.slots
	x.slots = make([]slot, len(old)*2)
	Prefault(x.slots)
	x.mask = uint32(len(x.slots) - 1)
	for _, s := range old {
		if s.pos == 0 {
			continue
		}
		i := s.hash & x.mask
		for x.slots[i].pos != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
	}
}

// remove deletes the entry for slab position pos with hash h, shifting
// later entries of its chain back so that no tombstones are needed.
func (t *Table) remove(h uint32, pos int32) {
	x := &t.idx
	i := h & x.mask
	for x.slots[i].pos != pos+1 {
		if x.slots[i].pos == 0 {
			return // not present
		}
		i = (i + 1) & x.mask
	}
	j := i
	for {
		j = (j + 1) & x.mask
		s := x.slots[j]
		if s.pos == 0 {
			break
		}
		k := s.hash & x.mask
		// Leave s where it is if its home slot lies cyclically in (i, j].
		if i <= j {
			if i < k && k <= j {
				continue
			}
		} else if i < k || k <= j {
			continue
		}
		x.slots[i] = s
		i = j
	}
	x.slots[i] = slot{}
	x.n--
}
