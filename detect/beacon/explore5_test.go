package beacon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestDebugCell(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(3, 4))
	fails := 0
	for i := 0; i < 300; i++ {
		tr := genBeacon(r, beaconSpec{sleep: time.Hour, jitter: 0.5, missed: 0.2, variant: varConn, maxCheckins: 30, maxSpan: 24 * time.Hour})
		trk := NewTracker(Config{Threshold: 0.6})
		ok, _ := run(trk, Key{}, tr)
		if !ok {
			fails++
			rc := recordTrace(tr)
			last := rc.rs[len(rc.rs)-1]
			sig := 0
			for _, x := range rc.rs {
				if x.significant {
					sig++
				}
			}
			fmt.Printf("fail n=%d sig-prefixes=%d score %.3f I %.2f P %.2f C %.2f S %.2f period %.0f med %.0f\n", last.n, sig, last.score, last.interval, last.periodicity, last.coverage, last.size, last.period, last.median)
			g := gateTable(64, gateAlpha)
			for _, x := range rc.rs {
				c := 0
				for _, d := range x.iv {
					if d >= 0.65*x.period && d <= 1.35*x.period {
						c++
					}
				}
				fmt.Printf("   n=%d sig %v inband %d need %d score %.3f I %.2f P %.2f C %.2f S %.2f per %.0f\n", x.n, x.significant, c, g[2][x.n], x.score, x.interval, x.periodicity, x.coverage, x.size, x.period)
			}
		}
	}
	fmt.Println("fails", fails)
}
