//go:build linux

package live

import (
	"testing"
	"time"
)

// TestScreen checks which frames read first are dropped: those stamped
// before the socket was ready, however early (a frame can wait in the
// kernel's backlog under load), until screenLimit has passed (the clock
// was stepped back). A frame kept ends the screening.
func TestScreen(t *testing.T) {
	const ready = 2000
	for _, c := range []struct {
		name  string
		ts    int64
		since time.Duration
		drop  bool
	}{
		{"long before the socket was made: waited in a backlog", ready - 5e9, time.Millisecond, true},
		{"while it was set up", ready - 500, time.Millisecond, true},
		{"just before it was ready", ready - 1, 0, true},
		{"once it was ready", ready, time.Millisecond, false},
		{"later", ready + 1e9, time.Millisecond, false},
		{"early stamp past the limit: clock stepped back", ready - 1e9, screenLimit, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Source{ready: ready, screening: true}
			if got := s.screen(c.ts, c.since); got != c.drop {
				t.Errorf("screen(%d, %v) = %v, want %v", c.ts, c.since, got, c.drop)
			}
			if s.screening != c.drop {
				t.Errorf("still screening: %v, want %v (screening goes on only past dropped frames)", s.screening, c.drop)
			}
		})
	}
}
