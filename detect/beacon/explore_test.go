package beacon

type rec struct{ rs []result }

func recordTrace(t trace) rec {
	tr := NewTracker(Config{})
	k := Key{}
	var out rec
	for _, e := range t.events {
		tr.Add(k, e.ts, e.bytes)
		s := &tr.slab[tr.index[k]]
		if s.n >= 6 {
			r := tr.sc.score(s, 6)
			if r.ok {
				out.rs = append(out.rs, r)
			}
		}
	}
	return out
}

type cellRec struct {
	name string
	recs []rec
}

func fires(rc rec, f func(result) float64, thr float64) bool {
	for _, r := range rc.rs {
		if r.period < 1 || r.period > 86400 {
			continue
		}
		if f(r) >= thr {
			return true
		}
	}
	return false
}

func shrink(x, n, n0, c0 float64) float64 { return (n*x + n0*c0) / (n + n0) }
