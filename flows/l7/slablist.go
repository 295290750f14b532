package l7

// slabList is the storage under the engine's bounded tables (expectations,
// DNS names): entries in a slab reused through a free list, so the steady
// state allocates nothing, and linked oldest to newest, so the oldest entry
// can be expired or dropped first.
type slabList[E any] struct {
	ents       []slabEntry[E]
	free       []int32
	head, tail int32 // oldest, newest; -1 when empty
}

type slabEntry[E any] struct {
	val        E
	prev, next int32
	used       bool
}

func newSlabList[E any]() slabList[E] { return slabList[E]{head: -1, tail: -1} }

// at is entry i's value.
func (l *slabList[E]) at(i int32) *E { return &l.ents[i].val }

// used reports whether slot i holds an entry.
func (l *slabList[E]) used(i int32) bool { return l.ents[i].used }

// slots is the slab's size, used or not.
func (l *slabList[E]) slots() int { return len(l.ents) }

// add stores v as the newest entry and returns its slot.
func (l *slabList[E]) add(v E) int32 {
	var i int32
	if n := len(l.free); n > 0 {
		i = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		l.ents = append(l.ents, slabEntry[E]{})
		i = int32(len(l.ents) - 1)
	}
	l.ents[i] = slabEntry[E]{val: v, used: true}
	l.pushBack(i)
	return i
}

// moveBack makes entry i the newest.
func (l *slabList[E]) moveBack(i int32) {
	l.unlink(i)
	l.pushBack(i)
}

// release removes entry i and frees its slot.
func (l *slabList[E]) release(i int32) {
	l.unlink(i)
	l.ents[i] = slabEntry[E]{}
	l.free = append(l.free, i)
}

func (l *slabList[E]) unlink(i int32) {
	e := &l.ents[i]
	if e.prev >= 0 {
		l.ents[e.prev].next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		l.ents[e.next].prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (l *slabList[E]) pushBack(i int32) {
	e := &l.ents[i]
	e.prev, e.next = l.tail, -1
	if l.tail >= 0 {
		l.ents[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
}
