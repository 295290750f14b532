package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

func TestFPDetail(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	gateAlpha = 3e-4
	r := rand.New(rand.NewPCG(1234, 1))
	cfg := Config{Threshold: 0.6}
	for _, mean := range poissonMeans {
		for i := 0; i < 1000; i++ {
			tr := NewTracker(cfg)
			for _, e := range genPoisson(r, mean, benignMax).events {
				if v, ok := tr.Add(Key{}, e.ts, e.bytes); ok && v.Alert {
					s := &tr.slab[tr.index[Key{}]]
					res := tr.sc.score(s, 6)
					fmt.Printf("FP mean %v count %d n %d score %.3f I %.2f P %.2f C %.2f S %.2f period %v jitter %v\n", mean, v.Count, res.n, v.Score, v.Interval, v.Periodicity, v.Coverage, v.Size, v.Period, v.Jitter)
					break
				}
			}
		}
	}
}
