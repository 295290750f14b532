package beacon

import "outflow/flows"

// seriesIndex maps a series' 64-bit hash to its slab index. It is open
// addressing with linear probing, one 16-byte slot per entry, at most half
// full: a lookup costs one cache miss where a Go map costs two (control
// word, then slot), and every check-in does one.
type seriesIndex struct {
	slots []islot
	n     int
	shift uint8 // 64 - log2(len(slots))
}

// islot is one entry; key 0 marks an empty slot (keys are never 0).
type islot struct {
	key uint64
	idx int32
}

const minIndexSlots = 1 << 10

func newSeriesIndex(hint int) seriesIndex {
	var x seriesIndex
	x.resize(max(minIndexSlots, ceilPow2(2*hint)))
	return x
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// home is key's first slot. Keys are hashes already; the multiply spreads
// whatever bits a caller's IDs vary in.
func (x *seriesIndex) home(key uint64) uint64 { return (key * 0x9e3779b97f4a7c15) >> x.shift }

func (x *seriesIndex) len() int { return x.n }

func (x *seriesIndex) get(key uint64) (int32, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.key == key {
			return s.idx, true
		}
		if s.key == 0 {
			return nilIdx, false
		}
	}
}

// put sets key's entry.
func (x *seriesIndex) put(key uint64, idx int32) {
	if 2*(x.n+1) > len(x.slots) {
		x.resize(2 * len(x.slots))
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.key == key {
			s.idx = idx
			return
		}
		if s.key == 0 {
			*s = islot{key, idx}
			x.n++
			return
		}
	}
}

// del removes key's entry, shifting later entries of its probe run back so
// that lookups need no tombstones.
func (x *seriesIndex) del(key uint64) {
	mask := uint64(len(x.slots) - 1)
	i := x.home(key)
	for {
		if x.slots[i].key == key {
			break
		}
		if x.slots[i].key == 0 {
			return
		}
		i = (i + 1) & mask
	}
	x.n--
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := x.slots[j]
		if s.key == 0 {
			break
		}
		// s may fill the hole at i if its home is not in (i, j].
		if h := x.home(s.key); (j-h)&mask >= (j-i)&mask {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = islot{}
}

func (x *seriesIndex) resize(n int) {
	old := x.slots
	x.slots = make([]islot, n)
	flows.Prefault(x.slots)
	x.shift = uint8(64 - log2(n))
	x.n = 0
	for _, s := range old {
		if s.key != 0 {
			x.put(s.key, s.idx)
		}
	}
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}
