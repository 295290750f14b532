package detect

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outflow/detect/statefile"
)

func TestWorkloadKey(t *testing.T) {
	tests := []struct {
		c    Container
		want string
	}{
		{Container{Image: "registry.example/api:1.4.2"}, "image:registry.example/api"},
		{Container{Image: "registry.example:5000/api"}, "image:registry.example:5000/api"},
		{Container{Image: "registry.example:5000/api:2@sha256:0123abcd"}, "image:registry.example:5000/api"},
		{Container{Image: "busybox"}, "image:busybox"},
		{Container{Name: "x"}, "container:x"},
		{Container{Image: "nginx:1", PodNamespace: "shop", PodName: "cart-7d9f8b6c5d-x2kzq", Labels: map[string]string{"io.kubernetes.container.name": "cart"}}, "k8s:shop/cart/cart"},
		{Container{PodNamespace: "shop", PodName: "db-2"}, "k8s:shop/db"},
		{Container{PodNamespace: "kube-system", PodName: "node-exporter-4mq8w"}, "k8s:kube-system/node-exporter"},
		{Container{PodNamespace: "ci", PodName: "build-job-abcde"}, "k8s:ci/build-job-abcde"}, // vowels: not generated
		{Container{PodNamespace: "default", PodName: "standalone"}, "k8s:default/standalone"},
	}
	for _, tc := range tests {
		if got := WorkloadKey(&tc.c); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

// learnThenRun: a workload with a container at 172.17.0.2 calls its usual
// destinations every 30 s for the learning period (1 min), then run plays
// what happens next.
func newUD(t *testing.T, cfg UnexpectedDestinationConfig, names nameInspector) (*lab, *UnexpectedDestination) {
	if cfg.LearningPeriod == 0 {
		cfg.LearningPeriod = time.Minute
	}
	d := NewUnexpectedDestination(cfg)
	l := newLab(t, names, d)
	return l, d
}

func TestUnexpectedDestination(t *testing.T) {
	api := &Container{ID: strings.Repeat("1", 64), Name: "api-1", Image: "registry.example/api:1"}
	api2 := &Container{ID: strings.Repeat("2", 64), Name: "api-2", Image: "registry.example/api:2"} // a new version: same workload
	other := &Container{ID: strings.Repeat("3", 64), Name: "worker", Image: "registry.example/worker:1"}
	names := nameInspector{
		netip.MustParseAddr("198.51.100.10"): "api.partner.example",
		netip.MustParseAddr("192.0.2.77"):    "api.partner.example", // the same name moved to another network (CDN)
		netip.MustParseAddr("198.51.100.11"): "evil.example",        // a new name on a learned network
	}
	learn := func(l *lab) {
		for i := range 5 { // 0..120 s: 2 min of activity
			at := float64(i * 30)
			l.tcp("172.17.0.2", uint16(40000+i), "198.51.100.10", 443, at, true, 200)
			l.udp("172.17.0.2", uint16(41000+i), "203.0.113.53", 53, at+1)
		}
	}
	tests := []struct {
		name string
		run  func(l *lab)
		want int
		sev  int
	}{
		{"new destination after learning", func(l *lab) {
			learn(l)
			l.tcp("172.17.0.2", 42000, "203.0.113.200", 4444, 130, true, 200)
		}, 1, 3},
		{"new network on a known port", func(l *lab) {
			learn(l)
			l.udp("172.17.0.2", 42000, "192.0.2.53", 53, 130)
		}, 1, 2},
		{"a new name on a learned network alerts", func(l *lab) {
			learn(l)
			l.tcp("172.17.0.2", 42000, "198.51.100.11", 443, 130, true, 200)
		}, 1, 2},
		{"benign twin: learned destinations after learning", func(l *lab) {
			learn(l)
			l.tcp("172.17.0.2", 42000, "198.51.100.10", 443, 130, true, 200)
			l.udp("172.17.0.2", 42001, "203.0.113.53", 53, 131)
		}, 0, 0},
		{"benign twin: a learned name at a new address (CDN)", func(l *lab) {
			learn(l)
			l.tcp("172.17.0.2", 42000, "192.0.2.77", 443, 130, true, 200)
		}, 0, 0},
		{"benign twin: a neighbour in the learned /24", func(l *lab) {
			learn(l)
			l.udp("172.17.0.2", 42000, "203.0.113.54", 53, 130)
		}, 0, 0},
		{"benign twin: a new version of the image shares the baseline", func(l *lab) {
			learn(l)
			l.add("172.17.0.3", api2)
			l.tcp("172.17.0.3", 42000, "198.51.100.10", 443, 130, true, 200)
		}, 0, 0},
		{"another image has a baseline of its own (still learning)", func(l *lab) {
			learn(l)
			l.add("172.17.0.4", other)
			l.tcp("172.17.0.4", 42000, "203.0.113.200", 4444, 130, true, 200)
		}, 0, 0},
		{"benign twin: still learning (idle time does not count)", func(l *lab) {
			l.tcp("172.17.0.2", 40000, "198.51.100.10", 443, 0, true, 200)
			// An hour of silence counts 10 min at most... with a 1 min
			// period that is enough: so use 20 s of activity instead.
			l.tcp("172.17.0.2", 40001, "198.51.100.10", 443, 20, true, 200)
			l.tcp("172.17.0.2", 40002, "203.0.113.200", 4444, 21, true, 200)
		}, 0, 0},
		{"internal destinations are not judged", func(l *lab) {
			learn(l)
			l.tcp("172.17.0.2", 42000, "10.1.2.3", 5432, 130, true, 200)
		}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newUD(t, UnexpectedDestinationConfig{}, names)
			l.add("172.17.0.2", api)
			tc.run(l)
			l.finish()
			if got := l.count(UnexpectedDestinationRule.Name); got != tc.want {
				t.Fatalf("alerts = %d, want %d: %v", got, tc.want, l.alerts)
			}
			for _, a := range l.alerts {
				checkAlert(t, a)
				if a.Severity != tc.sev {
					t.Errorf("severity %d, want %d: %s", a.Severity, tc.sev, a.Message)
				}
			}
		})
	}
}

// TestUnexpectedDestinationIdle: a gap between flows counts 10 minutes at
// most toward learning.
func TestUnexpectedDestinationIdle(t *testing.T) {
	l, d := newUD(t, UnexpectedDestinationConfig{LearningPeriod: time.Hour}, nil)
	ctr := &Container{ID: strings.Repeat("4", 64), Image: "idle"}
	l.add("172.17.0.2", ctr)
	for i := range 5 { // five flows a day apart: 4 gaps, 40 min of activity
		l.udp("172.17.0.2", uint16(40000+i), "203.0.113.53", 53, float64(i*86400))
	}
	l.udp("172.17.0.2", 41000, "192.0.2.1", 53, 4*86400+1)
	l.finish()
	if n := l.count(UnexpectedDestinationRule.Name); n != 0 {
		t.Fatalf("%d alerts while still learning", n)
	}
	if _, learned := d.Workloads(); learned != 0 {
		t.Fatal("learned after 40 min of activity; the period is 1 h")
	}
}

func TestUnexpectedDestinationSaturated(t *testing.T) {
	l, d := newUD(t, UnexpectedDestinationConfig{MaxDestinations: 4}, nil)
	ctr := &Container{ID: strings.Repeat("5", 64), Image: "crawler"}
	l.add("172.17.0.2", ctr)
	for i := range 10 { // ten networks while learning
		l.udp("172.17.0.2", uint16(40000+i), netip.AddrFrom4([4]byte{203, 0, byte(i), 1}).String(), 53, float64(i*10))
	}
	l.udp("172.17.0.2", 41000, "192.0.2.1", 53, 200)
	l.finish()
	if n := l.count(UnexpectedDestinationRule.Name); n != 0 {
		t.Fatalf("a saturated workload alerted %d times", n)
	}
	if !d.workloads["image:crawler"].saturated {
		t.Fatal("not marked saturated")
	}
}

// TestBaselinePersistence: the baseline survives a restart; damaged and
// foreign state files are rejected with a message, moved aside and
// relearned, never fatal.
func TestBaselinePersistence(t *testing.T) {
	ctr := &Container{ID: strings.Repeat("6", 64), Name: "api", Image: "registry.example/api:1"}
	dir := t.TempDir()
	path := filepath.Join(dir, "unexpected-destination.state")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := UnexpectedDestinationConfig{LearningPeriod: time.Minute, StatePath: path, Log: log}

	// First run: learn, then stop (Flush saves).
	l, d := newUD(t, cfg, nil)
	l.add("172.17.0.2", ctr)
	for i := range 5 {
		l.udp("172.17.0.2", uint16(40000+i), "203.0.113.53", 53, float64(i*30))
	}
	l.finish()
	if d.Saves == 0 {
		t.Fatal("nothing saved")
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(saved, []byte("outflow-state unexpected-destination 1 ")) {
		t.Fatalf("header: %q", saved[:min(60, len(saved))])
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	restart := func() *lab {
		l, _ := newUD(t, cfg, nil)
		l.add("172.17.0.2", ctr)
		// Right after the restart: a learned destination, then a new one.
		l.udp("172.17.0.2", 42000, "203.0.113.53", 53, 1000)
		l.udp("172.17.0.2", 42001, "192.0.2.9", 53, 1001)
		l.finish()
		return l
	}
	if n := restart().count(UnexpectedDestinationRule.Name); n != 1 {
		t.Fatalf("after a restart: %d alerts, want 1 (the baseline was kept)", n)
	}

	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"corrupt", append(bytes.Clone(saved[:len(saved)-3]), "xyz"...), "checksum"},
		{"cut short", saved[:len(saved)/2], "cut short"},
		{"foreign", []byte(`{"workloads":[]}`), "not a state file of this kind"},
		{"another kind", statefile.Encode("isolation", 1, []byte("{}")), `isolation`},
		{"another version", statefile.Encode(baselineKind, 9, []byte("{}")), "version 9"},
		{"bad body", statefile.Encode(baselineKind, baselineVersion, []byte(`{"workloads":[{"workload":"x","activity_s":1,"destinations":["tcp/99999 a.example"]}]}`)), "bad port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			os.Remove(path + ".rejected")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if n := restart().count(UnexpectedDestinationRule.Name); n != 0 {
				t.Fatalf("%d alerts: a rejected baseline must be relearned", n)
			}
			if !strings.Contains(logs.String(), "saved baseline rejected") || !strings.Contains(logs.String(), tc.msg) {
				t.Errorf("log does not say why (%q):\n%s", tc.msg, logs.String())
			}
			if kept, err := os.ReadFile(path + ".rejected"); err != nil || !bytes.Equal(kept, tc.data) {
				t.Errorf("the rejected file was not kept aside: %v", err)
			}
			// The relearning run saved a fresh, valid file.
			if _, err := statefile.Read(path, baselineKind, baselineVersion); err != nil {
				t.Errorf("after relearning: %v", err)
			}
		})
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	d := NewUnexpectedDestination(UnexpectedDestinationConfig{})
	w := &workload{key: "image:a", activity: int64(90 * time.Second), dests: map[destKey]struct{}{
		{name: "api.example.com", port: 443, proto: 6}:                          {},
		{net: netip.MustParsePrefix("203.0.113.0/24"), port: 53, proto: 17}:     {},
		{net: netip.MustParsePrefix("2001:db8:1:2::/64"), port: 8443, proto: 6}: {},
		{net: netip.MustParsePrefix("198.51.100.0/24"), port: 9, proto: 132}:    {},
	}}
	d.workloads[w.key] = w
	d.workloads["k8s:ns/x/y"] = &workload{key: "k8s:ns/x/y", saturated: true, dests: map[destKey]struct{}{}}
	data := statefile.Encode(baselineKind, baselineVersion, d.encode(1e18))
	got, err := decodeBaseline(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["image:a"].dests) != 4 || got["image:a"].activity != w.activity || !got["k8s:ns/x/y"].saturated {
		t.Fatalf("round trip: %+v", got)
	}
	for k := range w.dests {
		if _, ok := got["image:a"].dests[k]; !ok {
			t.Errorf("lost %v", k)
		}
	}
	// Same baseline, same bytes.
	if !bytes.Equal(d.encode(1e18), d.encode(1e18)) {
		t.Error("encoding is not deterministic")
	}
}

func TestParseDestKeyRejects(t *testing.T) {
	for _, s := range []string{"", "tcp/443", "tcp/443 ", "tcp443 a.example", "tcp/65536 a.example", "xyz/1 a.example",
		"tcp/443 203.0.113.0/25", "tcp/443 203.0.113.7/24", "tcp/443 A.example", "tcp/443 a b", "tcp/0443 a.example", "tcp/443 a/b"} {
		if k, err := parseDestKey(s); err == nil {
			t.Errorf("%q parsed as %+v", s, k)
		}
	}
}

func TestStatefileErrorsAreTyped(t *testing.T) {
	_, err := decodeBaseline([]byte("garbage"))
	if !errors.Is(err, statefile.ErrForeign) {
		t.Fatalf("garbage: %v", err)
	}
}
