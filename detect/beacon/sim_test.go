package beacon

import (
	"math"
	"math/rand/v2"
	"time"
)

// Labelled series generators for the evaluation. All randomness comes from
// the *rand.Rand passed in, so a seed reproduces a run exactly.

type variant int

const (
	varConn      variant = iota // new TCP connection per check-in
	varKeepAlive                // one keep-alive connection; check-ins are bursts inside it
	varUDP                      // one datagram flow per check-in, new source port each time
)

func (v variant) String() string {
	return [...]string{"conn", "keepalive", "udp"}[v]
}

// event is one Add call: a check-in as the flow layer reports it.
type event struct {
	ts    int64
	bytes uint64
}

// trace is one labelled series: the events outflow receives, and the
// connection start times RITA (fed from Zeek conn logs) would see.
type trace struct {
	events []event
	conns  []int64
}

// base is an arbitrary epoch so timestamps look like real Unix ns.
const base = int64(1_700_000_000) * 1e9

// beaconSpec describes a Cobalt Strike style implant.
type beaconSpec struct {
	sleep   time.Duration
	jitter  float64 // fraction; each sleep is sleep*(1-jitter*U)
	missed  float64 // probability a check-in does not happen (blocked, host busy)
	variant variant
	// Observation: stop after maxCheckins check-ins or when the span
	// exceeds maxSpan, whichever comes first.
	maxCheckins int
	maxSpan     time.Duration
}

// genBeacon simulates one implant. It checks in when it starts and then
// after every sleep; a missed check-in (blocked, host busy) leaves a double
// interval. Check-in sizes are a per-implant base size with +-10% noise;
// 5% of check-ins carry tasking output 10-100x larger. Each check-in takes
// 0-50 ms of network and processing time before the implant sleeps again.
// UDP implants resend 10% of check-ins 0.2-1 s later from yet another
// source port (a second flow carrying the same data).
func genBeacon(r *rand.Rand, sp beaconSpec) trace {
	var tr trace
	sleep := float64(sp.sleep)
	start := base + r.Int64N(int64(sp.sleep))
	now := start
	baseSize := 100 + r.Float64()*1900
	for n := 0; n < sp.maxCheckins && now-start <= int64(sp.maxSpan); {
		if r.Float64() >= sp.missed {
			size := baseSize * (0.9 + 0.2*r.Float64())
			if r.Float64() < 0.05 {
				size *= 10 + 90*r.Float64()
			}
			tr.events = append(tr.events, event{now, uint64(size)})
			if sp.variant != varKeepAlive || len(tr.conns) == 0 {
				tr.conns = append(tr.conns, now)
			}
			if sp.variant == varUDP && r.Float64() < 0.1 {
				retry := now + int64((0.2+0.8*r.Float64())*1e9)
				tr.events = append(tr.events, event{retry, uint64(size)})
				tr.conns = append(tr.conns, retry)
			}
			n++
			now += int64(r.Float64() * 50e6)
		}
		now += int64(sleep * (1 - sp.jitter*r.Float64()))
	}
	return tr
}

// benignSize returns a size generator: half of the benign series repeat
// the same request (sizes within +-3%, as regular as a beacon's), the other
// half have heavy-tailed log-normal sizes.
func benignSize(r *rand.Rand) func() uint64 {
	b := 200 + r.Float64()*5000
	if r.IntN(2) == 0 {
		return func() uint64 { return uint64(b * (0.97 + 0.06*r.Float64())) }
	}
	return func() uint64 { return uint64(b * math.Exp(r.NormFloat64())) }
}

// genPoisson: connections at random (exponential gaps) with the given mean,
// up to maxEvents or 24 h.
func genPoisson(r *rand.Rand, mean time.Duration, maxEvents int) trace {
	var tr trace
	size := benignSize(r)
	now := base
	for len(tr.events) < maxEvents {
		now += int64(r.ExpFloat64() * float64(mean))
		if now-base > int64(24*time.Hour) {
			break
		}
		tr.events = append(tr.events, event{now, size()})
		tr.conns = append(tr.conns, now)
	}
	return tr
}

// genBursty: browsing-like sessions. Sessions hold 1+Geometric(mean 6)
// connections separated by log-normal gaps (median 3 s); sessions are
// separated by Pareto gaps (minimum 30 s, alpha 1.1, capped at 12 h).
func genBursty(r *rand.Rand, maxEvents int) trace {
	var tr trace
	size := benignSize(r)
	now := base
	for len(tr.events) < maxEvents {
		gap := 30 * math.Pow(1-r.Float64(), -1/1.1)
		now += int64(math.Min(gap, 12*3600) * 1e9)
		n := 1
		for r.Float64() < 5.0/6 {
			n++
		}
		for i := 0; i < n && len(tr.events) < maxEvents; i++ {
			if i > 0 {
				now += int64(3e9 * math.Exp(1.2*r.NormFloat64()))
			}
			if now-base > int64(24*time.Hour) {
				return tr
			}
			tr.events = append(tr.events, event{now, size()})
			tr.conns = append(tr.conns, now)
		}
	}
	return tr
}

// genHealth: a health check or metrics scrape every period (10-30 s) with
// 1% timing noise and near-constant sizes: genuinely periodic and benign.
func genHealth(r *rand.Rand, period time.Duration, maxEvents int) trace {
	var tr trace
	size := 300 + r.Float64()*2000
	now := base + r.Int64N(int64(period))
	for len(tr.events) < maxEvents {
		now += int64(float64(period) * (0.99 + 0.02*r.Float64()))
		tr.events = append(tr.events, event{now, uint64(size * (0.99 + 0.02*r.Float64()))})
		tr.conns = append(tr.conns, now)
	}
	return tr
}
