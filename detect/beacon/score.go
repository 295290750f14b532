package beacon

import (
	"math"
	"slices"
)

// Component weights; the package documentation explains the choice.
const (
	wInterval    = 0.40
	wPeriodicity = 0.25
	wCoverage    = 0.20
	wSize        = 0.15
)

const (
	// coalesceFrac: a check-in closer than this fraction of the median
	// interval to the previous one is a retry or a second flow of the same
	// check-in (UDP implants resend on a new source port), so it is merged.
	coalesceFrac = 0.1
	// maxMultiple: intervals up to this many periods are read as missed
	// beats; longer ones are gaps that carry no phase information.
	maxMultiple = 4
	// harmonicTol: an interval is explained by k periods when it is within
	// this fraction of k*period after dividing by k. 0.35 admits every
	// single interval of 50% uniform jitter (+-1/3 around the mean).
	harmonicTol = 0.35
	// refineWideTol is the tolerance of the first refinement pass.
	refineWideTol = 0.5
	// gapPeriods: gaps longer than this many periods count as uncovered.
	// Three consecutive missed beats at 50% jitter stay below it.
	gapPeriods = 6
	// bowleyMinSpread: below this interquartile range (relative to the
	// median) the distribution is treated as symmetric: the asymmetry of
	// sub-2% noise (network delay, clock granularity) means nothing, the
	// same reason RITA ignores skew when Q3-Q1 < 10 s.
	bowleyMinSpread = 0.02
	// clearMultipleTol: an interval within this fraction of k periods
	// (k >= 2) is unambiguously a run of k sleeps with beats missed.
	clearMultipleTol = 0.1
)

// result of scoring one series.
type result struct {
	ok                                    bool
	score                                 float64
	interval, size, periodicity, coverage float64
	period, jitter, median                float64 // seconds
	n                                     int     // intervals scored
	significant                           bool    // passed the gate
}

// scratch holds per-Tracker buffers so scoring allocates nothing.
type scratch struct {
	t, sz, iv, sorted, tmp, u []float64
	// gate[l][b][n]: how many of n intervals must lie within gateBands[b]
	// of the period for significance at level gateAlpha/4^l.
	gate [gateLevels][len(gateBands)][]int
}

func newScratch(n int) scratch {
	buf := make([]float64, 6*n)
	sc := scratch{
		t: buf[0:0:n], sz: buf[n : n : 2*n], iv: buf[2*n : 2*n : 3*n],
		sorted: buf[3*n : 3*n : 4*n], tmp: buf[4*n : 4*n : 5*n], u: buf[5*n : 5*n : 6*n],
	}
	for l := range sc.gate {
		sc.gate[l] = gateTable(n, gateAlpha/math.Pow(4, float64(l)))
	}
	return sc
}

// The significance gate. Five intervals can look regular by chance; thirty
// rarely do. Rather than shrink the score by an arbitrary sample-size
// penalty, a series must also pass a test against random (Poisson)
// arrivals: count the intervals within a band of +-tol around the period
// and require a count that random arrivals reach with probability at most
// alpha. For exponential intervals one interval falls in a band around the
// median with probability q = 2^-(1-tol) - 2^-(1+tol), and the count is
// close to Binomial(n-1, q) (the centre interval is in by construction).
// The centre is fitted to the same data, and coalescing retries removes the
// shortest random intervals; both put more mass in the band than q, which
// gateInflate absorbs (1.1 q for the narrowest band, 1.2 q for the wider
// ones, where fitting the centre helps chance more). TestGateCalibration
// checks the resulting pass rate of simulated Poisson series against
// gateAlpha.
//
// Three bands serve three jitter regimes: +-10% holds every interval of a
// beacon with up to ~20% jitter and lets it alert at six check-ins; +-20%
// covers ~35% jitter; +-35% holds every interval of 50% uniform jitter
// (sleep*(0.5..1) is +-33% around its median), at the price of needing
// more check-ins (9 with no missed beats, about 15 with 20% missed). Missed
// beats and retries fall outside the bands and only cost power, never false
// positives; bursty and heavy-tailed traffic has less mass near its centre
// than Poisson and passes less often.
//
// A series is re-tested at every check-in, so alpha is spent over its life:
// gateAlpha for the first gateSpendAfter check-ins, then a quarter of the
// previous level each time the lifetime count doubles (alpha ~ 1/count^2,
// a summable series), so that a random series watched for days does not
// keep accumulating chances. A real beacon's evidence grows much faster:
// 40 of 63 intervals in the wide band is beyond even the last level.
// gateAlpha = 4e-4 with spending after 16 check-ins puts the whole-stream
// false-positive rate of random series near 0.25% (26 of 10,000 series of
// up to 100 connections; 1 of 500 day-long series of ~1,400 connections;
// 0 of 5,000 bursty series), measured with seeds other than the
// evaluation's.
var (
	gateBands   = [...]float64{0.1, 0.2, 0.35}
	gateInflate = [len(gateBands)]float64{1.1, 1.2, 1.2}
)

const (
	gateAlpha      = 4e-4 // per band and evaluation, before spending
	gateLevels     = 8
	gateSpendAfter = 16
)

// gateLevel is the alpha-spending level for a series' lifetime count.
func gateLevel(count int) int {
	l := 0
	for c := count; c > gateSpendAfter && l < gateLevels-1; c /= 2 {
		l++
	}
	return l
}

func gateTable(ring int, alpha float64) [len(gateBands)][]int {
	var g [len(gateBands)][]int
	for b, tol := range gateBands {
		q := gateInflate[b] * (math.Exp2(-(1 - tol)) - math.Exp2(-(1 + tol)))
		g[b] = make([]int, ring)
		for n := range g[b] {
			g[b][n] = n + 1 // unreachable
			if n >= 2 {
				if j := binomialTailIndex(n-1, q, alpha); j >= 0 {
					g[b][n] = j + 1
				}
			}
		}
	}
	return g
}

// binomialTailIndex returns the smallest j with P(Binomial(m, p) >= j) <=
// alpha, or -1 if even P(X = m) exceeds alpha. It walks down from j = m in
// log space (pmf(j-1) = pmf(j) * j/(m-j+1) * (1-p)/p), so large m neither
// underflows nor needs a Gamma function per term.
func binomialTailIndex(m int, p, alpha float64) int {
	la := math.Log(alpha)
	lratio := math.Log1p(-p) - math.Log(p)
	lpmf := float64(m) * math.Log(p)
	ltail := math.Inf(-1)
	for j := m; j >= 0; j-- {
		if j < m {
			lpmf += math.Log(float64(j+1)/float64(m-j)) + lratio
		}
		ltail = logAddExp(ltail, lpmf)
		if ltail > la {
			if j == m {
				return -1
			}
			return j + 1
		}
	}
	return 0
}

func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// score computes the components over the series' ring. Unless the median
// interval is below strobe (seconds), a series that cannot pass the
// significance gate at any centre is only partly scored: ok but not
// significant, with the median standing in for the period. That bound is
// one pass over the sorted intervals, and it spares the bulk of the work
// for the many series that are nowhere near periodic.
func (sc *scratch) score(s *series, minCheckins int, strobe float64) result {
	ringLen := len(s.ring)
	start := s.head - s.n
	if start < 0 {
		start += ringLen
	}
	// Reconstruct check-in times (seconds from the oldest kept check-in)
	// and the raw intervals; the oldest entry's gap points outside the ring.
	sc.t, sc.sz, sc.iv = sc.t[:0], sc.sz[:0], sc.iv[:0]
	now := 0.0
	for i := 0; i < s.n; i++ {
		j := start + i
		if j >= ringLen {
			j -= ringLen
		}
		if i > 0 {
			g := float64(s.ring[j].gap)
			now += g
			sc.iv = append(sc.iv, g)
		}
		sc.t = append(sc.t, now)
		sc.sz = append(sc.sz, float64(s.ring[j].size))
	}
	if len(sc.iv) == 0 {
		return result{}
	}
	sc.sorted = append(sc.sorted[:0], sc.iv...)
	slices.Sort(sc.sorted)
	rawMedian := median(sc.sorted)

	// Coalesce retries in place: t and sz shrink to the kept check-ins.
	minGap := coalesceFrac * rawMedian
	k := 1
	for i := 1; i < len(sc.t); i++ {
		if sc.t[i]-sc.t[k-1] < minGap {
			sc.sz[k-1] += sc.sz[i]
			continue
		}
		sc.t[k], sc.sz[k] = sc.t[i], sc.sz[i]
		k++
	}
	sc.t, sc.sz = sc.t[:k], sc.sz[:k]
	if k < minCheckins {
		return result{median: rawMedian}
	}
	sc.iv = sc.iv[:0]
	for i := 1; i < k; i++ {
		sc.iv = append(sc.iv, sc.t[i]-sc.t[i-1])
	}
	span := sc.t[k-1] - sc.t[0]

	r := result{ok: true, n: len(sc.iv)}
	sc.sorted = append(sc.sorted[:0], sc.iv...)
	slices.Sort(sc.sorted)
	r.median = median(sc.sorted)
	if r.median >= strobe && !sc.mayPass(s.count) {
		r.period = r.median
		return r
	}
	r.period, r.periodicity = sc.fundamental(r.median)
	r.significant = sc.significant(r.period, s.count)
	r.jitter = sc.spread(r.period)

	// Interval regularity on the intervals with clear missed beats
	// unfolded: a 2x interval at low jitter would otherwise land on Q3 and
	// make Bowley's skew read as maximal for a near-perfect beacon.
	u := sc.u[:0]
	for _, d := range sc.iv {
		if k := math.Round(d / r.period); k >= 2 && k <= maxMultiple &&
			math.Abs(d-k*r.period) <= clearMultipleTol*k*r.period {
			d /= k
		}
		u = append(u, d)
	}
	slices.Sort(u)
	r.interval = robustScore(u, sc.tmp)

	sc.sorted = append(sc.sorted[:0], sc.sz...)
	slices.Sort(sc.sorted)
	r.size = robustScore(sc.sorted, sc.tmp)

	r.coverage = 1
	if span > 0 && r.period > 0 {
		gaps := 0.0
		for _, d := range sc.iv {
			if d > gapPeriods*r.period {
				gaps += d
			}
		}
		r.coverage = clamp01(1 - gaps/span)
	}

	r.score = clamp01(wInterval*r.interval + wPeriodicity*r.periodicity +
		wCoverage*r.coverage + wSize*r.size)
	return r
}

// mayPass reports whether some centre could put enough of the sorted
// intervals (sc.sorted) in a gate band: a band [c(1-tol), c(1+tol)] holds
// intervals d_i..d_j only if d_j <= d_i(1+tol)/(1-tol), so the largest such
// run bounds every band count.
func (sc *scratch) mayPass(count int) bool {
	d := sc.sorted
	n := len(d)
	g := &sc.gate[gateLevel(count)]
	if n >= len(g[0]) {
		return false
	}
	for b, tol := range gateBands {
		need := g[b][n]
		if need > n {
			continue
		}
		ratio := (1 + tol) / (1 - tol)
		j := 0
		for i := 0; i+need <= n; i++ {
			if j < i {
				j = i
			}
			for j+1 < n && d[j+1] <= d[i]*ratio {
				j++
			}
			if j-i+1 >= need {
				return true
			}
		}
	}
	return false
}

// significant reports whether the intervals cluster around the period more
// tightly than random arrivals would, at the alpha-spending level for a
// series with count check-ins; see gateBands.
func (sc *scratch) significant(period float64, count int) bool {
	n := len(sc.iv)
	g := &sc.gate[gateLevel(count)]
	if n >= len(g[0]) || !(period > 0) {
		return false
	}
	for b, tol := range gateBands {
		c := 0
		for _, d := range sc.iv {
			if math.Abs(d-period) <= tol*period {
				c++
			}
		}
		if c >= g[b][n] {
			return true
		}
	}
	return false
}

// fundamental estimates the period as the fundamental that explains the
// intervals as integer multiples (missed beats), and returns it with its
// phase coherence. Candidates are the median interval and its half and
// third (when more than half the beats are missed the median is itself a
// multiple); each is refined to the median of the intervals it explains,
// divided by their multiple. A candidate qualifies only if a quarter of the
// intervals are single periods of it: with missed beats the fundamental
// still shows up as itself, while a spurious sub-multiple does not. The
// longest qualifying candidate that explains nearly as many intervals as
// the best one wins, because every sub-multiple of the period explains at
// least as much as the period itself.
func (sc *scratch) fundamental(med float64) (period, coherence float64) {
	if !(med > 0) {
		return 0, 0
	}
	n := len(sc.iv)
	var cand [3]float64
	var expl [3]int
	best := -1
	for div := 1; div <= 3; div++ {
		p := sc.refine(med / float64(div))
		single, all := sc.explained(p)
		if !(p > 0) || 4*single < n || single < 2 {
			continue
		}
		cand[div-1], expl[div-1] = p, all
		if best < 0 || all > expl[best] {
			best = div - 1
		}
	}
	if best < 0 {
		return med, phaseCoherence(sc.iv, med)
	}
	slack := max(1, n/10)
	for i := range cand {
		if cand[i] > 0 && expl[i] >= expl[best]-slack {
			return cand[i], phaseCoherence(sc.iv, cand[i])
		}
	}
	return cand[best], phaseCoherence(sc.iv, cand[best])
}

// explained counts the intervals that are one period p (single) and any
// 1..maxMultiple periods (all), within harmonicTol after unfolding.
func (sc *scratch) explained(p float64) (single, all int) {
	if !(p > 0) {
		return 0, 0
	}
	for _, d := range sc.iv {
		k := math.Round(d / p)
		if k < 1 || k > maxMultiple || math.Abs(d/k-p) > harmonicTol*p {
			continue
		}
		all++
		if k == 1 {
			single++
		}
	}
	return single, all
}

// refine iterates p <- median of the intervals explained by p, unfolded.
func (sc *scratch) refine(p float64) float64 {
	for iter := 0; iter < 3; iter++ {
		// The first pass looks wider: a start far from the centre (the
		// median is pulled up by missed beats) would otherwise clip the
		// short side of the jitter and settle off-centre.
		tol := harmonicTol
		if iter == 0 {
			tol = refineWideTol
		}
		u := sc.unfold(p, tol)
		if len(u) < 3 {
			return p
		}
		slices.Sort(u)
		np := median(u)
		if math.Abs(np-p) <= 1e-9*p {
			return np
		}
		p = np
	}
	return p
}

// unfold fills sc.u with d/k for every interval d explained by k*p within
// tol.
func (sc *scratch) unfold(p, tol float64) []float64 {
	u := sc.u[:0]
	for _, d := range sc.iv {
		k := math.Round(d / p)
		if k < 1 || k > maxMultiple {
			continue
		}
		if x := d / k; math.Abs(x-p) <= tol*p {
			u = append(u, x)
		}
	}
	sc.u = u
	return u
}

// spread is twice the interquartile range of the unfolded intervals: the
// full width of uniform jitter.
func (sc *scratch) spread(p float64) float64 {
	if !(p > 0) {
		return 0
	}
	u := sc.unfold(p, harmonicTol)
	if len(u) < 3 {
		return 0
	}
	slices.Sort(u)
	q1, _, q3 := quartiles(u)
	return 2 * (q3 - q1)
}

// phaseCoherence is the mean resultant length of the interval phases modulo
// p: |sum exp(2*pi*i*d/p)|/n, the magnitude of the interval distribution's
// Fourier transform at frequency 1/p. Intervals longer than maxMultiple
// periods are left out: accumulated jitter randomises their phase. The
// squared length is debiased, (n*R^2-1)/(n-1), so that random phases score
// about 0 rather than 1/sqrt(n) and short series are not favoured.
func phaseCoherence(iv []float64, p float64) float64 {
	var c, s float64
	n := 0
	for _, d := range iv {
		x := d / p
		if x > maxMultiple+0.5 {
			continue
		}
		sn, cs := math.Sincos(2 * math.Pi * x)
		c += cs
		s += sn
		n++
	}
	if n < 3 {
		return 0
	}
	nf := float64(n)
	r2 := (c*c + s*s) / (nf * nf)
	return math.Sqrt(clamp01((nf*r2 - 1) / (nf - 1)))
}

// robustScore is RITA's regularity form on sorted values: the mean of
// 1-|Bowley skewness| and 1-MAD/median (clipped to 0..1).
func robustScore(sorted, tmp []float64) float64 {
	skew, mad, med := bowleyMAD(sorted, tmp)
	skewScore := 1 - math.Abs(skew)
	madScore := 0.0
	switch {
	case med > 0:
		madScore = clamp01(1 - mad/med)
	case mad == 0:
		madScore = 1 // all identical (e.g. the caller does not know sizes)
	}
	return (skewScore + madScore) / 2
}

// bowleyMAD returns Bowley's skewness (0 when the spread is too small to
// say), the median absolute deviation and the median of sorted values.
func bowleyMAD(sorted, tmp []float64) (skew, mad, med float64) {
	if len(sorted) == 0 {
		return 0, 0, 0
	}
	q1, q2, q3 := quartiles(sorted)
	if den := q3 - q1; den > bowleyMinSpread*math.Abs(q2) && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / den
	}
	dev := tmp[:len(sorted)]
	for i, v := range sorted {
		dev[i] = math.Abs(v - q2)
	}
	slices.Sort(dev)
	return skew, median(dev), q2
}

// quartiles of sorted x by the median-of-halves rule (montanaflynn/stats,
// which RITA uses): Q1 and Q3 are the medians of the lower and upper halves,
// excluding the middle element when the length is odd.
func quartiles(x []float64) (q1, q2, q3 float64) {
	n := len(x)
	switch n {
	case 0:
		return 0, 0, 0
	case 1:
		return x[0], x[0], x[0]
	}
	c1, c2 := n/2, n/2
	if n%2 == 1 {
		c2 = c1 + 1
	}
	return median(x[:c1]), median(x), median(x[c2:])
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func clamp01(x float64) float64 {
	if !(x > 0) { // also maps NaN to 0
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
