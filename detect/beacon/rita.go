package beacon

import (
	"math"
	"slices"
)

// RITATimestampScore reproduces RITA's (v5) published timestamp score of one
// connection pair, for comparison only: connection start times ts (Unix ns)
// are truncated to whole seconds as RITA stores them, sorted, differenced;
// zero intervals are dropped; the score is the mean of 1-|Bowley skewness|
// (taken as 0 unless Q3-Q1 >= 10 s and the median differs from both
// quartiles) and max(0, (median-MAD)/median) (1 when the median is below one
// second), rounded to three decimals. RITA needs at least four timestamps
// and three non-zero intervals; with fewer it does not score the pair, and
// this returns 0.
func RITATimestampScore(ts []int64) float64 {
	if len(ts) < 4 {
		return 0
	}
	sec := make([]float64, len(ts))
	for i, t := range ts {
		sec[i] = float64(floorDiv(t, 1e9))
	}
	slices.Sort(sec)
	iv := make([]float64, 0, len(sec)-1)
	for i := 1; i < len(sec); i++ {
		if d := sec[i] - sec[i-1]; d > 0 {
			iv = append(iv, d)
		}
	}
	if len(iv) < 3 {
		return 0
	}
	slices.Sort(iv)
	q1, q2, q3 := quartiles(iv)
	skew := 0.0
	if den := q3 - q1; den >= 10 && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / den
	}
	dev := make([]float64, len(iv))
	for i, v := range iv {
		dev[i] = math.Abs(v - q2)
	}
	slices.Sort(dev)
	mad := median(dev)
	madScore := 1.0
	if q2 >= 1 {
		madScore = (q2 - mad) / q2
	}
	if madScore < 0 || math.IsNaN(madScore) {
		madScore = 0
	}
	return math.Round((1-math.Abs(skew)+madScore)/2*1000) / 1000
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
