// Package beacon finds command-and-control beaconing in streams of
// check-ins: an implant that sleeps for a fixed time (plus jitter) and then
// calls home, whether each call is a new connection, a burst inside one
// keep-alive connection, or a UDP datagram from a new source port.
//
// The caller decides what a check-in is (a new flow, or a burst of activity
// after an idle gap inside a long flow) and feeds them to a Tracker keyed by
// (entity, destination, port, transport). The Tracker keeps the most recent
// check-ins of every series in a fixed ring, rescores the series on every
// check-in and reports a Verdict the moment it first qualifies. Nothing is
// windowed by wall-clock time, so a container that lives six minutes is
// judged on its six minutes, and a 24-hour beacon on its last Ring check-ins.
//
// A series alerts when two independent conditions hold. First, its score
// (0..1, how much it looks like a beacon) reaches Config.Threshold. The
// score is a weighted mean of four components, each 0..1:
//
//	Interval     0.40  regularity of the intervals in RITA's robust form:
//	                   mean of 1-|Bowley skew| and 1-MAD/median (clear
//	                   missed beats unfolded first)
//	Periodicity  0.25  phase coherence of the intervals at the estimated
//	                   fundamental period, i.e. the magnitude of the Fourier
//	                   transform of the interval distribution at 1/period:
//	                   multiples of the period (missed beats) stay coherent,
//	                   random gaps do not
//	Coverage     0.20  share of the observed span not inside gaps longer
//	                   than 6 periods: one cluster of activity is no beacon
//	Size         0.15  regularity of check-in sizes, same robust form, so
//	                   occasional tasking bursts do not matter
//
// Timing defines a beacon, so the two timing components carry 65%. Interval
// leads because, unlike phase coherence, it survives 50% jitter (intervals
// uniform on [0.5, 1] x sleep keep MAD/median near 0.17; random arrivals sit
// near 0.7). Periodicity is what tells 10-30% jitter with missed beats from
// chance. Coverage outweighs Size because bursty browsing is the main benign
// look-alike (regular within a burst, long gaps between bursts), whereas
// benign repeated API calls have perfectly regular sizes and implants may
// pad randomly: size is supporting evidence only.
//
// Second, the series passes a significance gate: enough intervals lie near
// the period that random (Poisson) arrivals would produce that many with
// probability below 4e-4 per test, spent down over the series' life. This
// is what makes few check-ins safe: six clockwork check-ins pass, six
// loosely jittered ones do not yet (see gateBands in score.go).
//
// The period is estimated as the fundamental that explains the intervals as
// integer multiples, so missed beats (intervals of 2 or 3 periods) do not
// move it. Check-ins closer than a tenth of the median interval to the
// previous one (UDP retries from a new source port, a second flow of the
// same check-in) are merged before scoring.
package beacon

import (
	"hash/maphash"
	"math"
	"time"

	"outflow/flows"
)

// Key identifies one series of check-ins. It is comparable and deliberately
// excludes the source port so that UDP beacons using a new source port per
// check-in, and TCP beacons opening a new connection each time, form one
// series.
type Key struct {
	Entity    string // who checks in: workload, container or source IP
	Dest      string // destination IP literal or name (SNI, Host, DNS name)
	Port      uint16 // destination port
	Transport uint8  // IP protocol number (6 TCP, 17 UDP)
	// ID, when set, identifies the series instead of the strings (a hash
	// of them the caller computes without allocating), so that a busy
	// caller need not build Entity and Dest for every check-in.
	ID uint64
}

// Config tunes a Tracker. Zero fields take the defaults documented on each.
type Config struct {
	// Threshold is the score (0..1) at which a series that passed the
	// significance gate alerts. Default 0.6: random arrivals settle near
	// 0.5 (Interval ~0.5, Periodicity ~0), the weakest beacons targeted
	// (Cobalt Strike 50% jitter with 20% missed beats) score 0.65-0.85,
	// clockwork ones 0.95+. Chance regularity in short series is the gate's
	// job, not the threshold's; the threshold only rejects series that are
	// significant yet unlike a beacon. Measured on 6,000 random series:
	// 0.5 and 0.6 give the same 0.22% false positives and 92% recall at 50%
	// jitter with 20% missed beats; 0.7 gives 0.15% and 86%.
	Threshold float64
	// MinCheckins is the number of check-ins (after coalescing retries) a
	// series needs before it is scored. Default 6: five intervals are the
	// fewest on which quartiles mean anything. It is only a floor: the
	// significance gate decides how many a jittered series needs (clockwork
	// 6; 40% jitter 9, so a pod that lives six minutes and checks in nine
	// times 34-56 s apart alerts; 50% jitter with missed beats about 15).
	MinCheckins int
	// Ring is how many recent check-ins are kept per series. Default 64
	// (512 bytes per series); clamped to MinCheckins..1024.
	Ring int
	// MaxSeries caps tracked series. Default 100000. When full, the least
	// recently active series that has not yet reached MinCheckins is evicted
	// (so a flood of one-off connections cannot push out established
	// series); only when none exists is the least recently active
	// established series evicted ("least recently" as the lazy recency
	// lists tell it, see series.listed). Evictions are counted in
	// Stats.Evicted.
	MaxSeries int
	// MinPeriod and MaxPeriod bound the periods that can alert. Default
	// 1 s and 24 h.
	MinPeriod, MaxPeriod time.Duration
	// StrobeInterval: a series whose median interval is below this, once it
	// holds many check-ins (half the ring, at least MinCheckins), is a
	// strobe: reported once with Strobe=true and never as a beacon. Default
	// 1 s, the same as MinPeriod: sleep-based implants do not call home more
	// than once a second (Cobalt Strike's "sleep 0" interactive mode is such
	// a strobe, which is why strobes are reported rather than dropped), and
	// it equals RITA's strobe rule of one connection per second.
	StrobeInterval time.Duration
	// SeriesIdle: Expire drops an established series (one that reached
	// MinCheckins) after max(SeriesIdle, 4 x its period) without a
	// check-in: a beacon survives three missed beats. A series still below
	// MinCheckins has no trusted period yet; it is kept for max(SeriesIdle,
	// MaxPeriod) so a daily beacon can accumulate check-ins at all (memory
	// stays bounded by MaxSeries). Default 10 minutes.
	SeriesIdle time.Duration
	// Suppress, if set, silences known periodic destinations (health
	// checks, metrics scrapes, NTP). It is consulted once per series, when
	// the series would first report; a suppressed series is then neither
	// scored nor reported again. Counted in Stats.Suppressed.
	Suppress func(Key) bool
}

// Defaults for the zero fields of Config.
const (
	DefaultThreshold      = 0.6
	DefaultMinCheckins    = 6
	DefaultRing           = 64
	DefaultMaxSeries      = 100000
	DefaultMinPeriod      = time.Second
	DefaultMaxPeriod      = 24 * time.Hour
	DefaultStrobeInterval = time.Second
	DefaultSeriesIdle     = 10 * time.Minute
)

// maxRing bounds per-series memory (8 bytes per check-in) and the size of
// the significance tables built by NewTracker.
const maxRing = 1024

// idlePeriods is k in max(SeriesIdle, k*period): tolerate three missed beats.
const idlePeriods = 4

// slowRescore: a series whose median interval is below MinPeriod cannot
// alert, so it is rescored only every slowRescore check-ins. This keeps busy
// series (and strobes) from costing a full scoring pass per connection.
const slowRescore = 16

// Verdict describes a series that qualified.
type Verdict struct {
	Key   Key
	Score float64 // weighted mean of the four components, 0..1
	// Components, 0..1 each; see the package documentation.
	Interval, Size, Periodicity, Coverage float64
	// Period is the estimated fundamental interval (the median single
	// sleep, missed beats unfolded). Jitter is the spread of single
	// intervals: twice their interquartile range, which for uniform jitter
	// is its full width. For Cobalt Strike's sleep S with jitter j,
	// Period ~ S(1-j/2) and Jitter ~ jS, so Jitter/(Period+Jitter/2) ~ j.
	Period, Jitter time.Duration
	Count          int   // check-ins seen over the series' life
	First, Last    int64 // first and latest check-in, Unix ns
	Strobe         bool  // too fast to be a beacon; reported once
	Alert          bool  // first time the series crossed Threshold
	Update         bool  // still qualifying; count doubled since the last report
}

// Stats are cumulative counters plus the current series count.
type Stats struct {
	Series     int    // currently tracked
	Evicted    uint64 // dropped because MaxSeries was reached
	Expired    uint64 // dropped by Expire
	Checkins   uint64 // Add calls
	Folded     uint64 // Add calls not after the latest check-in, folded into it
	Alerts     uint64
	Updates    uint64
	Strobes    uint64
	Suppressed uint64 // series silenced by Config.Suppress
}

const (
	flagEstablished uint8 = 1 << iota
	flagAlerted
	flagStrobe
	flagSuppressed
	flagSlow
)

const (
	listYoung = 0
	listEst   = 1
	nilIdx    = int32(-1)
)

type series struct {
	key  Key
	hash uint64 // index key
	// Ring of the latest check-ins; one slice, so that recording a
	// check-in touches one cache line.
	ring  []checkin
	head  int // next write position
	n     int // valid entries
	count int // lifetime check-ins
	first int64
	last  int64
	// period is the latest estimate in seconds (0 until scored); it sets
	// the idle timeout of established series.
	period     float64
	reported   int // Count at the last verdict
	flags      uint8
	list       uint8
	prev, next int32
	// listed is when the series was placed at the head of its recency
	// list. Lists are ordered by placement, not by activity: a check-in
	// only sets last, and a series found at the old end with last after
	// listed is moved to the head then (the flow table's lazy LRU), which
	// spares every check-in the two neighbours' cache misses.
	listed int64
}

// firstRing is a new series' ring; it doubles up to Config.Ring as check-ins
// come. Most series never see more than a few check-ins, and a full ring
// for each (512 bytes by default) made the detector's memory, and the
// time to fault it in, the largest part of its cost.
const firstRing = 8

// grow doubles a full ring (up to limit entries), oldest check-in first.
func (s *series) grow(limit int) {
	r := make([]checkin, min(2*len(s.ring), limit))
	n := copy(r, s.ring[s.head:])
	copy(r[n:], s.ring[:s.head])
	s.head = len(s.ring)
	s.ring = r
}

// checkin is one ring entry: gap is seconds since the previous check-in
// (float32 gives ~1e-7 relative precision from microseconds to days in 4
// bytes), size its bytes (saturating).
type checkin struct {
	gap  float32
	size uint32
}

type lruList struct{ head, tail int32 } // head = most recent

// Tracker scores series of check-ins. It is not safe for concurrent use;
// shard by Key if needed.
type Tracker struct {
	cfg   Config
	seed  maphash.Seed
	index seriesIndex // Key.hash -> slab index; the slab holds the Key
	slab  []series
	free  []int32
	lists [2]lruList
	stats Stats
	sc    scratch
}

// NewTracker returns a Tracker with cfg's zero fields set to defaults.
func NewTracker(cfg Config) *Tracker {
	if !(cfg.Threshold > 0) || cfg.Threshold > 1 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.MinCheckins <= 0 {
		cfg.MinCheckins = DefaultMinCheckins
	}
	if cfg.MinCheckins < 4 {
		// Quartiles of fewer than three intervals are meaningless.
		cfg.MinCheckins = 4
	}
	if cfg.Ring <= 0 {
		cfg.Ring = DefaultRing
	}
	if cfg.Ring < cfg.MinCheckins {
		cfg.Ring = cfg.MinCheckins
	}
	if cfg.Ring > maxRing {
		cfg.Ring = maxRing
	}
	if cfg.MinCheckins > cfg.Ring {
		cfg.MinCheckins = cfg.Ring
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.MinPeriod <= 0 {
		cfg.MinPeriod = DefaultMinPeriod
	}
	if cfg.MaxPeriod <= 0 {
		cfg.MaxPeriod = DefaultMaxPeriod
	}
	if cfg.MaxPeriod < cfg.MinPeriod {
		cfg.MaxPeriod = cfg.MinPeriod
	}
	if cfg.StrobeInterval <= 0 {
		cfg.StrobeInterval = DefaultStrobeInterval
	}
	if cfg.SeriesIdle <= 0 {
		cfg.SeriesIdle = DefaultSeriesIdle
	}
	t := &Tracker{
		cfg:   cfg,
		seed:  maphash.MakeSeed(),
		index: newSeriesIndex(min(cfg.MaxSeries, 1<<14)),
		sc:    newScratch(cfg.Ring),
	}
	for i := range t.lists {
		t.lists[i] = lruList{nilIdx, nilIdx}
	}
	return t
}

// Config returns the effective configuration (defaults applied).
func (t *Tracker) Config() Config { return t.cfg }

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Series = t.index.len()
	return s
}

// Add records one check-in of series k at ts (Unix ns) carrying bytes, and
// returns a Verdict when the series reports: the first time its score
// reaches Threshold (Alert), afterwards each time its lifetime count has
// doubled since the last report and it still qualifies (Update), or once
// when it turns out to be a strobe (Strobe). A timestamp not after the
// series' latest check-in is folded into that check-in (its bytes are
// added), since the caller may deliver slightly out of order.
func (t *Tracker) Add(k Key, ts int64, bytes uint64) (Verdict, bool) {
	v, ok, _ := t.add(k, ts, bytes, true)
	return v, ok
}

// AddTracked is Add for a series already tracked; for any other it does
// nothing and returns tracked false. It spares a caller that admits
// series itself (after a second check-in, say) a separate lookup.
func (t *Tracker) AddTracked(k Key, ts int64, bytes uint64) (v Verdict, ok, tracked bool) {
	return t.add(k, ts, bytes, false)
}

// Tracked reports whether series k is being tracked.
func (t *Tracker) Tracked(k Key) bool {
	_, ok := t.lookup(k)
	return ok
}

// hash is the index key of k: its ID when the caller gave one, else a hash
// of its fields.
func (t *Tracker) hash(k Key) uint64 {
	if k.ID != 0 {
		return k.ID
	}
	if h := maphash.Comparable(t.seed, k); h != 0 {
		return h
	}
	return 1 // 0 marks an empty index slot; a collision is handled as any other
}

// sameKey compares series identities: the ID stands for the strings.
func sameKey(a, b Key) bool {
	return a.ID == b.ID && a.Port == b.Port && a.Transport == b.Transport &&
		(a.ID != 0 || a.Entity == b.Entity && a.Dest == b.Dest)
}

// lookup finds k's series. Two keys with one 64-bit hash are a
// vanishing chance; the later one then takes over the slot (see add).
func (t *Tracker) lookup(k Key) (int32, bool) {
	idx, ok := t.index.get(t.hash(k))
	if !ok || !sameKey(t.slab[idx].key, k) {
		return nilIdx, false
	}
	return idx, true
}

func (t *Tracker) add(k Key, ts int64, bytes uint64, create bool) (Verdict, bool, bool) {
	h := t.hash(k)
	idx, ok := t.index.get(h)
	if ok && !sameKey(t.slab[idx].key, k) {
		if !create {
			return Verdict{}, false, false
		}
		// A hash collision: the newcomer replaces the series.
		t.release(idx)
		t.stats.Evicted++
		ok = false
	}
	if !ok {
		if !create {
			return Verdict{}, false, false
		}
		idx = t.alloc(k, h, ts)
	}
	t.stats.Checkins++
	v, alerted := t.checkin(idx, k, ts, bytes)
	return v, alerted, true
}

func (t *Tracker) checkin(idx int32, k Key, ts int64, bytes uint64) (Verdict, bool) {
	s := &t.slab[idx]
	if s.count > 0 && ts <= s.last {
		t.stats.Folded++
		if s.n > 0 {
			p := s.head - 1
			if p < 0 {
				p += len(s.ring)
			}
			s.ring[p].size = satAdd32(s.ring[p].size, bytes)
		}
		return Verdict{}, false
	}
	gap := float32(0)
	if s.count == 0 {
		s.first = ts
	} else {
		gap = float32(elapsed(s.last, ts) / 1e9)
	}
	if s.n == len(s.ring) && s.n < t.cfg.Ring {
		s.grow(t.cfg.Ring)
	}
	s.ring[s.head] = checkin{gap, satAdd32(0, bytes)}
	s.head++
	if s.head == len(s.ring) {
		s.head = 0
	}
	if s.n < len(s.ring) {
		s.n++
	}
	s.last = ts
	s.count++

	if s.flags&flagSuppressed != 0 || s.n < t.cfg.MinCheckins {
		return Verdict{}, false
	}
	if s.flags&flagEstablished == 0 {
		s.flags |= flagEstablished
		t.unlink(idx)
		s.list, s.listed = listEst, s.last
		t.pushFront(idx)
	}
	switch {
	case s.flags&flagStrobe != 0:
		// Reported once; a strobe is not re-judged as a beacon.
		return Verdict{}, false
	case s.flags&flagAlerted != 0 && s.count < 2*s.reported:
		// Nothing to report before the count doubles: skip the work.
		return Verdict{}, false
	case s.flags&flagSlow != 0 && s.count%slowRescore != 0:
		return Verdict{}, false
	}

	r := t.sc.score(s, t.cfg.MinCheckins, t.cfg.StrobeInterval.Seconds())
	if !r.ok {
		return Verdict{}, false
	}
	s.period = r.period
	minP, maxP := t.cfg.MinPeriod.Seconds(), t.cfg.MaxPeriod.Seconds()
	if r.median < minP {
		s.flags |= flagSlow
	} else {
		s.flags &^= flagSlow
	}

	v := Verdict{
		Key: k, Score: r.score,
		Interval: r.interval, Size: r.size, Periodicity: r.periodicity, Coverage: r.coverage,
		Period: secDur(r.period), Jitter: secDur(r.jitter),
		Count: s.count, First: s.first, Last: s.last,
	}
	if s.flags&flagStrobe == 0 && r.median < t.cfg.StrobeInterval.Seconds() &&
		s.n >= max(t.cfg.MinCheckins, t.cfg.Ring/2) {
		if t.suppressed(s) {
			return Verdict{}, false
		}
		s.flags |= flagStrobe
		t.stats.Strobes++
		v.Strobe = true
		return v, true
	}
	if !r.significant || r.score < t.cfg.Threshold || r.period < minP || r.period > maxP {
		return Verdict{}, false
	}
	switch {
	case s.flags&flagAlerted == 0:
		if t.suppressed(s) {
			return Verdict{}, false
		}
		s.flags |= flagAlerted
		t.stats.Alerts++
		v.Alert = true
	case s.count >= 2*s.reported:
		t.stats.Updates++
		v.Update = true
	default:
		return Verdict{}, false
	}
	s.reported = s.count
	return v, true
}

func (t *Tracker) suppressed(s *series) bool {
	if t.cfg.Suppress == nil || !t.cfg.Suppress(s.key) {
		return false
	}
	s.flags |= flagSuppressed
	t.stats.Suppressed++
	return true
}

// Expire drops series idle at now (Unix ns): established series after
// max(SeriesIdle, 4 periods), younger ones after max(SeriesIdle, MaxPeriod).
// It walks each recency list from its oldest end and stops at the first
// series placed within SeriesIdle (resp. MaxPeriod), so its cost is the
// number of candidates, not the number of series; active series it meets
// are moved to the head.
func (t *Tracker) Expire(now int64) {
	idle := float64(t.cfg.SeriesIdle)
	youngIdle := math.Max(idle, float64(t.cfg.MaxPeriod))
	for i := t.lists[listYoung].tail; i != nilIdx; {
		s := &t.slab[i]
		prev := s.prev
		if elapsed(s.listed, now) <= youngIdle {
			break
		}
		if elapsed(s.last, now) <= youngIdle {
			t.requeue(i)
		} else {
			t.release(i)
			t.stats.Expired++
		}
		i = prev
	}
	for i := t.lists[listEst].tail; i != nilIdx; {
		s := &t.slab[i]
		prev := s.prev
		if elapsed(s.listed, now) <= idle {
			break
		}
		age := elapsed(s.last, now)
		switch {
		case age <= idle:
			t.requeue(i)
		case age > math.Max(idle, idlePeriods*s.period*1e9):
			t.release(i)
			t.stats.Expired++
		}
		i = prev
	}
}

// alloc creates the series for k (index key h) at ts, evicting one if the
// table is full.
func (t *Tracker) alloc(k Key, h uint64, ts int64) int32 {
	if t.index.len() >= t.cfg.MaxSeries {
		victim := t.oldest(listYoung)
		if victim == nilIdx {
			victim = t.oldest(listEst)
		}
		t.release(victim)
		t.stats.Evicted++
	}
	var idx int32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if len(t.slab) == cap(t.slab) {
			// Grown by hand to prefault the new slab (series are
			// reached at random, one per check-in), and never past
			// MaxSeries, since every page of it is touched.
			n := min(max(1024, 2*cap(t.slab)), t.cfg.MaxSeries)
			ns := make([]series, len(t.slab), max(n, len(t.slab)+1))
			flows.Prefault(ns)
			copy(ns, t.slab)
			t.slab = ns
		}
		t.slab = append(t.slab, series{ring: make([]checkin, min(firstRing, t.cfg.Ring))})
		idx = int32(len(t.slab) - 1)
	}
	s := &t.slab[idx]
	*s = series{key: k, hash: h, ring: s.ring, list: listYoung, prev: nilIdx, next: nilIdx, listed: ts}
	t.index.put(h, idx)
	t.pushFront(idx)
	return idx
}

// oldest returns the least recently active series of list l (nilIdx when
// empty), first moving to the head those active since they were placed.
func (t *Tracker) oldest(l uint8) int32 {
	for {
		i := t.lists[l].tail
		if i == nilIdx {
			return nilIdx
		}
		if s := &t.slab[i]; s.last > s.listed {
			t.requeue(i)
			continue
		}
		return i
	}
}

// requeue moves series idx to the head of its list, as placed at its
// latest check-in.
func (t *Tracker) requeue(idx int32) {
	t.unlink(idx)
	t.slab[idx].listed = t.slab[idx].last
	t.pushFront(idx)
}

func (t *Tracker) release(idx int32) {
	s := &t.slab[idx]
	t.unlink(idx)
	t.index.del(s.hash)
	s.key = Key{} // drop string references for the GC
	t.free = append(t.free, idx)
}

func (t *Tracker) pushFront(idx int32) {
	s := &t.slab[idx]
	l := &t.lists[s.list]
	s.prev, s.next = nilIdx, l.head
	if l.head != nilIdx {
		t.slab[l.head].prev = idx
	}
	l.head = idx
	if l.tail == nilIdx {
		l.tail = idx
	}
}

func (t *Tracker) unlink(idx int32) {
	s := &t.slab[idx]
	l := &t.lists[s.list]
	if s.prev != nilIdx {
		t.slab[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nilIdx {
		t.slab[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nilIdx, nilIdx
}

// elapsed returns to-from in ns as a float, without int64 overflow for
// arbitrary timestamps (0 if to is not after from).
func elapsed(from, to int64) float64 {
	if to <= from {
		return 0
	}
	return float64(uint64(to) - uint64(from))
}

func satAdd32(a uint32, b uint64) uint32 {
	if b >= math.MaxUint32 || uint64(a)+b >= math.MaxUint32 {
		return math.MaxUint32
	}
	return a + uint32(b)
}

func secDur(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	if s >= float64(math.MaxInt64)/1e9 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * 1e9)
}
