package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"outflow/capture/synth"
)

// The labelled scenarios of the detection issue: captures made by the
// project's generator, each with the alerts it must raise (rule and
// technique) and the benign ones that must raise none, run through the
// whole `outflow read` pipeline with the default configuration or the
// documented one.

type wantAlert struct {
	rule      string
	technique string // must be among threat.technique.id
	source    string // source.ip of the alert, when it matters
}

type labelled struct {
	name   string
	build  func(s *synth.Scenario)
	config string // YAML; empty: defaults
	want   []wantAlert
}

var (
	ip       = netip.MustParseAddr
	outside  = ip("203.0.113.30")
	resolver = ip("10.0.0.53")
)

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func ep(s *synth.Scenario, c, srv netip.Addr, port uint16) synth.Endpoints {
	return synth.Endpoints{Client: c, Server: srv, ClientPort: s.EphemeralPort(c), ServerPort: port}
}

func labelledScenarios() []labelled {
	return []labelled{
		{
			name: "ftp upload on non-standard port 2121",
			build: func(s *synth.Scenario) {
				c := ip("172.17.0.7")
				s.FTP(ep(s, c, outside, 2121), sec(1), synth.FTPSession{User: "drop", Mode: synth.FTPPassive,
					Command: "STOR", File: "dump.tar.gz", Data: synth.Random(300 << 10)}, synth.TCPOptions{})
			},
			want: []wantAlert{{rule: "file-transfer", technique: "T1071.002"}, {rule: "file-transfer", technique: "T1048", source: "172.17.0.7"}},
		},
		{
			name: "smb write to an outside server",
			build: func(s *synth.Scenario) {
				s.SMB2(ep(s, ip("172.17.0.8"), ip("198.51.100.45"), 445), sec(1), synth.SMB2Session{Share: "loot",
					File: `x\payroll.xlsx`, Write: synth.Random(64 << 10)}, synth.TCPOptions{})
			},
			want: []wantAlert{{rule: "file-transfer", technique: "T1071.002", source: "172.17.0.8"}, {rule: "file-transfer", technique: "T1048"}},
		},
		{
			name: "tftp upload (transfer opened by the server)",
			build: func(s *synth.Scenario) {
				s.TFTP(ep(s, ip("172.17.0.9"), ip("198.51.100.69"), 69), sec(1), synth.TFTPTransfer{Write: true,
					File: "shadow.txt", Data: synth.Text(20000)}, synth.UDPOptions{})
			},
			want: []wantAlert{{rule: "file-transfer", technique: "T1071.002", source: "172.17.0.9"}},
		},
		{
			name:  "500 MB upload to an outside address in 5 minutes",
			build: bigUpload(ip("198.51.100.80")),
			want:  []wantAlert{{rule: "egress-volume", technique: "T1048", source: "172.17.0.10"}},
		},
		{
			name:  "same upload to the internal backup server, allowed by the config",
			build: bigUpload(ip("198.18.0.10")),
			config: `
internal_networks: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, fc00::/7, fe80::/10, 198.18.0.0/15]
`,
		},
		{
			name: "CI burst: 200 short-lived clients, one small outside request each",
			build: func(s *synth.Scenario) {
				reg := ip("203.0.113.50")
				for i := 0; i < 200; i++ {
					c := netip.AddrFrom4([4]byte{172, 17, byte(1 + i/250), byte(2 + i%250)})
					at := sec(float64(i)*0.3 + s.Rand().Float64())
					s.DNS(ep(s, c, resolver, 53), at, "registry.example.com", synth.DNSTypeA, 60, []netip.Addr{reg}, synth.UDPOptions{})
					s.TLS(ep(s, c, reg, 443), at+sec(0.01), synth.TLSSession{ServerName: "registry.example.com", TLS13: true,
						Exchanges: []synth.Exchange{{Up: 500 + s.Rand().IntN(400), Down: 4000 + s.Rand().IntN(8000)}}}, synth.TCPOptions{})
				}
			},
		},
		{
			name:  "an hour of mixed benign traffic",
			build: benignHour,
		},
		{
			name:  "health checks every 10 s: periodic, a known false-positive source (no config)",
			build: healthChecks,
			want:  []wantAlert{{rule: "beacon", technique: "T1071"}},
		},
		{
			name:   "health checks silenced by the documented config",
			build:  healthChecks,
			config: "suppress:\n  - rule: beacon\n    source_cidr: [10.1.2.0/24]\n    comment: load balancer health checks\n",
		},
		{
			name:   "health checks with egress_only: internal, not scored",
			build:  healthChecks,
			config: "detectors:\n  beacon:\n    egress_only: true\n",
		},
	}
}

// bigUpload sends 500 MB from one container over TLS in 5 minutes.
func bigUpload(dst netip.Addr) func(s *synth.Scenario) {
	return func(s *synth.Scenario) {
		var ex []synth.Exchange
		for i := 0; i < 300; i++ {
			ex = append(ex, synth.Exchange{Up: 500_000_000 / 300, Down: 200, Think: time.Second - 20*time.Millisecond})
		}
		s.TLS(ep(s, ip("172.17.0.10"), dst, 443), sec(1), synth.TLSSession{ServerName: "storage.example.com", TLS13: true, Exchanges: ex},
			synth.TCPOptions{ClientGap: 3 * time.Microsecond})
	}
}

// benignHour is an hour of a web service's ordinary traffic: lookups at
// random times, browsing-like bursts of HTTPS to a handful of sites,
// an SSH session, and NTP polls.
func benignHour(s *synth.Scenario) {
	r := s.Rand()
	sites := []struct {
		name string
		addr netip.Addr
	}{{"api.example.com", ip("203.0.113.10")}, {"cdn.example.net", ip("198.51.100.20")}, {"docs.example.org", ip("203.0.113.70")}, {"pkg.example.io", ip("198.51.100.90")}}
	clients := []netip.Addr{ip("172.17.0.2"), ip("172.17.0.3"), ip("172.17.0.4")}
	t := 0.0
	for t < 3600 {
		// Sessions of 1-8 requests, heavy-tailed gaps between them.
		t += 5 + r.ExpFloat64()*90
		c := clients[r.IntN(len(clients))]
		site := sites[r.IntN(len(sites))]
		s.DNS(ep(s, c, resolver, 53), sec(t), site.name, synth.DNSTypeA, 300, []netip.Addr{site.addr}, synth.UDPOptions{})
		n := 1 + r.IntN(8)
		at := t + 0.02
		for i := 0; i < n; i++ {
			s.TLS(ep(s, c, site.addr, 443), sec(at), synth.TLSSession{ServerName: site.name, TLS13: true,
				Exchanges: []synth.Exchange{{Up: 300 + r.IntN(2000), Down: 2000 + r.IntN(60000)}}}, synth.TCPOptions{})
			at += 0.2 + r.ExpFloat64()*3
		}
	}
	var keys []synth.Exchange
	for i := 0; i < 200; i++ {
		keys = append(keys, synth.Exchange{Up: 36 + 16*r.IntN(3), Down: 36 + 16*r.IntN(20), Think: time.Duration(200+r.IntN(4000)) * time.Millisecond})
	}
	s.SSH(ep(s, ip("172.17.0.3"), ip("198.51.100.22"), 22), sec(600), synth.SSHSession{Exchanges: keys}, synth.TCPOptions{})
}

// healthChecks: a load balancer polls a container's /healthz every 10 s.
func healthChecks(s *synth.Scenario) {
	lb, svc := ip("10.1.2.3"), ip("172.17.0.20")
	for i := 0; i < 60; i++ {
		s.HTTP(ep(s, lb, svc, 8080), sec(float64(i)*10+s.Rand().Float64()*0.05), []synth.HTTPExchange{{
			Request:  synth.HTTPRequest{Host: "svc:8080", Path: "/healthz", UserAgent: "kube-probe/1.29"},
			Response: synth.HTTPResponse{Body: synth.String("ok")},
		}}, synth.TCPOptions{})
	}
}

func TestLabelledScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 500 MB capture")
	}
	dir := t.TempDir()
	type row struct{ name, want, got string }
	var table []row
	for i, sc := range labelledScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			s := synth.NewScenario(fmt.Sprintf("labelled-%d", i), uint64(100+i), time.Time{})
			sc.build(s)
			pcap := filepath.Join(dir, fmt.Sprintf("s%d.pcap", i))
			if _, err := synth.WriteFile(pcap, s, synth.WriterOptions{}); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(pcap)
			args := []string{"read"}
			if sc.config != "" {
				cfg := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
				if err := os.WriteFile(cfg, []byte(sc.config), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cfg)
			}
			r := runOutflow(t, nil, append(args, pcap)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got []string
			gotSet := map[string]bool{}
			for _, a := range r.records {
				rule := a["rule"].(map[string]any)["name"].(string)
				techs := a["threat"].(map[string]any)["technique"].(map[string]any)["id"].([]any)
				src, _ := a["source"].(map[string]any)["ip"].(string)
				for _, tq := range techs {
					gotSet[rule+"/"+tq.(string)] = true
					gotSet[rule+"/"+tq.(string)+"@"+src] = true
				}
				got = append(got, fmt.Sprintf("%s %v from %s", rule, techs, src))
			}
			sort.Strings(got)
			var want []string
			for _, w := range sc.want {
				k := w.rule + "/" + w.technique
				if w.source != "" {
					k += "@" + w.source
				}
				want = append(want, k)
				if !gotSet[k] {
					t.Errorf("missing alert %s; got %v", k, got)
				}
			}
			if len(sc.want) == 0 && len(got) > 0 {
				t.Errorf("benign scenario raised %v", got)
			}
			for _, g := range got {
				rule := strings.Fields(g)[0]
				if !slices.ContainsFunc(sc.want, func(w wantAlert) bool { return w.rule == rule }) {
					t.Errorf("unexpected alert %s", g)
				}
			}
			wantS := "none"
			if len(want) > 0 {
				wantS = strings.Join(want, ", ")
			}
			gotS := "none"
			if len(got) > 0 {
				gotS = strings.Join(got, "; ")
			}
			table = append(table, row{sc.name, wantS, gotS})
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-72s | %-55s | %s\n", "scenario", "expected", "got")
	for _, r := range table {
		fmt.Fprintf(&b, "%-72s | %-55s | %s\n", r.name, r.want, r.got)
	}
	t.Log(b.String())
}
