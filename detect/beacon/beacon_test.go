package beacon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var testKey = Key{Entity: "pod-a", Dest: "198.51.100.9", Port: 443, Transport: 6}

// feed adds check-ins at the given offsets (seconds from base) with a fixed
// size and returns the verdicts with the 1-based index of the check-in
// that produced each.
func feed(tr *Tracker, k Key, offsets []float64) (vs []Verdict, at []int) {
	for i, o := range offsets {
		if v, ok := tr.Add(k, base+int64(o*1e9), 300); ok {
			vs = append(vs, v)
			at = append(at, i+1)
		}
	}
	return vs, at
}

// regular returns n offsets every period seconds.
func regular(n int, period float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i) * period
	}
	return out
}

// cumulative turns intervals into offsets starting at 0.
func cumulative(iv []float64) []float64 {
	out := []float64{0}
	for _, d := range iv {
		out = append(out, out[len(out)-1]+d)
	}
	return out
}

func TestConfigDefaults(t *testing.T) {
	got := NewTracker(Config{}).Config()
	want := Config{
		Threshold: DefaultThreshold, MinCheckins: DefaultMinCheckins, Ring: DefaultRing,
		MaxSeries: DefaultMaxSeries, MinPeriod: DefaultMinPeriod, MaxPeriod: DefaultMaxPeriod,
		StrobeInterval: DefaultStrobeInterval, SeriesIdle: DefaultSeriesIdle,
	}
	if got.Threshold != want.Threshold || got.MinCheckins != want.MinCheckins || got.Ring != want.Ring ||
		got.MaxSeries != want.MaxSeries || got.MinPeriod != want.MinPeriod || got.MaxPeriod != want.MaxPeriod ||
		got.StrobeInterval != want.StrobeInterval || got.SeriesIdle != want.SeriesIdle {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		name string
		in   Config
		ok   func(Config) bool
	}{
		{"ring raised to MinCheckins", Config{MinCheckins: 10, Ring: 3}, func(c Config) bool { return c.Ring == 10 }},
		{"ring capped", Config{Ring: 1 << 20}, func(c Config) bool { return c.Ring == maxRing }},
		{"MinCheckins floor", Config{MinCheckins: 2}, func(c Config) bool { return c.MinCheckins == 4 }},
		{"threshold out of range", Config{Threshold: 3}, func(c Config) bool { return c.Threshold == DefaultThreshold }},
		{"NaN threshold", Config{Threshold: math.NaN()}, func(c Config) bool { return c.Threshold == DefaultThreshold }},
		{"MaxPeriod below MinPeriod", Config{MinPeriod: time.Hour, MaxPeriod: time.Minute},
			func(c Config) bool { return c.MaxPeriod == time.Hour }},
	} {
		if got := NewTracker(tc.in).Config(); !tc.ok(got) {
			t.Errorf("%s: got %+v", tc.name, got)
		}
	}
}

// TestStreamingAlert checks that the alert comes with the check-in that
// makes the series qualify, not at the end of the stream.
func TestStreamingAlert(t *testing.T) {
	t.Run("clockwork alerts at MinCheckins", func(t *testing.T) {
		tr := NewTracker(Config{})
		vs, at := feed(tr, testKey, regular(40, 60))
		if len(vs) == 0 || !vs[0].Alert || at[0] != DefaultMinCheckins {
			t.Fatalf("first verdict at check-in %v (%+v), want Alert at %d", at, vs, DefaultMinCheckins)
		}
		if vs[0].Count != DefaultMinCheckins || vs[0].Last != base+int64(5*60e9) || vs[0].First != base {
			t.Errorf("verdict Count/First/Last = %d/%d/%d", vs[0].Count, vs[0].First, vs[0].Last)
		}
	})
	t.Run("jittered alerts at the qualifying check-in", func(t *testing.T) {
		r := rand.New(rand.NewPCG(42, 1))
		iv := make([]float64, 60)
		for i := range iv {
			iv[i] = 60 * (1 - 0.5*r.Float64())
		}
		offsets := cumulative(iv)
		vs, at := feed(NewTracker(Config{}), testKey, offsets)
		if len(vs) == 0 || !vs[0].Alert {
			t.Fatal("50% jitter beacon over 61 check-ins never alerted")
		}
		k := at[0]
		if k >= len(offsets) {
			t.Fatalf("alert only at the last check-in %d", k)
		}
		// Replaying the same prefix into a fresh tracker: one check-in
		// fewer does not qualify, the same prefix does.
		if vs, _ := feed(NewTracker(Config{}), testKey, offsets[:k-1]); len(vs) != 0 {
			t.Errorf("prefix of %d check-ins already alerted", k-1)
		}
		if vs, at := feed(NewTracker(Config{}), testKey, offsets[:k]); len(vs) != 1 || at[0] != k {
			t.Errorf("prefix of %d check-ins: verdicts at %v", k, at)
		}
		t.Logf("50%% jitter beacon alerted at check-in %d of %d", k, len(offsets))
	})
}

// TestBriefExample: a pod that lives six minutes and checks in nine times
// at 34-56 s intervals must alert with default settings.
func TestBriefExample(t *testing.T) {
	for _, iv := range [][]float64{
		{45, 38, 52, 41, 50, 34, 47, 44},
		{34, 56, 40, 50, 36, 54, 45, 42},
		{56, 34, 56, 34, 45, 45, 40, 48},
		{40, 41, 39, 44, 52, 55, 36, 50},
	} {
		offsets := cumulative(iv)
		if offsets[len(offsets)-1] > 360 {
			t.Fatalf("test data spans %v s > 6 min", offsets[len(offsets)-1])
		}
		vs, at := feed(NewTracker(Config{}), testKey, offsets)
		if len(vs) == 0 || !vs[0].Alert || at[0] > 9 {
			t.Errorf("intervals %v: verdicts %+v at %v, want an alert by check-in 9", iv, vs, at)
		}
	}
	// And typically, for random intervals in the same range.
	r := rand.New(rand.NewPCG(7, 7))
	hit := 0
	const n = 500
	for i := 0; i < n; i++ {
		iv := make([]float64, 8)
		for j := range iv {
			iv[j] = 34 + 22*r.Float64()
		}
		if vs, _ := feed(NewTracker(Config{}), testKey, cumulative(iv)); len(vs) > 0 && vs[0].Alert {
			hit++
		}
	}
	if hit < n*9/10 {
		t.Errorf("only %d/%d random 9-check-in series at 34-56 s alerted", hit, n)
	}
	t.Logf("%d/%d random 9-check-in series with intervals uniform in [34, 56] s alerted", hit, n)
}

func TestStrobe(t *testing.T) {
	tr := NewTracker(Config{})
	vs, _ := feed(tr, testKey, regular(100, 0.05))
	if len(vs) != 1 || !vs[0].Strobe || vs[0].Alert || vs[0].Update {
		t.Fatalf("verdicts %+v, want exactly one Strobe", vs)
	}
	if s := tr.Stats(); s.Strobes != 1 || s.Alerts != 0 || s.Checkins != 100 {
		t.Errorf("stats %+v", s)
	}
	// A strobe is not re-judged as a beacon later.
	more := regular(50, 60)
	for i := range more {
		more[i] += 10
	}
	if vs, _ := feed(tr, testKey, more); len(vs) != 0 {
		t.Errorf("strobe series reported again: %+v", vs)
	}
}

// TestUpdates: after the alert, a series reports again only when its
// lifetime count has doubled.
func TestUpdates(t *testing.T) {
	tr := NewTracker(Config{})
	vs, _ := feed(tr, testKey, regular(200, 30))
	var counts []int
	for i, v := range vs {
		if v.Alert != (i == 0) || v.Update != (i > 0) {
			t.Errorf("verdict %d: Alert=%v Update=%v", i, v.Alert, v.Update)
		}
		counts = append(counts, v.Count)
	}
	want := []int{6, 12, 24, 48, 96, 192}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("verdict counts %v, want %v", counts, want)
	}
	if s := tr.Stats(); s.Alerts != 1 || s.Updates != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestSuppress(t *testing.T) {
	calls := 0
	tr := NewTracker(Config{Suppress: func(k Key) bool {
		calls++
		return k.Port == 9100
	}})
	scrape := Key{Entity: "prometheus", Dest: "10.0.0.5", Port: 9100, Transport: 6}
	if vs, _ := feed(tr, scrape, regular(100, 15)); len(vs) != 0 {
		t.Errorf("suppressed series reported %+v", vs)
	}
	if vs, _ := feed(tr, testKey, regular(10, 15)); len(vs) != 1 || !vs[0].Alert {
		t.Errorf("unsuppressed series: %+v", vs)
	}
	if calls != 2 {
		t.Errorf("Suppress called %d times, want once per reporting series", calls)
	}
	if s := tr.Stats(); s.Suppressed != 1 || s.Alerts != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestEviction(t *testing.T) {
	t.Run("one-off series go first", func(t *testing.T) {
		tr := NewTracker(Config{MaxSeries: 4})
		vs, _ := feed(tr, testKey, regular(7, 60))
		if len(vs) != 1 || !vs[0].Alert {
			t.Fatalf("setup: %+v", vs)
		}
		for i := 0; i < 10; i++ {
			k := Key{Entity: "scanner", Dest: fmt.Sprintf("192.0.2.%d", i), Port: 80, Transport: 6}
			tr.Add(k, base+int64(1000+i)*1e9, 60)
		}
		if s := tr.Stats(); s.Series != 4 || s.Evicted != 7 {
			t.Errorf("stats %+v, want 4 series and 7 evicted", s)
		}
		// The established beacon kept its history: its next report is the
		// update at 12 check-ins, not a fresh alert.
		var got []Verdict
		for i := 7; i < 12; i++ {
			if v, ok := tr.Add(testKey, base+int64(i*60+1000)*1e9, 300); ok {
				got = append(got, v)
			}
		}
		if len(got) != 1 || !got[0].Update || got[0].Count != 12 {
			t.Errorf("after the flood: %+v, want an Update at count 12", got)
		}
	})
	t.Run("least recent established when all are established", func(t *testing.T) {
		tr := NewTracker(Config{MaxSeries: 2})
		a, b, c := testKey, testKey, testKey
		a.Dest, b.Dest, c.Dest = "a", "b", "c"
		feed(tr, a, regular(6, 60))
		feed(tr, b, regular(6, 60))
		tr.Add(c, base+int64(1e12), 1)
		if tr.Tracked(a) {
			t.Error("least recently active series a survived")
		}
		if !tr.Tracked(b) {
			t.Error("series b was evicted")
		}
		if s := tr.Stats(); s.Evicted != 1 || s.Series != 2 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestSlabBounded checks that the series slab never grows past MaxSeries:
// all of it is prefaulted, so spare capacity would be resident memory.
func TestSlabBounded(t *testing.T) {
	for _, max := range []int{1, 5, 1000, 1500, 3000} {
		tr := NewTracker(Config{MaxSeries: max})
		for i := range 2 * max {
			k := Key{Entity: "e", Dest: fmt.Sprintf("d%d", i), Port: 80, Transport: 6}
			tr.Add(k, base+int64(i)*1e9, 60)
		}
		if s := tr.Stats(); s.Series != max {
			t.Errorf("MaxSeries %d: %d series", max, s.Series)
		}
		if c := cap(tr.slab); c > max {
			t.Errorf("MaxSeries %d: slab capacity %d", max, c)
		}
	}
}

func TestExpire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		offsets   []float64
		keepAfter time.Duration // idle time at which the series must survive
		dropAfter time.Duration // ... and be gone
	}{
		{"60 s beacon: SeriesIdle dominates", regular(10, 60), 9 * time.Minute, 11 * time.Minute},
		{"1 h beacon: four periods", regular(10, 3600), 3*time.Hour + 50*time.Minute, 4*time.Hour + 10*time.Minute},
		{"single check-in: MaxPeriod", []float64{0}, 23 * time.Hour, 25 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(Config{})
			feed(tr, testKey, tc.offsets)
			last := base + int64(tc.offsets[len(tc.offsets)-1]*1e9)
			tr.Expire(last + int64(tc.keepAfter))
			if tr.Stats().Series != 1 {
				t.Fatalf("dropped after %v idle", tc.keepAfter)
			}
			tr.Expire(last + int64(tc.dropAfter))
			if s := tr.Stats(); s.Series != 0 || s.Expired != 1 {
				t.Fatalf("after %v idle: %+v", tc.dropAfter, s)
			}
			// The slot is reused without surprises.
			if vs, _ := feed(tr, testKey, regular(6, 60)); len(vs) != 1 {
				t.Errorf("re-created series: %+v", vs)
			}
		})
	}
}

func TestFoldOutOfOrder(t *testing.T) {
	tr := NewTracker(Config{})
	offsets := regular(10, 60)
	for i, o := range offsets {
		tr.Add(testKey, base+int64(o*1e9), 300)
		if i == 3 {
			tr.Add(testKey, base+int64((o-5)*1e9), 50) // late, folded
			tr.Add(testKey, base+int64(o*1e9), 50)     // duplicate, folded
		}
	}
	if s := tr.Stats(); s.Folded != 2 || s.Checkins != 12 {
		t.Errorf("stats %+v", s)
	}
}

// TestEstimates checks Period and Jitter on series with known parameters.
func TestEstimates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	cs := func(n int, sleep, jitter, missed float64) []float64 {
		var iv []float64
		for len(iv) < n {
			d := 0.0
			for {
				d += sleep * (1 - jitter*r.Float64())
				if r.Float64() >= missed {
					break
				}
			}
			iv = append(iv, d)
		}
		return cumulative(iv)
	}
	for _, tc := range []struct {
		name           string
		offsets        []float64
		period, jitter float64 // expected, seconds
		tol            float64 // relative tolerance on period
	}{
		{"clockwork 60 s", regular(30, 60), 60, 0, 0.01},
		{"CS 60 s jitter 50%", cs(60, 60, 0.5, 0), 45, 30, 0.1},
		{"CS 60 s jitter 20%", cs(60, 60, 0.2, 0), 54, 12, 0.05},
		{"clockwork 60 s, 30% missed", cs(60, 60, 0, 0.3), 60, 0, 0.01},
		{"CS 300 s jitter 10%, 20% missed", cs(60, 300, 0.1, 0.2), 285, 30, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, _ := feed(NewTracker(Config{}), testKey, tc.offsets)
			if len(vs) == 0 {
				t.Fatal("no verdict")
			}
			v := vs[len(vs)-1]
			p, j := v.Period.Seconds(), v.Jitter.Seconds()
			if math.Abs(p-tc.period) > tc.tol*tc.period {
				t.Errorf("period %.2f s, want %.0f s +-%.0f%%", p, tc.period, tc.tol*100)
			}
			if math.Abs(j-tc.jitter) > 0.3*tc.jitter+1 {
				t.Errorf("jitter %.2f s, want about %.0f s", j, tc.jitter)
			}
		})
	}
}

func TestRITATimestampScore(t *testing.T) {
	secs := func(s ...float64) []int64 {
		out := make([]int64, len(s))
		for i, v := range s {
			out[i] = base + int64(v*1e9)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ts   []int64
		want float64
	}{
		{"too few timestamps", secs(0, 60, 120), 0},
		{"perfect", secs(0, 60, 120, 180, 240), 1},
		// Intervals 10,10,20,10,10: Q1=Q2=10 so skew is 0; MAD 0.
		{"one missed beat", secs(0, 10, 20, 40, 50, 60), 1},
		// Intervals 10,20,30,40,100: Q1=15 Q2=30 Q3=70, skew 25/55,
		// MAD 10: ((1-25/55) + (1-10/30))/2 = 0.606.
		{"skewed", secs(0, 10, 30, 60, 100, 200), 0.606},
		// Zero intervals are dropped: 10,10,10,10 remain.
		{"duplicates dropped", secs(0, 0, 10, 20, 30, 40), 1},
		{"fewer than 3 non-zero intervals", secs(0, 0, 0, 10, 20), 0},
		{"unsorted input", secs(180, 0, 120, 60, 240), 1},
		// Whole seconds: 0,1,3,4,6 gives intervals 1,2,1,2: median 1.5,
		// Q3-Q1 = 1 < 10 s so skew 0, MAD 0.5 so 1-0.5/1.5: (1 + 2/3)/2.
		{"one-second resolution", secs(0, 1.5, 3, 4.5, 6), 0.833},
	} {
		if got := RITATimestampScore(tc.ts); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBinomialTailIndex(t *testing.T) {
	for _, m := range []int{1, 2, 5, 12, 40} {
		for _, p := range []float64{0.05, 0.27, 0.5} {
			for _, alpha := range []float64{1e-2, 4e-4, 1e-6} {
				// Brute force: P(X >= j) by summing binomial terms.
				tail := func(j int) float64 {
					s := 0.0
					for i := j; i <= m; i++ {
						lc, _ := math.Lgamma(float64(m + 1))
						la, _ := math.Lgamma(float64(i + 1))
						lb, _ := math.Lgamma(float64(m - i + 1))
						s += math.Exp(lc - la - lb + float64(i)*math.Log(p) + float64(m-i)*math.Log1p(-p))
					}
					return s
				}
				want := -1
				for j := m; j >= 0 && tail(j) <= alpha; j-- {
					want = j
				}
				if got := binomialTailIndex(m, p, alpha); got != want {
					t.Errorf("m=%d p=%v alpha=%v: got %d, want %d", m, p, alpha, got, want)
				}
			}
		}
	}
}

// TestGateCalibration measures how often random (Poisson) series pass each
// band of the significance gate at its base level, per evaluation, and
// checks that it stays near gateAlpha: the binomial model with gateInflate
// must not be optimistic.
func TestGateCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	r := rand.New(rand.NewPCG(2024, 11))
	tr := NewTracker(Config{})
	evals := 0
	var pass [len(gateBands)]int
	for i := 0; i < 3000; i++ {
		k := Key{Entity: fmt.Sprint(i)}
		for _, e := range genPoisson(r, time.Minute, 64).events {
			tr.Add(k, e.ts, e.bytes)
			idx, _ := tr.index.get(tr.hash(k))
			s := &tr.slab[idx]
			res := tr.sc.score(s, DefaultMinCheckins, 0)
			if !res.ok {
				continue
			}
			evals++
			n := len(tr.sc.iv)
			for b, tol := range gateBands {
				c := 0
				for _, d := range tr.sc.iv {
					if math.Abs(d-res.period) <= tol*res.period {
						c++
					}
				}
				if c >= tr.sc.gate[0][b][n] {
					pass[b]++
				}
			}
		}
	}
	for b, tol := range gateBands {
		rate := float64(pass[b]) / float64(evals)
		t.Logf("band +-%.0f%%: %d of %d evaluations of random series passed (%.1e; alpha %.1e)",
			tol*100, pass[b], evals, rate, gateAlpha)
		if rate > 2*gateAlpha {
			t.Errorf("band +-%.0f%%: pass rate %.1e > 2*alpha", tol*100, rate)
		}
	}
}

// TestAddDoesNotAllocate: the steady state (existing series, and series
// churning through freed slots) allocates nothing.
func TestAddDoesNotAllocate(t *testing.T) {
	tr := NewTracker(Config{MaxSeries: 64})
	keys := make([]Key, 128)
	for i := range keys {
		keys[i] = Key{Entity: fmt.Sprintf("pod-%d", i), Dest: "203.0.113.1", Port: 443, Transport: 6}
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := base
	step := func() {
		now += int64(r.ExpFloat64() * 1e8)
		tr.Add(keys[r.IntN(len(keys))], now, 100+uint64(r.IntN(100)))
	}
	for i := 0; i < 20000; i++ { // warm up: slab and map at full size
		step()
	}
	if a := testing.AllocsPerRun(5000, step); a != 0 {
		t.Errorf("Add allocates %.2f times per call in steady state", a)
	}
}

func BenchmarkAdd(b *testing.B) {
	for _, bc := range []struct {
		name   string
		jitter float64 // 1 = random arrivals, scored on every check-in
	}{
		{"beacons", 0.3},
		{"random", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const series = 1024
			tr := NewTracker(Config{})
			keys := make([]Key, series)
			next := make([]int64, series)
			for i := range keys {
				keys[i] = Key{Entity: fmt.Sprintf("pod-%d", i), Dest: "203.0.113.1", Port: 443, Transport: 6}
				next[i] = base
			}
			r := rand.New(rand.NewPCG(5, 5))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := i % series
				gap := 60e9 * (1 - bc.jitter*r.Float64())
				if bc.jitter == 1 {
					gap = 60e9 * r.ExpFloat64()
				}
				next[s] += int64(gap)
				tr.Add(keys[s], next[s], 200)
			}
		})
	}
}

func TestAddTrackedAndCollisions(t *testing.T) {
	tr := NewTracker(Config{})
	k := Key{ID: 42, Port: 443, Transport: 6}
	if _, _, tracked := tr.AddTracked(k, base, 1); tracked || tr.Tracked(k) {
		t.Fatal("AddTracked created a series")
	}
	tr.Add(k, base, 1)
	if _, _, tracked := tr.AddTracked(k, base+int64(60e9), 1); !tracked {
		t.Fatal("AddTracked did not find the series Add created")
	}
	if s := tr.Stats(); s.Checkins != 2 || s.Series != 1 {
		t.Errorf("stats %+v, want 2 check-ins in 1 series", s)
	}
	// Same 64-bit index key, another series: never merged into k's.
	other := Key{ID: 42, Port: 80, Transport: 6}
	if _, _, tracked := tr.AddTracked(other, base+int64(120e9), 1); tracked {
		t.Error("a colliding key was taken for the tracked series")
	}
	tr.Add(other, base+int64(120e9), 1)
	if !tr.Tracked(other) || tr.Tracked(k) {
		t.Error("the newcomer should replace the colliding series")
	}
	if s := tr.Stats(); s.Evicted != 1 || s.Series != 1 {
		t.Errorf("stats %+v, want the replaced series counted as evicted", s)
	}
}
