package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"
)

// trace the max-score verdict over a stream, using a tracker with threshold ~0 so every check-in reports
func maxVerdict(t trace) (Verdict, int) {
	tr := NewTracker(Config{})
	tr.cfg.Threshold = 1e-9
	var best Verdict
	bi := 0
	for i, e := range t.events {
		// force report every time: reset flags
		idx, ok := tr.index[Key{}]
		if ok {
			tr.slab[idx].flags &^= flagAlerted
		}
		if v, ok := tr.Add(Key{}, e.ts, e.bytes); ok && v.Score > best.Score && !v.Strobe {
			best = v
			bi = i + 1
		}
	}
	return best, bi
}

func q(x []float64) string {
	sort.Float64s(x)
	if len(x) == 0 {
		return "-"
	}
	p := func(f float64) float64 { return x[int(f*float64(len(x)-1))] }
	return fmt.Sprintf("p1 %.3f p5 %.3f p10 %.3f p50 %.3f p90 %.3f p95 %.3f p99 %.3f", p(0.01), p(0.05), p(0.1), p(0.5), p(0.9), p(0.95), p(0.99))
}

func summarize(name string, vs []Verdict) {
	var s, i, sz, p, c []float64
	for _, v := range vs {
		s = append(s, v.Score)
		i = append(i, v.Interval)
		sz = append(sz, v.Size)
		p = append(p, v.Periodicity)
		c = append(c, v.Coverage)
	}
	fmt.Printf("%s\n  score %s\n  intv  %s\n  per   %s\n  cov   %s\n  size  %s\n", name, q(s), q(i), q(p), q(c), q(sz))
}

func TestExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, mean := range poissonMeans {
		var vs []Verdict
		var at []float64
		for i := 0; i < 400; i++ {
			v, a := maxVerdict(genPoisson(r, mean, benignMax))
			vs = append(vs, v)
			at = append(at, float64(a))
		}
		summarize("poisson "+mean.String(), vs)
		fmt.Println("  at", q(at))
	}
	var vs []Verdict
	for i := 0; i < 400; i++ {
		v, _ := maxVerdict(genBursty(r, benignMax))
		vs = append(vs, v)
	}
	summarize("bursty", vs)
	for _, j := range []float64{0, 0.3, 0.5} {
		for _, m := range []float64{0, 0.2} {
			var vs []Verdict
			for i := 0; i < 400; i++ {
				v, _ := maxVerdict(genBeacon(r, beaconSpec{sleep: time.Minute, jitter: j, missed: m, maxCheckins: 30, maxSpan: 24 * time.Hour}))
				vs = append(vs, v)
			}
			summarize(fmt.Sprintf("beacon 1m j%.1f m%.1f", j, m), vs)
		}
	}
}
