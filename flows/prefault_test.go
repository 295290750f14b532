package flows

import "testing"

// TestPrefault checks that prefaulting leaves fresh memory as it was, over
// the whole capacity, for element sizes that do and do not divide a page.
func TestPrefault(t *testing.T) {
	type odd struct {
		p *int
		b [13]byte
	}
	for _, n := range []int{0, 1, 7, 4096, 100003} {
		b := make([]byte, n/2, n)
		Prefault(b)
		for i, v := range b[:cap(b)] {
			if v != 0 {
				t.Fatalf("bytes cap %d: byte %d = %d", n, i, v)
			}
		}
		o := make([]odd, 0, n)
		Prefault(o)
		for i, v := range o[:cap(o)] {
			if v != (odd{}) {
				t.Fatalf("structs cap %d: element %d changed", n, i)
			}
		}
		if len(b) != n/2 || len(o) != 0 {
			t.Fatal("Prefault changed a length")
		}
	}
}
