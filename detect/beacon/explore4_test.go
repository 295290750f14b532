package beacon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestCenterNull(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(99, 1))
	g := gateTable(64, gateAlpha)
	if os.Getenv("INFL") != "" {
		var f float64
		fmt.Sscan(os.Getenv("INFL"), &f)
		g = gateTableInfl(64, gateAlpha, f)
	}
	type acc struct{ tot, med, per [3]int }
	byN := map[int]*acc{}
	bucket := func(n int) int {
		switch {
		case n < 6:
			return 5
		case n < 8:
			return 6
		case n < 10:
			return 8
		case n < 14:
			return 10
		case n < 20:
			return 14
		case n < 30:
			return 20
		case n < 45:
			return 30
		}
		return 45
	}
	for i := 0; i < 60000; i++ {
		rc := recordTrace(genPoisson(r, time.Minute, 64))
		for _, x := range rc.rs {
			b := bucket(x.n)
			if byN[b] == nil {
				byN[b] = &acc{}
			}
			a := byN[b]
			for bi, tol := range gateBands {
				a.tot[bi]++
				cm, cp := 0, 0
				for _, d := range x.iv {
					if math.Abs(d-x.median) <= tol*x.median {
						cm++
					}
					if math.Abs(d-x.period) <= tol*x.period {
						cp++
					}
				}
				if cm >= g[bi][x.n] {
					a.med[bi]++
				}
				if cp >= g[bi][x.n] {
					a.per[bi]++
				}
			}
		}
	}
	for _, b := range []int{5, 6, 8, 10, 14, 20, 30, 45} {
		a := byN[b]
		line := fmt.Sprintf("n>=%2d", b)
		for bi := range gateBands {
			line += fmt.Sprintf(" | tol %.2f med %.5f per %.5f", gateBands[bi], float64(a.med[bi])/float64(a.tot[bi]), float64(a.per[bi])/float64(a.tot[bi]))
		}
		fmt.Println(line)
	}
}

func gateTableInfl(ring int, alpha, infl float64) [len(gateBands)][]int {
	var g [len(gateBands)][]int
	for b, tol := range gateBands {
		q := infl * (math.Exp2(-(1 - tol)) - math.Exp2(-(1 + tol)))
		g[b] = make([]int, ring)
		for n := range g[b] {
			g[b][n] = n + 1
			if n >= 2 {
				if j := binomialTailIndex(n-1, q, alpha); j >= 0 {
					g[b][n] = j + 1
				}
			}
		}
	}
	return g
}
