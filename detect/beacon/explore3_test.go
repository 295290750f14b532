package beacon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"testing"
	"time"
)

type gstat func(iv []float64) float64 // larger = more regular

func medOf(iv []float64) (float64, []float64) {
	s := append([]float64(nil), iv...)
	slices.Sort(s)
	return median(s), s
}

var gstats = map[string]gstat{
	"mad": func(iv []float64) float64 { r, _ := madRatio(iv); return -r },
	"r75": func(iv []float64) float64 {
		m, _ := medOf(iv)
		d := make([]float64, len(iv))
		for i, v := range iv {
			d[i] = math.Abs(v-m) / m
		}
		slices.Sort(d)
		return -d[int(math.Ceil(0.75*float64(len(d))))-1]
	},
	"band35": func(iv []float64) float64 {
		m, _ := medOf(iv)
		c := 0
		for _, v := range iv {
			if math.Abs(v-m) <= 0.35*m {
				c++
			}
		}
		return float64(c) / float64(len(iv))
	},
	"band25": func(iv []float64) float64 {
		m, _ := medOf(iv)
		c := 0
		for _, v := range iv {
			if math.Abs(v-m) <= 0.25*m {
				c++
			}
		}
		return float64(c) / float64(len(iv))
	},
	"low2": func(iv []float64) float64 {
		m, s := medOf(iv)
		return s[1] / m
	},
	"q1med": func(iv []float64) float64 {
		_, s := medOf(iv)
		q1, q2, _ := quartiles(s)
		return q1 / q2
	},
	"madlow": func(iv []float64) float64 {
		// lower-half dispersion plus MAD
		_, s := medOf(iv)
		q1, q2, _ := quartiles(s)
		r, _ := madRatio(iv)
		return q1/q2 - r
	},
}

func TestGates(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	alpha := 0.002
	if os.Getenv("ALPHA") != "" {
		fmt.Sscan(os.Getenv("ALPHA"), &alpha)
	}
	r := rand.New(rand.NewPCG(99, 1))
	null := map[string]map[int][]float64{}
	for name := range gstats {
		null[name] = map[int][]float64{}
	}
	for i := 0; i < 15000; i++ {
		rc := recordTrace(genPoisson(r, time.Minute, 64))
		for _, x := range rc.rs {
			for name, f := range gstats {
				null[name][x.n] = append(null[name][x.n], f(x.iv))
			}
		}
	}
	thr := map[string]map[int]float64{}
	for name := range gstats {
		thr[name] = map[int]float64{}
		for n, v := range null[name] {
			if len(v) < 2000 {
				continue
			}
			sort.Float64s(v)
			// smallest value such that P(stat >= value) <= alpha
			idx := int(math.Ceil((1 - alpha) * float64(len(v))))
			if idx >= len(v) {
				idx = len(v) - 1
			}
			thr[name][n] = v[idx]
			if v[idx] == v[len(v)-1] {
				thr[name][n] = math.Nextafter(v[idx], math.Inf(1))
			}
		}
	}
	pass := func(name string, x result) bool {
		th, ok := thr[name][x.n]
		if !ok {
			th = thr[name][53]
		}
		return gstats[name](x.iv) >= th && x.period >= 1
	}
	r2 := rand.New(rand.NewPCG(5, 6))
	var benign []rec
	for _, mean := range poissonMeans {
		for i := 0; i < 250; i++ {
			benign = append(benign, recordTrace(genPoisson(r2, mean, benignMax)))
		}
	}
	var bursty []rec
	for i := 0; i < 1000; i++ {
		bursty = append(bursty, recordTrace(genBursty(r2, benignMax)))
	}
	type cell struct {
		name string
		recs []rec
	}
	var cells []cell
	for _, p := range []time.Duration{5 * time.Second, time.Minute, time.Hour} {
		for _, j := range []float64{0.3, 0.5} {
			for _, m := range evalMissed {
				c := cell{name: fmt.Sprintf("%v j%.1f m%.1f", p, j, m)}
				for i := 0; i < 150; i++ {
					c.recs = append(c.recs, recordTrace(genBeacon(r2, beaconSpec{sleep: p, jitter: j, missed: m, variant: varUDP, maxCheckins: 30, maxSpan: 24 * time.Hour})))
				}
				cells = append(cells, c)
			}
		}
	}
	// ex9-like: 9 check-ins, intervals uniform in [34,56]
	var ex []rec
	for i := 0; i < 500; i++ {
		var tr trace
		now := base
		for k := 0; k < 9; k++ {
			if k > 0 {
				now += int64((34 + 22*r2.Float64()) * 1e9)
			}
			tr.events = append(tr.events, event{now, 300})
		}
		ex = append(ex, recordTrace(tr))
	}
	anyPass := func(name string, rc rec) bool {
		for _, x := range rc.rs {
			if pass(name, x) {
				return true
			}
		}
		return false
	}
	for name := range gstats {
		fp, bfp := 0, 0
		for _, rc := range benign {
			if anyPass(name, rc) {
				fp++
			}
		}
		for _, rc := range bursty {
			if anyPass(name, rc) {
				bfp++
			}
		}
		line := fmt.Sprintf("%-7s a=%.3f FP poisson %.3f bursty %.3f |", name, alpha, float64(fp)/float64(len(benign)), float64(bfp)/float64(len(bursty)))
		for _, c := range cells {
			h := 0
			for _, rc := range c.recs {
				if anyPass(name, rc) {
					h++
				}
			}
			line += fmt.Sprintf(" %s %.2f", c.name, float64(h)/float64(len(c.recs)))
		}
		e := 0
		for _, rc := range ex {
			if len(rc.rs) > 0 && pass(name, rc.rs[len(rc.rs)-1]) {
				e++
			}
		}
		line += fmt.Sprintf(" | ex9 %.2f", float64(e)/float64(len(ex)))
		fmt.Println(line)
	}
}

func madRatio(iv []float64) (float64, float64) {
	s := append([]float64(nil), iv...)
	slices.Sort(s)
	m := median(s)
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = math.Abs(v - m)
	}
	slices.Sort(d)
	return median(d) / m, m
}
