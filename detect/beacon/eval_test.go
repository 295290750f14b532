package beacon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The evaluation: labelled beacons and benign series from sim_test.go, fed
// through a Tracker with the default Config, against RITA's timestamp score
// on the connections RITA (fed from Zeek conn logs) would see.

const (
	perCell   = 100 // beacon series per cell
	perRandom = 250 // random series per Poisson rate
	perBursty = 1000
	perHealth = 100
)

var (
	evalPeriods  = []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute, time.Hour}
	evalJitters  = []float64{0, 0.1, 0.3, 0.5}
	evalMissed   = []float64{0, 0.2}
	evalVariants = []variant{varConn, varKeepAlive, varUDP}
	poissonMeans = []time.Duration{2 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour}
	shortJitters = []float64{0, 0.1, 0.3, 0.4, 0.5}
)

// Observation per beacon: until 30 check-ins or 24 h, whichever comes first
// (5 s: 2.5 min; 60 s: 30 min; 10 min: 4-5 h; 1 h: 24 h, which is 19-30
// check-ins depending on jitter and misses). Benign series: up to 100
// connections or 24 h.
const (
	obsCheckins = 30
	obsSpan     = 24 * time.Hour
	benignMax   = 100
)

type cellKey struct {
	period  time.Duration
	jitter  float64
	missed  float64
	variant variant
}

type cellResult struct {
	n, outflow int
	alertAt    int       // sum over alerted series of the check-in that alerted
	rita       []float64 // RITA timestamp score per series
}

type evalReport struct {
	threshold  float64
	cells      map[cellKey]*cellResult
	randomFP   []int       // per Poisson mean
	ritaRandom [][]float64 // per Poisson mean
	burstyFP   int
	ritaBursty []float64
	health     int // health checks alerting without suppression
	healthSupp int // ... and with Config.Suppress
	short      []shortResult
}

type shortResult struct {
	jitter                          float64
	n, outflow, ritaTS, ritaFullMax int
}

// run feeds one trace to tr under key k and returns whether and at which
// event (1-based) it first alerted.
func run(tr *Tracker, k Key, t trace) (bool, int) {
	for i, e := range t.events {
		if v, ok := tr.Add(k, e.ts, e.bytes); ok && v.Alert {
			return true, i + 1
		}
	}
	return false, 0
}

func evaluate(seed uint64) evalReport {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rep := evalReport{cells: map[cellKey]*cellResult{}, threshold: NewTracker(Config{}).Config().Threshold}
	id := 0
	key := func(transport uint8) Key {
		id++
		return Key{Entity: fmt.Sprintf("pod-%d", id), Dest: "203.0.113.7", Port: 443, Transport: transport}
	}
	for _, p := range evalPeriods {
		for _, j := range evalJitters {
			for _, m := range evalMissed {
				for _, v := range evalVariants {
					res := &cellResult{}
					rep.cells[cellKey{p, j, m, v}] = res
					tr := NewTracker(Config{})
					transport := uint8(6)
					if v == varUDP {
						transport = 17
					}
					for i := 0; i < perCell; i++ {
						t := genBeacon(r, beaconSpec{sleep: p, jitter: j, missed: m, variant: v,
							maxCheckins: obsCheckins, maxSpan: obsSpan})
						res.n++
						if ok, at := run(tr, key(transport), t); ok {
							res.outflow++
							res.alertAt += at
						}
						res.rita = append(res.rita, RITATimestampScore(t.conns))
					}
				}
			}
		}
	}
	tr := NewTracker(Config{})
	for _, mean := range poissonMeans {
		fp := 0
		var rs []float64
		for i := 0; i < perRandom; i++ {
			t := genPoisson(r, mean, benignMax)
			if ok, _ := run(tr, key(6), t); ok {
				fp++
			}
			rs = append(rs, RITATimestampScore(t.conns))
		}
		rep.randomFP = append(rep.randomFP, fp)
		rep.ritaRandom = append(rep.ritaRandom, rs)
	}
	for i := 0; i < perBursty; i++ {
		t := genBursty(r, benignMax)
		if ok, _ := run(tr, key(6), t); ok {
			rep.burstyFP++
		}
		rep.ritaBursty = append(rep.ritaBursty, RITATimestampScore(t.conns))
	}

	// Health checks and scrapes are periodic by design: they alert unless
	// the deployment suppresses them by destination.
	suppress := func(k Key) bool { return k.Dest == "metrics.internal" }
	plain, quiet := NewTracker(Config{}), NewTracker(Config{Suppress: suppress})
	for i := 0; i < perHealth; i++ {
		period := time.Duration(10+r.IntN(21)) * time.Second
		t := genHealth(r, period, benignMax)
		k := Key{Entity: fmt.Sprintf("kubelet-%d", i), Dest: "metrics.internal", Port: 9100, Transport: 6}
		if ok, _ := run(plain, k, t); ok {
			rep.health++
		}
		if ok, _ := run(quiet, k, t); ok {
			rep.healthSupp++
		}
	}

	// Short-lived containers: an implant with a 56 s sleep in a pod that
	// lives 6 minutes (at 40% jitter: 9 check-ins 34-56 s apart).
	for _, j := range shortJitters {
		sr := shortResult{jitter: j}
		tr := NewTracker(Config{})
		for i := 0; i < perCell; i++ {
			t := genBeacon(r, beaconSpec{sleep: 56 * time.Second, jitter: j, variant: varConn,
				maxCheckins: 1000, maxSpan: 6 * time.Minute})
			sr.n++
			if ok, _ := run(tr, key(6), t); ok {
				sr.outflow++
			}
			if RITATimestampScore(t.conns) >= rep.threshold {
				sr.ritaTS++
			}
			if ritaFullScoreBound(t.conns) >= rep.threshold {
				sr.ritaFullMax++
			}
		}
		rep.short = append(rep.short, sr)
	}
	return rep
}

// ritaFullScoreBound is an upper bound of RITA's full beacon score (v5:
// 0.25 each for timestamp, data size, duration and histogram scores) for a
// pair seen inside a 24-hour dataset window. The data-size score is taken
// as 1. The duration score is 0 unless the pair is seen in >= 6 hourly
// bins (else bounded by 1); the histogram score is the coefficient-of-
// variation score 1-CV of the 24 hourly counts unless the pair is seen in
// >= 11 bins (where the bimodal score, bounded by 1, can take over).
func ritaFullScoreBound(conns []int64) float64 {
	if len(conns) == 0 {
		return 0
	}
	start := conns[0] - conns[0]%int64(24*time.Hour) // a midnight-aligned day
	var bins [24]float64
	for _, c := range conns {
		h := (c - start) / int64(time.Hour)
		if h >= 0 && h < 24 {
			bins[h]++
		}
	}
	bars, sum := 0, 0.0
	for _, b := range bins {
		if b > 0 {
			bars++
		}
		sum += b
	}
	mean := sum / 24
	v := 0.0
	for _, b := range bins {
		v += (b - mean) * (b - mean)
	}
	cvScore := clamp01(1 - math.Sqrt(v/24)/mean)
	dur, hist := 0.0, cvScore
	if bars >= 6 {
		dur = 1
	}
	if bars >= 11 {
		hist = 1
	}
	return 0.25 * (RITATimestampScore(conns) + 1 + dur + hist)
}

func frac(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

func countAtLeast(xs []float64, t float64) int {
	c := 0
	for _, x := range xs {
		if x >= t {
			c++
		}
	}
	return c
}

// pooled returns outflow's recall and RITA's recall at threshold t over
// the cells matching filter.
func (rep evalReport) pooled(filter func(cellKey) bool, t float64) (out, rita float64) {
	var n, o, ri int
	for k, c := range rep.cells {
		if filter(k) {
			n += c.n
			o += c.outflow
			ri += countAtLeast(c.rita, t)
		}
	}
	return frac(o, n), frac(ri, n)
}

func (rep evalReport) randomN() int { return perRandom * len(poissonMeans) }

func (rep evalReport) ritaFP(t float64) (random, bursty float64) {
	fp := 0
	for _, rs := range rep.ritaRandom {
		fp += countAtLeast(rs, t)
	}
	return frac(fp, rep.randomN()), frac(countAtLeast(rep.ritaBursty, t), len(rep.ritaBursty))
}

// ritaMatchedThreshold is the lowest RITA threshold at which RITA, too,
// stays within the 1% false-positive budget on random and on bursty series.
func (rep evalReport) ritaMatchedThreshold() float64 {
	var cands []float64
	for _, rs := range rep.ritaRandom {
		cands = append(cands, rs...)
	}
	cands = append(cands, rep.ritaBursty...)
	cands = append(cands, 1.001)
	slices.Sort(cands)
	for _, t := range cands {
		if r, b := rep.ritaFP(t); r <= 0.01 && b <= 0.01 {
			return t
		}
	}
	return math.Inf(1)
}

func (rep evalReport) table() string {
	var b strings.Builder
	mt := rep.ritaMatchedThreshold()
	fmt.Fprintf(&b, "%-6s %-4s %-4s | %-20s | %-20s | %-20s | mean check-in of alert\n",
		"period", "jit", "miss", "conn", "keepalive", "udp")
	for _, p := range evalPeriods {
		for _, j := range evalJitters {
			for _, m := range evalMissed {
				fmt.Fprintf(&b, "%-6s %3.0f%% %3.0f%% ", shortDur(p), j*100, m*100)
				var at []string
				for _, v := range evalVariants {
					c := rep.cells[cellKey{p, j, m, v}]
					o, ri := frac(c.outflow, c.n), frac(countAtLeast(c.rita, rep.threshold), c.n)
					rm := frac(countAtLeast(c.rita, mt), c.n)
					mark := ""
					if o-ri >= 0.1 {
						mark = "WIN"
					} else if ri-o >= 0.1 {
						mark = "LOSS"
					}
					fmt.Fprintf(&b, "| %4.2f %4.2f %4.2f %-4s ", o, ri, rm, mark)
					if c.outflow > 0 {
						at = append(at, fmt.Sprintf("%4.1f", float64(c.alertAt)/float64(c.outflow)))
					} else {
						at = append(at, "   -")
					}
				}
				fmt.Fprintf(&b, "| %s\n", strings.Join(at, " "))
			}
		}
	}
	return b.String()
}

func shortDur(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	if d >= time.Minute {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// TestEvaluation prints the evaluation table and asserts the targets on two
// seeds: recall >= 0.95 up to 30% jitter and >= 0.8 at 50% jitter, pooled
// per jitter level, and per cell within 0.05 of the same targets (sampling
// slack: a cell holds 100 series); false-positive rate <= 1% on random and
// on bursty series.
func TestEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluation takes a few seconds")
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rep := evaluate(seed)
			thr := rep.threshold
			t.Logf("recall per cell: outflow, RITA timestamp score at the same threshold %.2f, RITA at %.3f "+
				"(its lowest threshold with FP <= 1%%); WIN/LOSS: outflow ahead/behind RITA at %.2f by >= 0.10\n%s",
				thr, rep.ritaMatchedThreshold(), thr, rep.table())

			mt := rep.ritaMatchedThreshold()
			all := func(cellKey) bool { return true }
			for _, f := range []struct {
				name string
				keep func(cellKey) bool
			}{
				{"all", all},
				{"jitter 0%", func(k cellKey) bool { return k.jitter == 0 }},
				{"jitter 10%", func(k cellKey) bool { return k.jitter == 0.1 }},
				{"jitter 30%", func(k cellKey) bool { return k.jitter == 0.3 }},
				{"jitter 50%", func(k cellKey) bool { return k.jitter == 0.5 }},
				{"missed 0%", func(k cellKey) bool { return k.missed == 0 }},
				{"missed 20%", func(k cellKey) bool { return k.missed == 0.2 }},
				{"conn", func(k cellKey) bool { return k.variant == varConn }},
				{"keepalive", func(k cellKey) bool { return k.variant == varKeepAlive }},
				{"udp", func(k cellKey) bool { return k.variant == varUDP }},
			} {
				o, same := rep.pooled(f.keep, thr)
				_, at08 := rep.pooled(f.keep, 0.8)
				_, matched := rep.pooled(f.keep, mt)
				t.Logf("%-10s recall outflow %.3f | RITA %.3f at %.2f, %.3f at 0.80, %.3f at %.3f (RITA's FP <= 1%%)",
					f.name, o, same, thr, at08, matched, mt)
			}

			fpRandom := frac(sum(rep.randomFP), rep.randomN())
			fpBursty := frac(rep.burstyFP, perBursty)
			for i, mean := range poissonMeans {
				t.Logf("random, mean gap %-4s: FP outflow %d/%d, RITA %d/%d at %.2f and %d/%d at 0.80",
					shortDur(mean), rep.randomFP[i], perRandom, countAtLeast(rep.ritaRandom[i], thr), perRandom, thr,
					countAtLeast(rep.ritaRandom[i], 0.8), perRandom)
			}
			rr, rb := rep.ritaFP(thr)
			rr8, rb8 := rep.ritaFP(0.8)
			t.Logf("FP rate outflow: random %.4f (%d series), bursty %.4f (%d series); "+
				"RITA: random %.4f / bursty %.4f at %.2f, %.4f / %.4f at 0.80",
				fpRandom, rep.randomN(), fpBursty, perBursty, rr, rb, thr, rr8, rb8)
			t.Logf("health checks / scrapes every 10-30 s: %d/%d alert without suppression, %d/%d with Config.Suppress",
				rep.health, perHealth, rep.healthSupp, perHealth)
			for _, s := range rep.short {
				t.Logf("short-lived pod (6 min, sleep 56 s, jitter %2.0f%%): outflow %.2f, RITA timestamp score %.2f, "+
					"RITA full score (24 h window) upper bound >= %.2f: %.2f",
					s.jitter*100, frac(s.outflow, s.n), frac(s.ritaTS, s.n), thr, frac(s.ritaFullMax, s.n))
			}

			for _, j := range evalJitters {
				want := 0.95
				if j > 0.3 {
					want = 0.8
				}
				if o, _ := rep.pooled(func(k cellKey) bool { return k.jitter == j }, thr); o < want {
					t.Errorf("recall %.3f < %.2f at jitter %.0f%%", o, want, j*100)
				}
			}
			for k, c := range rep.cells {
				want := 0.95
				if k.jitter > 0.3 {
					want = 0.8
				}
				if rec := frac(c.outflow, c.n); rec < want-0.05 {
					t.Errorf("recall %.2f < %.2f-0.05 in cell period=%v jitter=%.0f%% missed=%.0f%% %v",
						rec, want, k.period, k.jitter*100, k.missed*100, k.variant)
				}
			}
			if fpRandom > 0.01 {
				t.Errorf("false-positive rate on random series %.4f > 0.01", fpRandom)
			}
			if fpBursty > 0.01 {
				t.Errorf("false-positive rate on bursty series %.4f > 0.01", fpBursty)
			}
			if rep.health < perHealth*9/10 {
				t.Errorf("only %d/%d health checks alerted; they are periodic and should score as such", rep.health, perHealth)
			}
			if rep.healthSupp != 0 {
				t.Errorf("%d health checks alerted despite Config.Suppress", rep.healthSupp)
			}
			for _, s := range rep.short {
				if s.jitter <= 0.1 && frac(s.outflow, s.n) < 0.95 {
					t.Errorf("short-lived pods at %.0f%% jitter: recall %.2f < 0.95", s.jitter*100, frac(s.outflow, s.n))
				}
			}
		})
	}
}

func sum(x []int) int {
	s := 0
	for _, v := range x {
		s += v
	}
	return s
}
