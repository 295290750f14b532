package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestStreamFP(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	for _, a := range []float64{3e-4, 6e-4, 1e-3} {
		gateAlpha = a
		for _, thr := range []float64{0.6, 0.65, 0.7} {
			if os.Getenv("INFL") != "" {
				fmt.Sscan(os.Getenv("INFL"), &gateInflate)
			}
			r := rand.New(rand.NewPCG(1234, 1))
			cfg := Config{Threshold: thr}
			fp, n := 0, 0
			for _, mean := range poissonMeans {
				for i := 0; i < 1000; i++ {
					if ok, _ := run(NewTracker(cfg), Key{}, genPoisson(r, mean, benignMax)); ok {
						fp++
					}
					n++
				}
			}
			bfp := 0
			for i := 0; i < 2000; i++ {
				if ok, _ := run(NewTracker(cfg), Key{}, genBursty(r, benignMax)); ok {
					bfp++
				}
			}
			line := fmt.Sprintf("alpha %.4f thr %.2f FP poisson %.4f bursty %.4f |", a, thr, float64(fp)/float64(n), float64(bfp)/2000)
			for _, p := range []time.Duration{5 * time.Second, time.Hour} {
				for _, j := range []float64{0.3, 0.5} {
					for _, v := range []variant{varConn, varUDP} {
						h := 0
						for i := 0; i < 300; i++ {
							if ok, _ := run(NewTracker(cfg), Key{}, genBeacon(r, beaconSpec{sleep: p, jitter: j, missed: 0.2, variant: v, maxCheckins: 30, maxSpan: 24 * time.Hour})); ok {
								h++
							}
						}
						line += fmt.Sprintf(" %v/%.1f/%v %.2f", p, j, v, float64(h)/300)
					}
				}
			}
			fmt.Println(line)
		}
	}
}
