package beacon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

type rec struct{ rs []result }

func recordTrace(t trace) rec {
	tr := NewTracker(Config{})
	k := Key{}
	var out rec
	for _, e := range t.events {
		tr.Add(k, e.ts, e.bytes)
		s := &tr.slab[tr.index[k]]
		if s.n >= 6 {
			r := tr.sc.score(s, 6)
			if r.ok {
				out.rs = append(out.rs, r)
			}
		}
	}
	return out
}

type cellRec struct {
	name string
	recs []rec
}

func fires(rc rec, f func(result) float64, thr float64) bool {
	for _, r := range rc.rs {
		if r.period < 1 || r.period > 86400 {
			continue
		}
		if f(r) >= thr {
			return true
		}
	}
	return false
}

func shrink(x, n, n0, c0 float64) float64 { return (n*x + n0*c0) / (n + n0) }

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	seed := uint64(21)
	if os.Getenv("SEED") != "" {
		fmt.Sscan(os.Getenv("SEED"), &seed)
	}
	r := rand.New(rand.NewPCG(seed, 5))
	var benign []cellRec
	for _, mean := range poissonMeans {
		c := cellRec{name: "poisson " + mean.String()}
		for i := 0; i < 300; i++ {
			c.recs = append(c.recs, recordTrace(genPoisson(r, mean, benignMax)))
		}
		benign = append(benign, c)
	}
	c := cellRec{name: "bursty"}
	for i := 0; i < 1200; i++ {
		c.recs = append(c.recs, recordTrace(genBursty(r, benignMax)))
	}
	benign = append(benign, c)
	var beacons []cellRec
	for _, p := range []time.Duration{5 * time.Second, time.Minute, time.Hour} {
		for _, j := range evalJitters {
			for _, m := range evalMissed {
				for _, v := range []variant{varConn, varUDP} {
					c := cellRec{name: fmt.Sprintf("%v j%.1f m%.1f %v", p, j, m, v)}
					for i := 0; i < 100; i++ {
						c.recs = append(c.recs, recordTrace(genBeacon(r, beaconSpec{sleep: p, jitter: j, missed: m, variant: v, maxCheckins: 30, maxSpan: 24 * time.Hour})))
					}
					beacons = append(beacons, c)
				}
			}
		}
	}
	var ex trace
	now := base
	for i, d := range []float64{0, 45, 38, 52, 41, 50, 34, 47, 44} {
		now += int64(d * 1e9)
		ex.events = append(ex.events, event{now, 300})
		_ = i
	}
	exRec := recordTrace(ex)
	fmt.Printf("example final: %+v\n", exRec.rs[len(exRec.rs)-1])

	formulas := map[string]func(result) float64{}
	for _, n0 := range []float64{0, 1, 2, 3} {
		for _, wi := range []float64{0.4, 0.5, 0.6} {
			n0, wi := n0, wi
			rest := 1 - wi
			formulas[fmt.Sprintf("raw n0=%.0f wi=%.1f", n0, wi)] = func(r result) float64 {
				I := (1 - math.Abs(r.skewRaw) + clamp01(1-r.rRaw)) / 2
				s := wi*I + rest*(0.25/0.6*r.periodicity+0.2/0.6*r.coverage+0.15/0.6*r.size)
				return shrink(s, float64(r.n), n0, 0.5)
			}
			formulas[fmt.Sprintf("unf n0=%.0f wi=%.1f", n0, wi)] = func(r result) float64 {
				I := (1 - math.Abs(r.skewUnf) + clamp01(1-r.rUnf)) / 2
				s := wi*I + rest*(0.25/0.6*r.periodicity+0.2/0.6*r.coverage+0.15/0.6*r.size)
				return shrink(s, float64(r.n), n0, 0.5)
			}
		}
	}
	for name, f := range formulas {
		for _, thr := range []float64{0.75, 0.8, 0.85} {
			line := fmt.Sprintf("%-22s thr %.2f | FP", name, thr)
			for _, b := range benign {
				fp := 0
				for _, rc := range b.recs {
					if fires(rc, f, thr) {
						fp++
					}
				}
				line += fmt.Sprintf(" %.3f", float64(fp)/float64(len(b.recs)))
			}
			worst30, worst50 := 1.0, 1.0
			w30, w50 := "", ""
			for _, b := range beacons {
				hit := 0
				for _, rc := range b.recs {
					if fires(rc, f, thr) {
						hit++
					}
				}
				rec := float64(hit) / float64(len(b.recs))
				if stringsContains(b.name, "j0.5") {
					if rec < worst50 {
						worst50, w50 = rec, b.name
					}
				} else if rec < worst30 {
					worst30, w30 = rec, b.name
				}
			}
			exOK := f(exRec.rs[len(exRec.rs)-1]) >= thr
			line += fmt.Sprintf(" | worst<=30%% %.2f (%s) worst50 %.2f (%s) ex9 %v %.3f", worst30, w30, worst50, w50, exOK, f(exRec.rs[len(exRec.rs)-1]))
			fmt.Println(line)
		}
	}
}

func stringsContains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
