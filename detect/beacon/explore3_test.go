package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

func TestExplore3(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{5, 6, 7, 8, 10, 12, 16, 20, 30, 45, 63} {
		var rs []float64
		cnt := 0
		for i := 0; i < 200000; i++ {
			iv := make([]float64, n)
			for j := range iv {
				iv[j] = r.ExpFloat64()
			}
			x, _ := madRatio(iv)
			rs = append(rs, x)
			if x <= 0.101 {
				cnt++
			}
		}
		fmt.Printf("n=%2d q.0005 %.3f q.001 %.3f q.003 %.3f q.01 %.3f q.05 %.3f q.5 %.3f  P(r<=.101)=%.5f\n", n, pct(rs, .0005), pct(rs, .001), pct(rs, .003), pct(rs, .01), pct(rs, .05), pct(rs, .5), float64(cnt)/200000)
	}
}
