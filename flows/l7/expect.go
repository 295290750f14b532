package l7

import "net/netip"

// expKey is where an expected flow will arrive: its responder's address and
// port (0 = any port).
type expKey struct {
	tr   Transport
	port uint16
	addr netip.Addr
}

type expEntry struct {
	key       expKey
	peer      netip.AddrPort
	proto     string
	sess      Session
	lisClient bool // Expectation.ListenerIsClient
	deadline  int64
}

// expectTable holds announced flows until they open or time out. The timeout
// is the same for every entry, so insertion order is expiry order and a
// FIFO list is all expiry needs.
type expectTable struct {
	max     int
	timeout int64
	m       map[expKey]int32
	list    slabList[expEntry] // insertion order: oldest first
}

func newExpectTable(max int, timeout int64) expectTable {
	return expectTable{max: max, timeout: timeout, m: make(map[expKey]int32), list: newSlabList[expEntry]()}
}

func normAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// add registers e; it reports whether an older entry had to go to make room
// (dropped) or was replaced by this one for the same listener (replaced).
func (t *expectTable) add(e Expectation, now int64) (dropped, replaced bool) {
	if t.max <= 0 || !e.Listener.Addr().IsValid() {
		return true, false
	}
	k := expKey{tr: e.Transport, port: e.Listener.Port(), addr: normAddr(e.Listener.Addr())}
	if i, ok := t.m[k]; ok {
		t.remove(i)
		replaced = true
	}
	if len(t.m) >= t.max {
		t.remove(t.list.head)
		dropped = true
	}
	peer := e.Peer
	if peer.Addr().IsValid() {
		peer = netip.AddrPortFrom(normAddr(peer.Addr()), peer.Port())
	}
	t.m[k] = t.list.add(expEntry{key: k, peer: peer, proto: e.Protocol, sess: e.Session, lisClient: e.ListenerIsClient,
		deadline: now + t.timeout})
	return dropped, replaced
}

func (t *expectTable) remove(i int32) {
	delete(t.m, t.list.at(i).key)
	t.list.release(i)
}

// lookup finds a live entry for a flow whose responder is resp and initiator
// init. It removes entries it finds expired and counts them in expired.
func (t *expectTable) lookup(tr Transport, resp, init netip.AddrPort, now int64, expired *int) int32 {
	ra, ia := normAddr(resp.Addr()), normAddr(init.Addr())
	for _, port := range [2]uint16{resp.Port(), 0} {
		i, ok := t.m[expKey{tr: tr, port: port, addr: ra}]
		if !ok {
			continue
		}
		e := t.list.at(i)
		if e.deadline <= now {
			t.remove(i)
			*expired++
			continue
		}
		if e.peer.Addr().IsValid() && !e.peer.Addr().IsUnspecified() && e.peer.Addr() != ia {
			continue
		}
		if e.peer.Port() != 0 && e.peer.Port() != init.Port() {
			continue
		}
		return i
	}
	return -1
}

// match finds and removes the expectation a new flow fulfils. flip is
// FromServer when the flow was keyed the other way round (its initiator is
// the announced listener), so that sessions still see directions relative
// to the listener being the responder.
func (t *expectTable) match(f *FlowInfo, now int64) (e Expectation, flip Dir, expired int, ok bool) {
	if len(t.m) == 0 {
		return e, 0, 0, false
	}
	i := t.lookup(f.Transport, f.Server, f.Client, now, &expired)
	if i < 0 {
		i = t.lookup(f.Transport, f.Client, f.Server, now, &expired)
		flip = FromServer
	}
	if i < 0 {
		return e, 0, expired, false
	}
	en := t.list.at(i)
	e = Expectation{Transport: en.key.tr, Listener: netip.AddrPortFrom(en.key.addr, en.key.port),
		Peer: en.peer, Protocol: en.proto, Session: en.sess, ListenerIsClient: en.lisClient}
	t.remove(i)
	return e, flip, expired, true
}

// expire drops entries whose time is up and returns how many.
func (t *expectTable) expire(now int64) int {
	n := 0
	for t.list.head >= 0 && t.list.at(t.list.head).deadline <= now {
		t.remove(t.list.head)
		n++
	}
	return n
}

func (t *expectTable) len() int { return len(t.m) }
