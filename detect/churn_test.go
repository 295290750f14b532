package detect

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// churnLab starts containers at 172.18.x.y that call out (or not) and
// exit; times are seconds.
type churnLab struct {
	*lab
	n int
}

func (l *churnLab) job(at, life float64, egress bool, image string, labels map[string]string) {
	l.n++
	addr := fmt.Sprintf("172.18.%d.%d", l.n/200, l.n%200+2)
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	c := &Container{ID: fmt.Sprintf("%064x", l.n), Name: fmt.Sprintf("job-%d", l.n), Image: image, Labels: labels, Started: sec(at)}
	l.add(addr, c)
	dst := "203.0.113.9"
	if !egress {
		dst = "10.0.0.80"
	}
	l.tcp(addr, 40000, dst, 443, at+0.5, true, 300)
	exited := *c
	exited.Exited = sec(at + life)
	l.engine.Tick(sec(at + life))
	l.engine.ContainerEvent(&exited, sec(at+life))
}

func TestContainerChurn(t *testing.T) {
	ci := func(c *Container) bool {
		return c.Labels["com.example.ci"] == "true" || strings.HasPrefix(c.Image, "registry.example/ci/")
	}
	tests := []struct {
		name string
		run  func(l *churnLab)
		want int
		sev  int
	}{
		{"a burst of short-lived containers calling out", func(l *churnLab) {
			for i := range 8 {
				l.job(float64(10+i*5), 3, true, "miner:latest", nil)
			}
		}, 1, 2},
		{"a big burst is more severe, and reported once", func(l *churnLab) {
			for i := range 30 {
				l.job(float64(10+i), 3, true, "miner:latest", nil)
			}
		}, 1, 3},
		{"benign twin: a few are not a burst", func(l *churnLab) {
			for i := range 4 {
				l.job(float64(10+i*5), 3, true, "miner:latest", nil)
			}
		}, 0, 0},
		{"benign twin: CI runners silenced by label", func(l *churnLab) {
			for i := range 12 {
				l.job(float64(10+i*5), 3, true, "node:20", map[string]string{"com.example.ci": "true"})
			}
		}, 0, 0},
		{"benign twin: CI runners silenced by image", func(l *churnLab) {
			for i := range 12 {
				l.job(float64(10+i*5), 3, true, "registry.example/ci/runner:7", nil)
			}
		}, 0, 0},
		{"benign twin: long-lived containers", func(l *churnLab) {
			for i := range 12 {
				l.job(float64(10+i*5), 600, true, "web:1", nil)
			}
		}, 0, 0},
		{"benign twin: short-lived but never calling out", func(l *churnLab) {
			for i := range 12 {
				l.job(float64(10+i*5), 3, false, "batch:1", nil)
			}
		}, 0, 0},
		{"spread over an hour: never 5 in one window", func(l *churnLab) {
			for i := range 12 {
				l.job(float64(10+i*300), 3, true, "cron:1", nil)
			}
		}, 0, 0},
		{"a host that always churns: the baseline absorbs its usual rate", func(l *churnLab) {
			// 6 per 10-minute window for 2 hours (1 alert in the first
			// window: no baseline yet), then the same rate again.
			for w := range 13 {
				for i := range 6 {
					l.job(float64(w*600+i*60+5), 3, true, "ci-like:1", nil)
				}
			}
		}, 1, 2},
		{"... and a burst above three times that rate alerts", func(l *churnLab) {
			for w := range 13 {
				for i := range 6 {
					l.job(float64(w*600+i*60+5), 3, true, "ci-like:1", nil)
				}
			}
			for i := range 20 {
				l.job(float64(13*600+i*10+5), 3, true, "miner:latest", nil)
			}
		}, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewContainerChurn(ContainerChurnConfig{Ignore: ci})
			l := &churnLab{lab: newLab(t, nil, d)}
			tc.run(l)
			l.finish()
			got := 0
			for _, a := range l.alerts {
				if !a.Update { // updates (the count doubled) carry the first alert's ID
					got++
				}
			}
			if got != tc.want {
				t.Fatalf("alerts = %d, want %d (short-lived %d, ignored %d, baseline %.1f)", got, tc.want, d.ShortLived, d.Ignored, d.baseline())
			}
			if tc.want == 0 {
				return
			}
			a := l.alerts[len(l.alerts)-1]
			checkAlert(t, a)
			if a.Severity != tc.sev || a.Entity.String() != "host" || a.Container != nil {
				t.Errorf("alert severity %d entity %s container %v: %s", a.Severity, a.Entity, a.Container, a.Message)
			}
		})
	}
}
