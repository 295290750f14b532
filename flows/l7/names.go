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
	addr     netip.Addr
	name     string
	deadline int64
}

// nameCache maps server addresses to the name a DNS answer gave them. It is
// bounded; when full the entry learned (or refreshed) longest ago goes.
type nameCache struct {
	max   int
	m     map[netip.Addr]int32
	list  slabList[nameEntry] // learn order: oldest first
	sweep int
}

func newNameCache(max int) nameCache {
	return nameCache{max: max, m: make(map[netip.Addr]int32), list: newSlabList[nameEntry]()}
}

func (c *nameCache) remove(i int32) {
	delete(c.m, c.list.at(i).addr)
	c.list.release(i)
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
		e := c.list.at(i)
		e.name, e.deadline = name, deadline
		c.list.moveBack(i)
		return true, false
	}
	if len(c.m) >= c.max {
		c.remove(c.list.head)
		dropped = true
	}
	c.m[addr] = c.list.add(nameEntry{addr: addr, name: name, deadline: deadline})
	return true, dropped
}

// lookup returns the live name of addr, or "".
func (c *nameCache) lookup(addr netip.Addr, now int64) string {
	if len(c.m) == 0 {
		return ""
	}
	i, ok := c.m[normAddr(addr)]
	if !ok || c.list.at(i).deadline <= now {
		return ""
	}
	return c.list.at(i).name
}

// expire removes up to nameSweep slots' worth of expired entries, resuming
// where the previous call stopped, and returns how many it removed.
func (c *nameCache) expire(now int64) int {
	n := 0
	for range min(c.list.slots(), nameSweep) {
		if c.sweep >= c.list.slots() {
			c.sweep = 0
		}
		i := int32(c.sweep)
		c.sweep++
		if c.list.used(i) && c.list.at(i).deadline <= now {
			c.remove(i)
			n++
		}
	}
	return n
}

func (c *nameCache) len() int { return len(c.m) }
