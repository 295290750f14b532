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

func ivs(t trace) []float64 {
	var out []float64
	for i := 1; i < len(t.events); i++ {
		out = append(out, float64(t.events[i].ts-t.events[i-1].ts)/1e9)
	}
	return out
}

type statFn func(iv []float64) float64

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

func unfoldAll(iv []float64) []float64 {
	s := append([]float64(nil), iv...)
	slices.Sort(s)
	p := median(s)
	for it := 0; it < 3; it++ {
		var u []float64
		for _, d := range iv {
			k := math.Round(d / p)
			if k >= 1 && k <= 4 && math.Abs(d/k-p) <= 0.35*p {
				u = append(u, d/k)
			}
		}
		if len(u) < 3 {
			break
		}
		slices.Sort(u)
		p = median(u)
	}
	out := make([]float64, len(iv))
	for i, d := range iv {
		k := math.Round(d / p)
		if k >= 1 && k <= 4 && math.Abs(d/k-p) <= 0.35*p {
			out[i] = d / k
		} else {
			out[i] = d
		}
	}
	return out
}

var stats2 = map[string]statFn{
	"madraw": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r },
	"madraw_c5": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r - 0.5/math.Sqrt(float64(len(iv))) },
	"madraw_c7": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r - 0.7/math.Sqrt(float64(len(iv))) },
	"madraw_c10": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r - 1.0/math.Sqrt(float64(len(iv))) },
	"madraw_n2": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r - 2/float64(len(iv)) },
	"madraw_n3": func(iv []float64) float64 { r, _ := madRatio(iv); return 1 - r - 3/float64(len(iv)) },
	"low_c5": func(iv []float64) float64 { s := append([]float64(nil), iv...); slices.Sort(s); q1,q2,_ := quartiles(s); return 1 - (q2-q1)/q2 - 0.5/math.Sqrt(float64(len(iv))) },
	"low_c7": func(iv []float64) float64 { s := append([]float64(nil), iv...); slices.Sort(s); q1,q2,_ := quartiles(s); return 1 - (q2-q1)/q2 - 0.7/math.Sqrt(float64(len(iv))) },
	"iqr_c7": func(iv []float64) float64 { s := append([]float64(nil), iv...); slices.Sort(s); q1,q2,q3 := quartiles(s); return 1 - (q3-q1)/q2/2 - 0.7/math.Sqrt(float64(len(iv))) },
	"rita_c7": func(iv []float64) float64 {
		s := append([]float64(nil), iv...)
		slices.Sort(s)
		sk, mad, med := bowleyMAD(s, make([]float64, len(s)))
		return (1 - math.Abs(sk) + 1 - mad/med - 0.7/math.Sqrt(float64(len(iv))))/2
	},
}

func maxPrefix(iv []float64, f statFn, lo int) (float64, int) {
	best, at := math.Inf(-1), 0
	for n := lo; n <= len(iv); n++ {
		st := iv[:n]
		if n > 63 {
			st = iv[n-63 : n]
		}
		if v := f(st); v > best {
			best, at = v, n
		}
	}
	return best, at
}

func pct(x []float64, f float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[int(f*float64(len(s)-1))]
}

func TestExplore2(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(11, 12))
	var benign [][]float64
	for _, mean := range poissonMeans {
		for i := 0; i < 500; i++ {
			benign = append(benign, ivs(genPoisson(r, mean, benignMax)))
		}
	}
	type bc struct {
		name string
		j, m float64
	}
	cells := []bc{{"j0 m.2", 0, .2}, {"j.3 m.2", .3, .2}, {"j.5 m0", .5, 0}, {"j.5 m.2", .5, .2}}
	beacons := map[string][][]float64{}
	for _, c := range cells {
		for i := 0; i < 500; i++ {
			beacons[c.name] = append(beacons[c.name], ivs(genBeacon(r, beaconSpec{sleep: time.Minute, jitter: c.j, missed: c.m, maxCheckins: 30, maxSpan: 24 * time.Hour})))
		}
	}
	for _, lo := range []int{5} {
		for name, f := range stats2 {
			var bm []float64
			for _, iv := range benign {
				v, _ := maxPrefix(iv, f, lo)
				bm = append(bm, v)
			}
			thr := pct(bm, 0.99)
			line := fmt.Sprintf("lo=%d %-12s benign p99 %.3f p995 %.3f |", lo, name, thr, pct(bm, 0.995))
			for _, c := range cells {
				hit := 0
				for _, iv := range beacons[c.name] {
					if v, _ := maxPrefix(iv, f, lo); v >= thr {
						hit++
					}
				}
				line += fmt.Sprintf(" %s %.2f", c.name, float64(hit)/500)
			}
			fmt.Println(line)
		}
	}
}
