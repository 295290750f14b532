package flows

import (
	"encoding/binary"
	"time"

	"outflow/flows/decode"
)

// Event is what an Observer is told about a flow.
type Event uint8

const (
	EventStart  Event = iota // first packet of a new flow
	EventBurst               // activity after an idle gap inside the flow: a check-in on a kept-alive connection
	EventUpdate              // progress of a long flow, at most once per UpdateInterval
	EventEnd                 // a record is due: the flow ended, or hit the active timeout (Reason says which)
)

// Observer receives flow events in packet-time order. The *Flow is valid only
// during the call. Observers run on the packet path: they must be quick and
// must not keep f.
type Observer interface {
	FlowEvent(ev Event, f *Flow)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ev Event, f *Flow)

func (fn ObserverFunc) FlowEvent(ev Event, f *Flow) { fn(ev, f) }

// Attributor names the owner of a new flow (the sensor: the container
// that sent it) once, when the flow is created, so that per-packet work
// never repeats the lookup. 0 means unknown.
type Attributor interface {
	Attribute(f *Flow) uint32
}

// Config sets the table's limits and timeouts. Zero values take defaults.
type Config struct {
	MaxFlows       int           // hard cap on tracked flows (default 1,000,000)
	IdleTimeout    time.Duration // UDP/ICMP/other flows, and TCP before it is answered (default 60 s)
	TCPIdleTimeout time.Duration // established TCP (default 5 min)
	ActiveTimeout  time.Duration // a record at least this often for long flows (default 30 min)
	CloseLinger    time.Duration // a closed TCP flow stays this long to absorb trailing ACKs (default 2 s)
	BurstGap       time.Duration // silence inside a flow after which new traffic is an EventBurst (default 5 s)
	UpdateInterval time.Duration // EventUpdate period for busy flows (default 1 s)
	// ManualExpiry leaves expiry to Advance: a sharded pipeline drives
	// every worker's table on one shared clock, so that flows time out at
	// the same packet-time points whichever worker holds them.
	ManualExpiry bool
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = 1_000_000
	}
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.TCPIdleTimeout, 5*time.Minute)
	def(&c.ActiveTimeout, 30*time.Minute)
	def(&c.CloseLinger, 2*time.Second)
	def(&c.BurstGap, 5*time.Second)
	def(&c.UpdateInterval, time.Second)
}

// The LRU lists a flow can be on. Each list has one idle timeout, so expiry
// only ever looks at list heads; eviction takes from the cheapest list first.
const (
	listClosed    uint8 = iota // FIN both ways or RST: lingering
	listEmbryonic              // no answer yet (TCP without handshake, one-way UDP)
	listUDP                    // answered non-TCP flows
	listTCP                    // established TCP
	numLists
)

type lru struct{ head, tail int32 }

const chunkBits = 14 // flows are stored in chunks of 16384 so the slab grows without copying

// TableStats counts what the table did.
type TableStats struct {
	Active    int
	MaxActive int
	Created   uint64
	Ended     [numEndReasons]uint64 // records emitted by reason (EndActive included)
	Evicted   uint64                // flows sacrificed because the table was full
}

// Table is the bidirectional flow table. It is not safe for concurrent use:
// each worker owns one.
type Table struct {
	cfg     Config
	obs     Observer
	attr    Attributor
	app     Inspector
	idx     index
	chunks  [][]Flow
	tunnels tunnelSlab
	free    []int32
	lists   [numLists]lru
	timeout [numLists]int64
	now     int64 // packet clock: the latest timestamp seen
	nextExp int64
	stats   TableStats
}

// NewTable makes a table that reports to obs (which may be nil) and runs
// app (nil: no application-protocol inspection) on each flow's packets.
func NewTable(cfg Config, app Inspector, obs Observer) *Table {
	cfg.setDefaults()
	t := &Table{cfg: cfg, obs: obs, app: app, idx: newIndex(min(cfg.MaxFlows, 1<<15))}
	for i := range t.lists {
		t.lists[i] = lru{-1, -1}
	}
	t.timeout[listClosed] = int64(cfg.CloseLinger)
	t.timeout[listEmbryonic] = int64(cfg.IdleTimeout)
	t.timeout[listUDP] = int64(cfg.IdleTimeout)
	t.timeout[listTCP] = int64(cfg.TCPIdleTimeout)
	return t
}

// SetAttributor installs the owner lookup for new flows (nil: none).
func (t *Table) SetAttributor(a Attributor) { t.attr = a }

// Stats returns the table's counters.
func (t *Table) Stats() TableStats {
	s := t.stats
	s.Active = t.idx.n
	return s
}

// Now is the table's clock: the latest packet time seen (or Advance time).
func (t *Table) Now() int64 { return t.now }

func (t *Table) flow(i int32) *Flow { return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

func (t *Table) alloc() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	if len(t.chunks) == 0 || len(t.chunks[len(t.chunks)-1]) == cap(t.chunks[len(t.chunks)-1]) {
		c := make([]Flow, 0, 1<<chunkBits)
		Prefault(c)
		t.chunks = append(t.chunks, c)
	}
	c := len(t.chunks) - 1
	t.chunks[c] = t.chunks[c][:len(t.chunks[c])+1]
	return int32(c<<chunkBits + len(t.chunks[c]) - 1)
}

func (t *Table) unlink(i int32, f *Flow) {
	l := &t.lists[f.list]
	if f.prev >= 0 {
		t.flow(f.prev).next = f.next
	} else {
		l.head = f.next
	}
	if f.next >= 0 {
		t.flow(f.next).prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = -1, -1
}

func (t *Table) pushBack(i int32, f *Flow, list uint8) {
	l := &t.lists[list]
	f.list = list
	f.listed = max(t.now, f.Last)
	f.prev, f.next = l.tail, -1
	if l.tail >= 0 {
		t.flow(l.tail).next = i
	} else {
		l.head = i
	}
	l.tail = i
}

// touch keeps a flow on the list it belongs on now. Lists are ordered by
// when a flow was placed (Flow.listed), not by its last packet: moving a
// flow to the tail on every packet would write to two neighbouring flows,
// two cache misses per packet. expire and evict look at a head's Last and
// re-queue it if it was active since it was placed (a lazy LRU).
func (t *Table) touch(i int32, f *Flow) {
	if want := f.listFor(); f.list != want {
		t.unlink(i, f)
		t.pushBack(i, f, want)
	}
}

// requeue moves a head that has seen packets since it was placed to the
// tail, so that the head is a flow idle since it was placed. It gives up
// after a few moves; callers only need a good victim, not the best one.
func (t *Table) requeue(l uint8) int32 {
	for n := 0; n < 16; n++ {
		i := t.lists[l].head
		if i < 0 {
			return -1
		}
		f := t.flow(i)
		if f.Last <= f.listed || t.lists[l].tail == i {
			return i
		}
		t.unlink(i, f)
		t.pushBack(i, f, l)
	}
	return t.lists[l].head
}

func (f *Flow) listFor() uint8 {
	switch {
	case f.state&(stRst) != 0 || f.state&(stFin0|stFin1) == stFin0|stFin1:
		return listClosed
	case f.state&stReplied == 0:
		return listEmbryonic
	case f.Proto == decode.ProtoTCP:
		return listTCP
	}
	return listUDP
}

// makeKey builds the canonical key of a packet and reports whether the
// packet's source is endpoint A. ICMP request/response types are keyed as
// (lower type, higher type) so both halves meet; one-way messages by
// (type, code).
func makeKey(h *decode.Headers) (k Key, srcIsA bool) {
	k.Proto = h.Proto
	sp, dp := h.SrcPort, h.DstPort
	c := cmpAddr(&h.Src, &h.Dst)
	if h.Proto == decode.ProtoICMP || h.Proto == decode.ProtoICMPv6 {
		a, b, oneWay := icmpPorts(h.Proto, h.ICMPType, h.ICMPCode)
		if !oneWay && a > b {
			a, b = b, a
		}
		srcIsA = c <= 0
		k.APort, k.BPort = a, b
	} else {
		srcIsA = c < 0 || (c == 0 && sp <= dp)
		if srcIsA {
			k.APort, k.BPort = sp, dp
		} else {
			k.APort, k.BPort = dp, sp
		}
	}
	if srcIsA {
		copyAddr(&k.A, &h.Src)
		copyAddr(&k.B, &h.Dst)
	} else {
		copyAddr(&k.A, &h.Dst)
		copyAddr(&k.B, &h.Src)
	}
	return k, srcIsA
}

// keyEqual compares keys in words, inline: == on the struct calls memequal.
func keyEqual(a, b *Key) bool {
	return word(a.A[:8]) == word(b.A[:8]) && word(a.A[8:]) == word(b.A[8:]) &&
		word(a.B[:8]) == word(b.B[:8]) && word(a.B[8:]) == word(b.B[8:]) &&
		a.APort == b.APort && a.BPort == b.BPort && a.Proto == b.Proto
}

func word(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// copyAddr copies in words: the decoder wrote the address in words, and a
// wider load of freshly stored words stalls store forwarding, once per
// packet on the hottest path.
func copyAddr(dst, src *decode.Addr) {
	binary.LittleEndian.PutUint64(dst[:8], binary.LittleEndian.Uint64(src[:8]))
	binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
}

func cmpAddr(a, b *decode.Addr) int {
	// Two big-endian word compares order addresses as bytes would.
	a0, b0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if a0 != b0 {
		if a0 < b0 {
			return -1
		}
		return 1
	}
	a1, b1 := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	switch {
	case a1 < b1:
		return -1
	case a1 > b1:
		return 1
	}
	return 0
}

// Add accounts one decoded packet captured at ts (Unix ns) on interface
// iface. It never allocates once the table has warmed up.
func (t *Table) Add(h *decode.Headers, ts int64, iface int) {
	if ts > t.now {
		t.now = ts
	}
	if t.now >= t.nextExp && !t.cfg.ManualExpiry {
		t.expire(t.now)
		t.nextExp = t.now + int64(time.Second)
	}
	k, srcIsA := makeKey(h)
	hash := t.idx.hash(&k)
	i, ok := t.lookup(&k, hash)
	var f *Flow
	if ok {
		f = t.flow(i)
		// A new SYN on a flow that has closed is port reuse: end the old
		// flow and start over.
		if f.list == listClosed && h.Proto == decode.ProtoTCP && h.TCPFlags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn {
			t.end(i, f, f.Reason)
			ok = false
		}
	}
	if !ok {
		i, f = t.create(k, hash, h, srcIsA, ts, iface)
	} else if f.recorded {
		// Trailing ACKs and retransmissions after a close: the record is
		// out; the entry only keeps them from starting a bogus flow.
		return
	}
	dir := 0
	if srcIsA == f.swapped {
		dir = 1
	}
	if f.Packets[0]+f.Packets[1] > 0 && ts-f.First >= int64(t.cfg.ActiveTimeout) {
		t.emit(f, EndActive)
		f.restart(ts)
	}
	if f.Packets[0]+f.Packets[1] > 0 && ts-f.Last >= int64(t.cfg.BurstGap) {
		// Activity after a silence: the burst before it is a completed
		// check-in (CheckinTime/CheckinBytes), reported before this
		// packet opens the next one.
		if t.obs != nil {
			t.obs.FlowEvent(EventBurst, f)
			f.Reported = f.Bytes
		}
		f.lastBurst = ts
		f.burstStart, f.burstBase = ts, f.TotalBytes()
	}
	f.Packets[dir] += uint64(h.Packets)
	f.Bytes[dir] += uint64(h.IPBytes)
	if ts > f.Last {
		f.Last = ts
	}
	if dir == 1 {
		f.state |= stReplied
	}
	if h.Proto == decode.ProtoTCP {
		fl := h.TCPFlags
		f.Flags[dir] |= fl
		switch {
		case fl&decode.TCPRst != 0:
			f.state |= stRst
			if f.Reason == EndNone {
				f.Reason = EndRST
			}
		case fl&decode.TCPFin != 0:
			f.state |= stFin0 << dir
			if f.state&(stFin0|stFin1) == stFin0|stFin1 && f.Reason == EndNone {
				f.Reason = EndFIN
			}
		}
		if fl&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn|decode.TCPAck && dir == 1 {
			f.state |= stSynAck
		}
		if dir == 0 && f.state&stSynAck != 0 && fl&decode.TCPAck != 0 {
			f.state |= stEstablished
		}
	}
	t.touch(i, f)
	if f.App != nil && !f.appDone {
		t.app.Packet(f.App, dir, h, ts)
		// Remember it in the flow: asking the state on every packet
		// would touch one more cache line per packet for nothing.
		if f.appDone = f.App.Done(); f.appDone {
			f.App = t.app.Settle(f.App)
		}
	}
	if f.list == listClosed && (f.state&stRst != 0 || h.TCPFlags&decode.TCPFin == 0) {
		// RST, or the ACK after FINs both ways: write the record now so
		// alerts on it are not held back by the linger.
		t.finish(f, f.Reason)
		return
	}
	if t.obs != nil && ts-f.lastBurst >= int64(t.cfg.UpdateInterval) && f.Bytes != f.Reported {
		t.obs.FlowEvent(EventUpdate, f)
		f.lastBurst = ts
		f.Reported = f.Bytes
	}
}

func (f *Flow) restart(ts int64) {
	f.Packets = [2]uint64{}
	f.Bytes = [2]uint64{}
	f.Reported = [2]uint64{}
	f.Flags = [2]uint8{}
	f.First, f.Last, f.lastBurst, f.burstStart = ts, ts, ts, ts
	f.burstBase = 0
	f.Reason = EndNone
}

// isServicePort says whether a port is where servers usually listen; it
// picks the initiator of flows whose handshake was not seen.
func isServicePort(p uint16) bool {
	if p < 1024 {
		return true
	}
	switch p {
	case 1433, 1521, 2049, 2375, 2376, 3000, 3128, 3306, 3389, 4789, 5000, 5432, 5672, 5900, 6379, 6443,
		8000, 8008, 8080, 8081, 8443, 8888, 9000, 9090, 9092, 9200, 9300, 10250, 11211, 27017:
		return true
	}
	return false
}

func (t *Table) create(k Key, hash uint32, h *decode.Headers, srcIsA bool, ts int64, iface int) (int32, *Flow) {
	if t.idx.n >= t.cfg.MaxFlows {
		t.evict()
	}
	// Who started it: the SYN sender; the receiver of a SYN+ACK; for TCP
	// caught mid-stream the side on the ephemeral port; otherwise the
	// sender of the first packet.
	srcInit := true
	if h.Proto == decode.ProtoTCP {
		syn := h.TCPFlags&decode.TCPSyn != 0
		ack := h.TCPFlags&decode.TCPAck != 0
		switch {
		case syn && !ack:
		case syn && ack:
			srcInit = false
		default:
			srcInit = initiatorIsSrc(h.SrcPort, h.DstPort)
		}
	}
	i := t.alloc()
	f := t.flow(i)
	*f = Flow{
		Key:        k,
		hash:       hash,
		swapped:    srcIsA != srcInit,
		Proto:      h.Proto,
		IPv6:       h.IPv6,
		NVLANs:     h.NVLANs,
		VLANs:      h.VLANs,
		First:      ts,
		Last:       ts,
		lastBurst:  ts,
		burstStart: ts,
		ICMPType:   h.ICMPType,
		ICMPCode:   h.ICMPCode,
		Interface:  int32(iface),
		prev:       -1,
		next:       -1,
	}
	if h.Tunnel.Type != decode.TunnelNone {
		f.tunnel = t.tunnels.get()
		*f.tunnel = h.Tunnel
	}
	t.insert(hash, i)
	t.pushBack(i, f, listEmbryonic)
	t.stats.Created++
	if n := t.idx.n; n > t.stats.MaxActive {
		t.stats.MaxActive = n
	}
	if t.attr != nil {
		f.Owner = t.attr.Attribute(f)
	}
	if t.app != nil {
		f.App = t.app.Begin(f, ts)
	}
	if t.obs != nil {
		t.obs.FlowEvent(EventStart, f)
	}
	return i, f
}

func initiatorIsSrc(sport, dport uint16) bool {
	ss, ds := isServicePort(sport), isServicePort(dport)
	switch {
	case ds && !ss:
		return true
	case ss && !ds:
		return false
	case ss && ds:
		return sport >= dport
	}
	return sport >= dport
}

// evict sacrifices one flow to make room: a closed one, else one never
// answered, else the one idle longest.
func (t *Table) evict() {
	victim := int32(-1)
	for _, l := range []uint8{listClosed, listEmbryonic} {
		if victim = t.requeue(l); victim >= 0 {
			break
		}
	}
	if victim < 0 {
		u, c := t.requeue(listUDP), t.requeue(listTCP)
		switch {
		case u < 0:
			victim = c
		case c < 0:
			victim = u
		case t.flow(u).Last <= t.flow(c).Last:
			victim = u
		default:
			victim = c
		}
	}
	if victim >= 0 {
		t.stats.Evicted++
		t.end(victim, t.flow(victim), EndEvicted)
	}
}

// emit reports a record for f without removing it.
func (t *Table) emit(f *Flow, reason EndReason) {
	f.Reason = reason
	t.stats.Ended[reason]++
	if t.obs != nil {
		t.obs.FlowEvent(EventEnd, f)
	}
}

// finish writes f's final record and releases its application state; the
// entry stays (recorded) until end removes it.
func (t *Table) finish(f *Flow, reason EndReason) {
	if f.recorded {
		return
	}
	if reason == EndNone {
		reason = EndIdle
	}
	if f.App != nil {
		t.app.End(f.App, t.now)
	}
	t.emit(f, reason)
	if f.App != nil {
		t.app.Release(f.App)
		f.App = nil
	}
	f.recorded = true
}

// end finishes f if needed and frees its entry.
func (t *Table) end(i int32, f *Flow, reason EndReason) {
	t.finish(f, reason)
	t.unlink(i, f)
	t.remove(f.hash, i)
	if f.tunnel != nil {
		t.tunnels.put(f.tunnel)
		f.tunnel = nil
	}
	t.free = append(t.free, i)
}

// expire ends flows whose list timeout has passed at time now.
func (t *Table) expire(now int64) {
	for l := uint8(0); l < numLists; l++ {
		for {
			i := t.lists[l].head
			if i < 0 {
				break
			}
			f := t.flow(i)
			if now-f.listed < t.timeout[l] {
				break // placed recently, and so was everything behind it
			}
			if now-f.Last < t.timeout[l] {
				t.unlink(i, f) // active since it was placed
				t.pushBack(i, f, l)
				continue
			}
			reason := f.Reason
			if l != listClosed || reason == EndNone {
				reason = EndIdle
			}
			t.end(i, f, reason)
		}
	}
	if t.app != nil {
		t.app.Expire(now)
	}
}

// Advance moves the table's clock to now (live capture: wall time) and
// expires what timed out. Packet time never goes backwards.
func (t *Table) Advance(now int64) {
	if now > t.now {
		t.now = now
	}
	t.expire(t.now)
}

// SetClock moves the table's clock to now without expiring anything: a
// sharded pipeline keeps each worker's table on the clock one table
// reading every packet would have. Packet time never goes backwards.
func (t *Table) SetClock(now int64) {
	if now > t.now {
		t.now = now
	}
}

// Flush ends every flow with reason (EndEndOfInput at the end of the input
// or on shutdown), oldest first.
func (t *Table) Flush(reason EndReason) {
	for l := uint8(0); l < numLists; l++ {
		for t.lists[l].head >= 0 {
			i := t.lists[l].head
			f := t.flow(i)
			r := reason
			if l == listClosed && f.Reason != EndNone {
				r = f.Reason
			}
			t.end(i, f, r)
		}
	}
}

// Observers fans events out to several observers, in order.
type Observers []Observer

// FlowEvent implements Observer.
func (os Observers) FlowEvent(ev Event, f *Flow) {
	for _, o := range os {
		o.FlowEvent(ev, f)
	}
}

// tunnelSlab stores the tunnel descriptions of encapsulated flows in chunks
// (stable addresses) with a free list, so most flows, which have none, do
// not pay for one.
type tunnelSlab struct {
	chunks [][]decode.Tunnel
	free   []*decode.Tunnel
}

func (s *tunnelSlab) get() *decode.Tunnel {
	if n := len(s.free); n > 0 {
		t := s.free[n-1]
		s.free = s.free[:n-1]
		return t
	}
	if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) == cap(s.chunks[len(s.chunks)-1]) {
		s.chunks = append(s.chunks, make([]decode.Tunnel, 0, 1024))
	}
	c := &s.chunks[len(s.chunks)-1]
	*c = (*c)[:len(*c)+1]
	return &(*c)[len(*c)-1]
}

func (s *tunnelSlab) put(t *decode.Tunnel) { s.free = append(s.free, t) }
