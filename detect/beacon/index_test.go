package beacon

import (
	"math/rand/v2"
	"testing"
)

// TestSeriesIndexMatchesMap drives the index and a Go map with the same
// random operations, with keys drawn from a small range so that probe runs
// collide, wrap and shift back on delete, and checks every lookup.
func TestSeriesIndexMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		keys   uint64 // keys are 1..keys
		ops    int
		spread func(uint64) uint64
	}{
		{"dense small keys", 300, 200_000, func(k uint64) uint64 { return k }},
		{"hashed keys", 5000, 200_000, func(k uint64) uint64 { return k*0xbf58476d1ce4e5b9 | 1 }},
		// Keys whose homes collide: they differ only in high bits the
		// multiply moves out of the slot number's reach less often.
		{"clustered keys", 2000, 100_000, func(k uint64) uint64 { return k << 40 }},
		// Keys whose home is one of the last slots of the smallest table:
		// their probe runs wrap around its end and collide all the time.
		{"wrapping runs", 200, 100_000, func(k uint64) uint64 { return wrapKeys[k-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(tc.keys)))
			x := newSeriesIndex(0)
			m := map[uint64]int32{}
			for i := 0; i < tc.ops; i++ {
				k := tc.spread(1 + r.Uint64N(tc.keys))
				switch r.IntN(3) {
				case 0:
					v := int32(r.IntN(1 << 20))
					x.put(k, v)
					m[k] = v
				case 1:
					x.del(k)
					delete(m, k)
				}
				got, ok := x.get(k)
				want, wok := m[k]
				if ok != wok || ok && got != want {
					t.Fatalf("op %d: get(%#x) = %d, %v; want %d, %v", i, k, got, ok, want, wok)
				}
				if x.len() != len(m) {
					t.Fatalf("op %d: len %d, want %d", i, x.len(), len(m))
				}
			}
			for k, want := range m {
				if got, ok := x.get(k); !ok || got != want {
					t.Fatalf("final get(%#x) = %d, %v; want %d", k, got, ok, want)
				}
			}
		})
	}
}

// wrapKeys are keys whose home in a minIndexSlots table is one of its last
// four slots.
var wrapKeys = func() []uint64 {
	x := newSeriesIndex(0)
	var keys []uint64
	for k := uint64(1); len(keys) < 200; k++ {
		if x.home(k) >= minIndexSlots-4 {
			keys = append(keys, k)
		}
	}
	return keys
}()

func BenchmarkSeriesIndexGet(b *testing.B) {
	const n = 64 << 10
	x := newSeriesIndex(0)
	keys := make([]uint64, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i] = r.Uint64() | 1
		x.put(keys[i], int32(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := x.get(keys[(i*7919)&(n-1)]); !ok {
			b.Fatal("lost key")
		}
	}
}

// TestRingGrowsInOrder checks that a series' ring, which starts small and
// doubles as check-ins come, always holds the latest min(count, Ring)
// check-ins oldest first, whatever the count at which it grew.
func TestRingGrowsInOrder(t *testing.T) {
	for _, ring := range []int{8, 12, 64, 100} {
		for _, count := range []int{1, 7, 8, 9, 16, 17, 63, 64, 65, 130, 300} {
			tr := NewTracker(Config{Ring: ring, MinCheckins: 4, Threshold: 1})
			k := Key{Entity: "e", Dest: "d"}
			for i := 1; i <= count; i++ {
				tr.Add(k, int64(i)*1e9, uint64(i))
			}
			idx, ok := tr.index.get(tr.hash(k))
			if !ok {
				t.Fatalf("ring %d count %d: series lost", ring, count)
			}
			s := &tr.slab[idx]
			want := min(count, tr.cfg.Ring)
			if s.n != want || len(s.ring) > tr.cfg.Ring {
				t.Fatalf("ring %d count %d: n %d (want %d), ring length %d", ring, count, s.n, want, len(s.ring))
			}
			for j := 0; j < s.n; j++ {
				p := (s.head - s.n + j + 2*len(s.ring)) % len(s.ring)
				if got, exp := s.ring[p].size, uint32(count-want+1+j); got != exp {
					t.Fatalf("ring %d count %d: entry %d has size %d, want %d", ring, count, j, got, exp)
				}
			}
		}
	}
}
