package l7

import "net/netip"

// TTL bounds for learned names, in seconds: a short DNS TTL must not make a
// connection opened a little later lose its name, and a long one must not
// pin a stale name for days.
const (
	MinNameTTL = 60
	MaxNameTTL = 86400
)

// maxNameLen is the longest DNS name (RFC 1035: 253 characters as text).
const maxNameLen = 253

// nameSweep bounds how many cache slots one Expire call examines, so that
// expiring a full cache is spread over calls instead of stalling one.
const nameSweep = 8192

type nameEntry struct {
	addr       netip.Addr
	name       string
	deadline   int64
	prev, next int32 // learn order, oldest first; -1 ends the list
	used       bool
}

// nameCache maps server addresses to the name a DNS answer gave them. It is
// bounded; when full the entry learned (or refreshed) longest ago goes.
type nameCache struct {
	max        int
	m          map[netip.Addr]int32
	ents       []nameEntry
	free       []int32
	head, tail int32
	sweep      int
}

func newNameCache(max int) nameCache {
	return nameCache{max: max, m: make(map[netip.Addr]int32), head: -1, tail: -1}
}

func (c *nameCache) unlink(i int32) {
	e := &c.ents[i]
	if e.prev >= 0 {
		c.ents[e.prev].next = e.next
	} else {
		c.head = e.next
	}
	if e.next >= 0 {
		c.ents[e.next].prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (c *nameCache) pushBack(i int32) {
	e := &c.ents[i]
	e.prev, e.next = c.tail, -1
	if c.tail >= 0 {
		c.ents[c.tail].next = i
	} else {
		c.head = i
	}
	c.tail = i
}

func (c *nameCache) remove(i int32) {
	c.unlink(i)
	delete(c.m, c.ents[i].addr)
	c.ents[i] = nameEntry{}
	c.free = append(c.free, i)
}

// learn records name for addr. It reports whether the name was stored and
// whether an entry (or the name itself, when invalid) was dropped.
func (c *nameCache) learn(addr netip.Addr, name string, ttl uint32, now int64) (stored, dropped bool) {
	if c.max <= 0 || !addr.IsValid() || name == "" || len(name) > maxNameLen {
		return false, true
	}
	addr = normAddr(addr)
	ttl = min(max(ttl, MinNameTTL), MaxNameTTL)
	deadline := now + int64(ttl)*1e9
	if i, ok := c.m[addr]; ok {
		e := &c.ents[i]
		if e.name != name {
			e.name = name
		}
		e.deadline = deadline
		c.unlink(i)
		c.pushBack(i)
		return true, false
	}
	if len(c.m) >= c.max {
		c.remove(c.head)
		dropped = true
	}
	var i int32
	if n := len(c.free); n > 0 {
		i = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		c.ents = append(c.ents, nameEntry{})
		i = int32(len(c.ents) - 1)
	}
	c.ents[i] = nameEntry{addr: addr, name: name, deadline: deadline, used: true}
	c.pushBack(i)
	c.m[addr] = i
	return true, dropped
}

// lookup returns the live name of addr, or "".
func (c *nameCache) lookup(addr netip.Addr, now int64) string {
	if len(c.m) == 0 {
		return ""
	}
	i, ok := c.m[normAddr(addr)]
	if !ok || c.ents[i].deadline <= now {
		return ""
	}
	return c.ents[i].name
}

// expire removes up to nameSweep slots' worth of expired entries, resuming
// where the previous call stopped, and returns how many it removed.
func (c *nameCache) expire(now int64) int {
	n := 0
	for range min(len(c.ents), nameSweep) {
		if c.sweep >= len(c.ents) {
			c.sweep = 0
		}
		i := int32(c.sweep)
		c.sweep++
		if c.ents[i].used && c.ents[i].deadline <= now {
			c.remove(i)
			n++
		}
	}
	return n
}

func (c *nameCache) len() int { return len(c.m) }
