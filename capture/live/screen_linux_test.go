//go:build linux

package live

import "testing"

// TestScreen checks which frames read first are dropped: those stamped
// between the socket's making (less the margin) and its readiness. A
// later stamp, or an earlier one (the clock was stepped back), is kept
// and ends the screening.
func TestScreen(t *testing.T) {
	const opened, ready = 1000, 2000
	for _, c := range []struct {
		name string
		ts   int64
		drop bool
	}{
		{"before the socket was made: clock stepped back", opened - 1, false},
		{"as the socket was made", opened, true},
		{"while it was set up", 1500, true},
		{"just before it was ready", ready - 1, true},
		{"once it was ready", ready, false},
		{"later", ready + 1e9, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Source{opened: opened, ready: ready, screening: true}
			if got := s.screen(c.ts); got != c.drop {
				t.Errorf("screen(%d) = %v, want %v", c.ts, got, c.drop)
			}
			if s.screening != c.drop {
				t.Errorf("still screening: %v, want %v (screening goes on only past dropped frames)", s.screening, c.drop)
			}
		})
	}
}
