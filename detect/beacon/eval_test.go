package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// The evaluation: labelled beacons and benign series from sim_test.go, fed
// through a Tracker with default Config, against RITA's timestamp score on
// the connections RITA would see, at the same threshold.

const perCell = 100 // series per beacon cell and per benign class

var (
	evalPeriods  = []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute, time.Hour}
	evalJitters  = []float64{0, 0.1, 0.3, 0.5}
	evalMissed   = []float64{0, 0.2}
	evalVariants = []variant{varConn, varKeepAlive, varUDP}
	poissonMeans = []time.Duration{2 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour}
)

// Observation per beacon: until 30 check-ins or 24 h, whichever is first
// (5 s: 2.5 min; 60 s: 30 min; 10 min: 5 h; 1 h: 24 h, i.e. 19-32
// check-ins depending on jitter and misses).
const (
	obsCheckins = 30
	obsSpan     = 24 * time.Hour
	benignMax   = 100 // benign series: up to 100 connections or 24 h
)

type cellKey struct {
	period  time.Duration
	jitter  float64
	missed  float64
	variant variant
}

type cellResult struct {
	n, outflow, rita int
	alertAt          int // sum of check-in index at first alert (1-based)
}

type evalReport struct {
	cells            map[cellKey]*cellResult
	random, bursty   []int // per Poisson mean: false positives; bursty: [fp]
	ritaRandom       []int
	ritaBursty       int
	health, healthSu int // health checks alerting without / with Suppress
	randomN, burstyN int
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

func ritaAlerts(t trace, threshold float64) bool {
	return RITATimestampScore(t.conns) >= threshold
}

var evalCfg = Config{}

func evaluate(seed uint64) evalReport {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rep := evalReport{cells: map[cellKey]*cellResult{}}
	thr := NewTracker(evalCfg).Config().Threshold
	id := 0
	key := func(port uint16, transport uint8) Key {
		id++
		return Key{Entity: fmt.Sprintf("pod-%d", id), Dest: "203.0.113.7", Port: port, Transport: transport}
	}
	for _, p := range evalPeriods {
		for _, j := range evalJitters {
			for _, m := range evalMissed {
				for _, v := range evalVariants {
					ck := cellKey{p, j, m, v}
					res := &cellResult{}
					rep.cells[ck] = res
					tr := NewTracker(evalCfg)
					transport := uint8(6)
					if v == varUDP {
						transport = 17
					}
					for i := 0; i < perCell; i++ {
						t := genBeacon(r, beaconSpec{sleep: p, jitter: j, missed: m, variant: v,
							maxCheckins: obsCheckins, maxSpan: obsSpan})
						res.n++
						if ok, at := run(tr, key(443, transport), t); ok {
							res.outflow++
							res.alertAt += at
						}
						if ritaAlerts(t, thr) {
							res.rita++
						}
					}
				}
			}
		}
	}
	tr := NewTracker(evalCfg)
	for _, mean := range poissonMeans {
		fp, rfp := 0, 0
		for i := 0; i < perCell; i++ {
			t := genPoisson(r, mean, benignMax)
			if ok, _ := run(tr, key(443, 6), t); ok {
				fp++
			}
			if ritaAlerts(t, thr) {
				rfp++
			}
			rep.randomN++
		}
		rep.random = append(rep.random, fp)
		rep.ritaRandom = append(rep.ritaRandom, rfp)
	}
	fp := 0
	for i := 0; i < 4*perCell; i++ {
		t := genBursty(r, benignMax)
		if ok, _ := run(tr, key(443, 6), t); ok {
			fp++
		}
		if ritaAlerts(t, thr) {
			rep.ritaBursty++
		}
		rep.burstyN++
	}
	rep.bursty = []int{fp}

	// Health checks and scrapes are periodic by design: they alert unless
	// the deployment suppresses them by destination.
	suppress := func(k Key) bool { return k.Dest == "metrics.internal" }
	plain, quiet := NewTracker(evalCfg), NewTracker(Config{Threshold: evalCfg.Threshold, Suppress: suppress})
	for i := 0; i < perCell; i++ {
		period := time.Duration(10+r.IntN(21)) * time.Second
		t := genHealth(r, period, benignMax)
		k := Key{Entity: fmt.Sprintf("kubelet-%d", i), Dest: "metrics.internal", Port: 9100, Transport: 6}
		if ok, _ := run(plain, k, t); ok {
			rep.health++
		}
		if ok, _ := run(quiet, k, t); ok {
			rep.healthSu++
		}
	}
	return rep
}

func (rep evalReport) recall(filter func(cellKey) bool) (out, rita float64) {
	var n, o, ri int
	for k, c := range rep.cells {
		if filter(k) {
			n += c.n
			o += c.outflow
			ri += c.rita
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(o) / float64(n), float64(ri) / float64(n)
}

func (rep evalReport) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-4s %-4s | %-23s | %-23s | %-23s | mean check-ins to alert\n",
		"period", "jit", "miss", "conn  outflow/RITA", "keepalive outflow/RITA", "udp  outflow/RITA")
	for _, p := range evalPeriods {
		for _, j := range evalJitters {
			for _, m := range evalMissed {
				fmt.Fprintf(&b, "%-6s %3.0f%% %3.0f%% ", shortDur(p), j*100, m*100)
				var at []string
				for _, v := range evalVariants {
					c := rep.cells[cellKey{p, j, m, v}]
					o, ri := float64(c.outflow)/float64(c.n), float64(c.rita)/float64(c.n)
					mark := "    "
					if o-ri >= 0.1 {
						mark = " WIN"
					} else if ri-o >= 0.1 {
						mark = " los"
					}
					fmt.Fprintf(&b, "| %5.2f / %5.2f%s      ", o, ri, mark)
					if c.outflow > 0 {
						at = append(at, fmt.Sprintf("%.1f", float64(c.alertAt)/float64(c.outflow)))
					} else {
						at = append(at, "-")
					}
				}
				fmt.Fprintf(&b, "| %s\n", strings.Join(at, " "))
			}
		}
	}
	return b.String()
}

func shortDur(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	return s
}

func TestEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluation takes a few seconds")
	}
	if s := os.Getenv("THR"); s != "" {
		fmt.Sscan(s, &evalCfg.Threshold)
	}
	if s := os.Getenv("ALPHA"); s != "" {
		fmt.Sscan(s, &gateAlpha)
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rep := evaluate(seed)
			t.Logf("recall per cell (outflow / RITA timestamp score >= %.2f; WIN = outflow ahead by >= 0.10)\n%s",
				DefaultThreshold, rep.table())
			for _, j := range evalJitters {
				o, ri := rep.recall(func(k cellKey) bool { return k.jitter == j })
				t.Logf("jitter %2.0f%%: recall outflow %.3f, RITA %.3f", j*100, o, ri)
			}
			for _, v := range evalVariants {
				o, ri := rep.recall(func(k cellKey) bool { return k.variant == v })
				t.Logf("variant %-9s: recall outflow %.3f, RITA %.3f", v, o, ri)
			}
			for _, m := range evalMissed {
				o, ri := rep.recall(func(k cellKey) bool { return k.missed == m })
				t.Logf("missed %2.0f%%: recall outflow %.3f, RITA %.3f", m*100, o, ri)
			}
			totalFP := 0
			for i, mean := range poissonMeans {
				totalFP += rep.random[i]
				t.Logf("random mean %-5s: FP outflow %d/%d, RITA %d/%d", shortDur(mean), rep.random[i], perCell, rep.ritaRandom[i], perCell)
			}
			fpRandom := float64(totalFP) / float64(rep.randomN)
			fpBursty := float64(rep.bursty[0]) / float64(rep.burstyN)
			t.Logf("FP rate random %.4f (%d series), bursty %.4f (%d series); RITA random %.4f, bursty %.4f",
				fpRandom, rep.randomN, fpBursty, rep.burstyN,
				float64(sum(rep.ritaRandom))/float64(rep.randomN), float64(rep.ritaBursty)/float64(rep.burstyN))
			t.Logf("health checks: %d/%d alert without suppression, %d/%d with Suppress", rep.health, perCell, rep.healthSu, perCell)

			// Targets, per cell so that no period or variant hides behind
			// an average.
			for k, c := range rep.cells {
				rec := float64(c.outflow) / float64(c.n)
				want := 0.95
				if k.jitter > 0.3 {
					want = 0.8
				}
				if rec < want {
					t.Errorf("recall %.2f < %.2f in cell period=%v jitter=%.0f%% missed=%.0f%% %v",
						rec, want, k.period, k.jitter*100, k.missed*100, k.variant)
				}
			}
			if fpRandom > 0.01 {
				t.Errorf("false-positive rate on random series %.4f > 0.01", fpRandom)
			}
			if fpBursty > 0.01 {
				t.Errorf("false-positive rate on bursty series %.4f > 0.01", fpBursty)
			}
			if rep.health < perCell*9/10 {
				t.Errorf("only %d/%d health checks scored as periodic; they are the known false-positive source", rep.health, perCell)
			}
			if rep.healthSu != 0 {
				t.Errorf("%d suppressed health checks still alerted", rep.healthSu)
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
