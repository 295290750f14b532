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
	// gapPeriods: gaps longer than this many periods count as uncovered.
	// Three consecutive missed beats at 50% jitter stay below it.
	gapPeriods = 6
	// bowleyMinSpread: below this interquartile range (relative to the
	// median) the distribution is treated as symmetric: the asymmetry of
	// sub-2% noise (network delay, clock granularity) means nothing, the
	// same reason RITA ignores skew when Q3-Q1 < 10 s.
	bowleyMinSpread = 0.02
)

// result of scoring one series.
type result struct {
	ok                                    bool
	score                                 float64
	interval, size, periodicity, coverage float64
	period, jitter, median                float64 // seconds
	// exploration
	n                           int
	rRaw, skewRaw, rUnf, skewUnf float64
}

// scratch holds per-Tracker buffers so scoring allocates nothing.
type scratch struct {
	t, sz, iv, sorted, tmp, u []float64
}

func newScratch(n int) scratch {
	buf := make([]float64, 6*n)
	return scratch{
		t: buf[0:0:n], sz: buf[n : n : 2*n], iv: buf[2*n : 2*n : 3*n],
		sorted: buf[3*n : 3*n : 4*n], tmp: buf[4*n : 4*n : 5*n], u: buf[5*n : 5*n : 6*n],
	}
}

// score computes the components over the series' ring.
func (sc *scratch) score(s *series, minCheckins int) result {
	ringLen := len(s.gap)
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
			g := float64(s.gap[j])
			now += g
			sc.iv = append(sc.iv, g)
		}
		sc.t = append(sc.t, now)
		sc.sz = append(sc.sz, float64(s.size[j]))
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

	r := result{ok: true}
	sc.sorted = append(sc.sorted[:0], sc.iv...)
	slices.Sort(sc.sorted)
	r.median = median(sc.sorted)
	r.interval = robustScore(sc.sorted, sc.tmp)

	r.n = len(sc.iv)
	r.skewRaw, r.rRaw, _ = bowleyMAD(sc.sorted, sc.tmp)
	if r.median > 0 {
		r.rRaw /= r.median
	}
	r.period, r.periodicity = sc.fundamental(r.median)
	{
		u := sc.u[:0]
		for _, d := range sc.iv {
			k := math.Round(d / r.period)
			if k >= 2 && k <= maxMultiple && math.Abs(d/k-r.period) <= 0.1*r.period {
				d /= k
			}
			u = append(u, d)
		}
		slices.Sort(u)
		var m float64
		r.skewUnf, r.rUnf, m = bowleyMAD(u, sc.tmp)
		if m > 0 {
			r.rUnf /= m
		}
	}
	r.jitter = sc.spread(r.period)

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

// fundamental estimates the period as the fundamental that explains the
// intervals as integer multiples (missed beats), and returns it with its
// phase coherence. Candidates are the median interval and its half and third
// (when more than half the beats are missed the median is itself a
// multiple); each is refined to the median of the intervals it explains,
// divided by their multiple. The winner is the most coherent candidate; a
// shorter candidate must beat a longer one clearly, because every
// sub-multiple of a perfect period is as coherent as the period itself.
func (sc *scratch) fundamental(med float64) (period, coherence float64) {
	if !(med > 0) {
		return 0, 0
	}
	bestP, bestR := 0.0, -1.0
	for div := 1; div <= 3; div++ {
		p := sc.refine(med / float64(div))
		if !(p > 0) {
			continue
		}
		r := phaseCoherence(sc.iv, p)
		if bestR < 0 || r > bestR+0.1 {
			bestP, bestR = p, r
		}
	}
	if bestR < 0 {
		return med, 0
	}
	return bestP, bestR
}

// refine iterates p <- median of the intervals explained by p, unfolded.
func (sc *scratch) refine(p float64) float64 {
	for iter := 0; iter < 3; iter++ {
		u := sc.unfold(p)
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

// unfold fills sc.u with d/k for every interval d explained by k*p.
func (sc *scratch) unfold(p float64) []float64 {
	u := sc.u[:0]
	for _, d := range sc.iv {
		k := math.Round(d / p)
		if k < 1 || k > maxMultiple {
			continue
		}
		if x := d / k; math.Abs(x-p) <= harmonicTol*p {
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
	u := sc.unfold(p)
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
