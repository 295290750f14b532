package config

import (
	"net/netip"
	"strings"
	"testing"

	"outflow/detect"
)

type recordSink struct{ got []*detect.Alert }

func (r *recordSink) Raise(a *detect.Alert) { r.got = append(r.got, a) }

var rules = map[string]*detect.Rule{}

func rule(name string) *detect.Rule {
	if r := rules[name]; r != nil {
		return r
	}
	r := &detect.Rule{Name: name}
	rules[name] = r
	return r
}

// alert builds an alert: rule, container (name, image, labels "k=v,k=v"
// or nil when name and image are empty), src, dst, port, domain.
func alert(ruleName, name, image, labels, src, dst string, port uint16, domain string) *detect.Alert {
	a := &detect.Alert{Rule: rule(ruleName), DstPort: port, Domain: domain}
	if name != "" || image != "" || labels != "" {
		c := &detect.Container{ID: "c0ffee", Name: name, Image: image, Labels: map[string]string{}}
		for _, kv := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				c.Labels[k] = v
			}
		}
		a.Container = c
		a.Entity = detect.Entity{ContainerID: c.ID}
	}
	if src != "" {
		a.Src = netip.MustParseAddr(src)
	}
	if dst != "" {
		a.Dst = netip.MustParseAddr(dst)
	}
	return a
}

const suppressConfig = `
suppress:
  # 0: the nightly backup to the internal backup server, only there.
  - rule: file-transfer
    container_name: "backup-*"
    container_label: {"com.example.role": "backup"}
    destination_cidr: [10.20.0.0/16]
    destination_port: [873]
    comment: nightly backup job
  # 1: CI runners fetching from internal mirrors (by image, by name).
  - container_image: ["registry.example/ci-runner:*", "registry.example/ci/*"]
    destination_domain_suffix: [.corp.example]
    comment: CI mirrors
  # 2: load balancer health checks look like beacons.
  - rule: [beacon, "egress-*"]
    source_cidr: [10.1.2.0/24, "fd00:1::/64"]
    destination_cidr: [10.0.5.10/32]
    comment: health checks
  # 3: any rule, one exact destination port on a public resolver.
  - destination_cidr: [192.0.2.53]
    destination_port: 53
`

func TestSuppressMatching(t *testing.T) {
	c := mustParse(t, suppressConfig)
	s, err := c.Suppressor()
	if err != nil {
		t.Fatal(err)
	}
	backupLabels := "com.example.role=backup,team=ops"
	tests := []struct {
		name string
		a    *detect.Alert
		want int // rule index, -1 none
	}{
		{"backup to backup server", alert("file-transfer", "backup-db", "registry.example/backup:2", backupLabels, "10.0.0.5", "10.20.1.9", 873, ""), 0},
		{"same upload to an outside address", alert("file-transfer", "backup-db", "registry.example/backup:2", backupLabels, "10.0.0.5", "203.0.113.9", 873, ""), -1},
		{"backup server, other port", alert("file-transfer", "backup-db", "registry.example/backup:2", backupLabels, "10.0.0.5", "10.20.1.9", 22, ""), -1},
		{"backup server, other rule", alert("egress-volume", "backup-db", "registry.example/backup:2", backupLabels, "10.0.0.5", "10.20.1.9", 873, ""), -1},
		{"other container name", alert("file-transfer", "web-1", "registry.example/backup:2", backupLabels, "10.0.0.5", "10.20.1.9", 873, ""), -1},
		{"label missing", alert("file-transfer", "backup-db", "registry.example/backup:2", "team=ops", "10.0.0.5", "10.20.1.9", 873, ""), -1},
		{"label differs", alert("file-transfer", "backup-db", "registry.example/backup:2", "com.example.role=backupx", "10.0.0.5", "10.20.1.9", 873, ""), -1},
		{"no container", alert("file-transfer", "", "", "", "10.0.0.5", "10.20.1.9", 873, ""), -1},
		{"mapped dst address", alert("file-transfer", "backup-db", "x", backupLabels, "10.0.0.5", "::ffff:10.20.1.9", 873, ""), 0},

		{"ci runner to mirror", alert("egress-volume", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "mirror.corp.example"), 1},
		{"ci runner, suffix itself, upper case, trailing dot", alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "CORP.EXAMPLE."), 1},
		{"ci image path glob", alert("beacon", "job-17", "registry.example/ci/builder:7", "", "10.0.0.7", "198.51.100.1", 443, "a.b.corp.example"), 1},
		{"ci image deeper path", alert("beacon", "job-17", "registry.example/ci/sub/builder:7", "", "10.0.0.7", "198.51.100.1", 443, "a.corp.example"), -1},
		{"look-alike image", alert("beacon", "job-17", "registry.example/ci-runner-evil:1", "", "10.0.0.7", "198.51.100.1", 443, "a.corp.example"), -1},
		{"ci runner to look-alike domain", alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "evilcorp.example"), -1},
		{"ci runner to outside", alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "paste.example.net"), -1},
		{"ci runner, name from Dest", func() *detect.Alert {
			a := alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "")
			a.Dest = "git.corp.example"
			return a
		}(), 1},
		{"ci runner, Dest is an address", func() *detect.Alert {
			a := alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "")
			a.Dest = "198.51.100.1"
			return a
		}(), -1},

		{"health check beacon", alert("beacon", "", "", "", "10.1.2.3", "10.0.5.10", 8080, ""), 2},
		{"health check egress-volume", alert("egress-volume", "", "", "", "10.1.2.200", "10.0.5.10", 8080, ""), 2},
		{"health check v6 source", alert("egress-geo", "", "", "", "fd00:1::9", "10.0.5.10", 8080, ""), 2},
		{"health check, file-transfer", alert("file-transfer", "", "", "", "10.1.2.3", "10.0.5.10", 8080, ""), -1},
		{"health check dst, other source", alert("beacon", "", "", "", "10.1.3.3", "10.0.5.10", 8080, ""), -1},
		{"health check source, other dst", alert("beacon", "", "", "", "10.1.2.3", "10.0.5.11", 8080, ""), -1},

		{"resolver port", alert("beacon", "", "", "", "10.9.9.9", "192.0.2.53", 53, ""), 3},
		{"resolver other port", alert("beacon", "", "", "", "10.9.9.9", "192.0.2.53", 853, ""), -1},
		{"no addresses", alert("beacon", "", "", "", "", "", 53, ""), -1},
	}
	var sink recordSink
	wrapped := s.Wrap(&sink)
	want := make([]uint64, s.Len())
	passed := 0
	for _, tt := range tests {
		if got := s.Match(tt.a); got != tt.want {
			t.Errorf("%s: Match = %d, want %d", tt.name, got, tt.want)
		}
		before := len(sink.got)
		wrapped.Raise(tt.a)
		if tt.want >= 0 {
			want[tt.want]++
			if len(sink.got) != before {
				t.Errorf("%s: suppressed alert reached the sink", tt.name)
			}
		} else {
			passed++
			if len(sink.got) != before+1 || sink.got[before] != tt.a {
				t.Errorf("%s: alert did not reach the sink", tt.name)
			}
		}
	}
	st := s.Stats()
	if len(st) != 4 {
		t.Fatalf("Stats: %d entries", len(st))
	}
	for i, x := range st {
		if x.Index != i || x.Suppressed != want[i] {
			t.Errorf("Stats[%d] = %+v, want index %d count %d", i, x, i, want[i])
		}
	}
	if st[0].Comment != "nightly backup job" || st[3].Comment != "" {
		t.Errorf("comments: %q %q", st[0].Comment, st[3].Comment)
	}
	if len(sink.got) != passed {
		t.Errorf("sink got %d alerts, want %d", len(sink.got), passed)
	}
}

func TestSuppressorWithoutRules(t *testing.T) {
	c := Default()
	s, err := c.Suppressor()
	if err != nil {
		t.Fatal(err)
	}
	var sink recordSink
	if got := s.Wrap(&sink); got != detect.Sink(&sink) {
		t.Fatalf("Wrap with no rules = %T, want the sink itself", got)
	}
	if s.Match(alert("beacon", "", "", "", "10.0.0.1", "10.0.0.2", 1, "")) != -1 || len(s.Stats()) != 0 {
		t.Fatal("empty suppressor matched")
	}
	var nilS *Suppressor
	if nilS.Len() != 0 || nilS.Match(&detect.Alert{}) != -1 || nilS.Stats() != nil || nilS.Wrap(&sink) != detect.Sink(&sink) {
		t.Fatal("nil Suppressor is not empty")
	}
}

// TestSuppressorInCode: a Config built in code is validated by Suppressor.
func TestSuppressorInCode(t *testing.T) {
	c := Default()
	c.Suppress = []SuppressRule{{Rule: []string{"beacon"}, DestinationPort: []uint16{443}}}
	s, err := c.Suppressor()
	if err != nil {
		t.Fatal(err)
	}
	if s.Match(alert("beacon", "", "", "", "10.0.0.1", "8.8.8.8", 443, "")) != 0 {
		t.Fatal("rule did not match")
	}
	for _, bad := range []SuppressRule{
		{Comment: "nothing"},
		{Rule: []string{"bacon"}},
		{ContainerName: []string{"[x"}},
		{DestinationPort: []uint16{0}},
		{DestinationCIDR: []netip.Prefix{{}}},
		{DestinationDomainSuffix: []string{"a b"}},
	} {
		c := Default()
		c.Suppress = []SuppressRule{bad}
		if _, err := c.Suppressor(); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("%+v: error %v", bad, err)
		}
	}
}

func TestHasDomainSuffix(t *testing.T) {
	tests := []struct {
		name, suffix string
		want         bool
	}{
		{"corp.example", "corp.example", true},
		{"a.corp.example", "corp.example", true},
		{"A.Corp.Example.", "corp.example", true},
		{"evilcorp.example", "corp.example", false},
		{"corp.example.net", "corp.example", false},
		{"example", "corp.example", false},
		{"", "corp.example", false},
		{"x", "", false},
	}
	for _, tt := range tests {
		if got := HasDomainSuffix(tt.name, tt.suffix); got != tt.want {
			t.Errorf("HasDomainSuffix(%q, %q) = %v", tt.name, tt.suffix, got)
		}
	}
}

func BenchmarkSuppressRaise(b *testing.B) {
	c, err := Parse("b.yaml", []byte(suppressConfig))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := c.Suppressor()
	var sink recordSink
	w := s.Wrap(&sink)
	// The common case: an alert no rule matches, checked against all.
	a := alert("beacon", "job-17", "registry.example/ci-runner:1.4", "", "10.0.0.7", "198.51.100.1", 443, "paste.example.net")
	b.ReportAllocs()
	for b.Loop() {
		w.Raise(a)
		sink.got = sink.got[:0]
	}
}
