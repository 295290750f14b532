package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"outflow/detect"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("config.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", src, err)
	}
	return c
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// sameConfig compares the decoded fields (not the compiled suppressor).
func sameConfig(a, b *Config) bool {
	x, y := *a, *b
	x.suppressor, y.suppressor = nil, nil
	return reflect.DeepEqual(x, y)
}

func TestEmptyIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		c := mustParse(t, src)
		if !sameConfig(c, Default()) {
			t.Errorf("%q: got %+v, want the defaults", src, c)
		}
	}
}

func TestDefaultsAreIndependent(t *testing.T) {
	a := Default()
	a.Detectors.FileTransfer.StandardPorts["ftp"] = []uint16{2121}
	if got := Default().Detectors.FileTransfer.StandardPorts["ftp"]; !slices.Equal(got, []uint16{21}) {
		t.Fatalf("Default shares its map: ftp = %v", got)
	}
	// Decoding a map adds to a copy, never to the defaults of another Config.
	c := mustParse(t, "detectors: {file_transfer: {standard_ports: {ftp: [2121]}}}")
	if got := Default().Detectors.FileTransfer.StandardPorts["ftp"]; !slices.Equal(got, []uint16{21}) {
		t.Fatalf("Parse wrote into the defaults: ftp = %v", got)
	}
	if got := c.Detectors.FileTransfer.StandardPorts; !slices.Equal(got["ftp"], []uint16{2121}) || !slices.Equal(got["smb"], []uint16{445, 139}) {
		t.Fatalf("standard_ports: got %v, want ftp replaced and smb kept", got)
	}
}

// TestKeys sets every key on its own and checks that it lands in its field
// while the rest keeps the defaults.
func TestKeys(t *testing.T) {
	tests := []struct {
		src  string
		get  func(c *Config) any
		want any
	}{
		{"internal_networks: [10.0.0.0/8, 192.0.2.7, fd00::/8]", func(c *Config) any { return c.InternalNetworks }, pfx("10.0.0.0/8", "192.0.2.7/32", "fd00::/8")},
		{"internal_networks: 10.1.2.3/16", func(c *Config) any { return c.InternalNetworks }, pfx("10.1.0.0/16")},
		{"internal_networks: ['::ffff:10.0.0.0/104']", func(c *Config) any { return c.InternalNetworks }, pfx("10.0.0.0/8")},
		{"dedup_window: 90s", func(c *Config) any { return c.DedupWindow }, 90 * time.Second},
		{"dedup_window: 1h30m", func(c *Config) any { return c.DedupWindow }, 90 * time.Minute},

		{"detectors: {file_transfer: {enabled: false}}", func(c *Config) any { return c.Detectors.FileTransfer.Enabled }, false},
		{"detectors: {file_transfer: {min_bytes: 1.5KiB}}", func(c *Config) any { return c.Detectors.FileTransfer.MinBytes }, Size(1536)},
		{"detectors: {file_transfer: {standard_ports: {rsync: [873, 8730], sftp: 22}}}", func(c *Config) any {
			return [3][]uint16{c.Detectors.FileTransfer.StandardPorts["rsync"], c.Detectors.FileTransfer.StandardPorts["sftp"], c.Detectors.FileTransfer.StandardPorts["nfs"]}
		}, [3][]uint16{{873, 8730}, {22}, {2049}}},
		{"detectors: {file_transfer: {standard_ports: {tftp: []}}}", func(c *Config) any { return len(c.Detectors.FileTransfer.StandardPorts["tftp"]) }, 0},

		{"detectors: {egress_volume: {enabled: False}}", func(c *Config) any { return c.Detectors.EgressVolume.Enabled }, false},
		{"detectors: {egress_volume: {threshold_bytes: 2GB}}", func(c *Config) any { return c.Detectors.EgressVolume.ThresholdBytes }, 2 * GB},
		{"detectors: {egress_volume: {threshold_bytes: 5000000}}", func(c *Config) any { return c.Detectors.EgressVolume.ThresholdBytes }, 5 * MB},
		{"detectors: {egress_volume: {window: 5m}}", func(c *Config) any { return c.Detectors.EgressVolume.Window }, 5 * time.Minute},
		{"detectors: {egress_volume: {baseline_factor: 2.5}}", func(c *Config) any { return c.Detectors.EgressVolume.BaselineFactor }, 2.5},
		{"detectors: {egress_volume: {baseline_floor: 1 MiB}}", func(c *Config) any { return c.Detectors.EgressVolume.BaselineFloor }, MiB},
		{"detectors: {egress_volume: {baseline_windows: 12}}", func(c *Config) any { return c.Detectors.EgressVolume.BaselineWindows }, 12},

		{"detectors: {beacon: {enabled: false}}", func(c *Config) any { return c.Detectors.Beacon.Enabled }, false},
		{"detectors: {beacon: {threshold: 0.9}}", func(c *Config) any { return c.Detectors.Beacon.Threshold }, 0.9},
		{"detectors: {beacon: {threshold: 1}}", func(c *Config) any { return c.Detectors.Beacon.Threshold }, 1.0},
		{"detectors: {beacon: {min_checkins: 8}}", func(c *Config) any { return c.Detectors.Beacon.MinCheckins }, 8},
		{"detectors: {beacon: {ring: 128}}", func(c *Config) any { return c.Detectors.Beacon.Ring }, 128},
		{"detectors: {beacon: {max_series: 1_000}}", func(c *Config) any { return c.Detectors.Beacon.MaxSeries }, 1000},
		{"detectors: {beacon: {min_period: 5s}}", func(c *Config) any { return c.Detectors.Beacon.MinPeriod }, 5 * time.Second},
		{"detectors: {beacon: {max_period: 2h}}", func(c *Config) any { return c.Detectors.Beacon.MaxPeriod }, 2 * time.Hour},
		{"detectors: {beacon: {strobe_interval: 500ms}}", func(c *Config) any { return c.Detectors.Beacon.StrobeInterval }, 500 * time.Millisecond},
		{"detectors: {beacon: {series_idle: 30m}}", func(c *Config) any { return c.Detectors.Beacon.SeriesIdle }, 30 * time.Minute},
		{"detectors: {beacon: {resolvers: [10.0.0.53, '2001:db8::53']}}", func(c *Config) any { return c.Detectors.Beacon.Resolvers }, pfx("10.0.0.53/32", "2001:db8::53/128")},
		{"detectors: {beacon: {ignore_destination_cidr: [192.0.2.0/24]}}", func(c *Config) any { return c.Detectors.Beacon.IgnoreDestinationCIDR }, pfx("192.0.2.0/24")},
		{"detectors: {beacon: {ignore_domain_suffix: [.NTP.Example., metrics.example]}}", func(c *Config) any { return c.Detectors.Beacon.IgnoreDomainSuffix }, []string{"ntp.example", "metrics.example"}},

		{"detectors: {egress_geo: {enabled: false}}", func(c *Config) any { return c.Detectors.EgressGeo.Enabled }, false},
		{"detectors: {egress_geo: {allow_countries: [de, Fr]}}", func(c *Config) any { return c.Detectors.EgressGeo.AllowCountries }, []string{"DE", "FR"}},
		{"detectors: {egress_geo: {deny_countries: KP}}", func(c *Config) any { return c.Detectors.EgressGeo.DenyCountries }, []string{"KP"}},
		{"detectors: {egress_geo: {allow_asns: [16509]}}", func(c *Config) any { return c.Detectors.EgressGeo.AllowASNs }, []uint32{16509}},
		{"detectors: {egress_geo: {deny_asns: [64496, 4200000000]}}", func(c *Config) any { return c.Detectors.EgressGeo.DenyASNs }, []uint32{64496, 4200000000}},
		{"detectors: {egress_geo: {alert_unknown: true}}", func(c *Config) any { return c.Detectors.EgressGeo.AlertUnknown }, true},

		{"detectors: {host_network_egress: {enabled: false}}", func(c *Config) any { return c.Detectors.HostNetworkEgress.Enabled }, false},
		{"detectors: {host_network_egress: {min_bytes: 10kB}}", func(c *Config) any { return c.Detectors.HostNetworkEgress.MinBytes }, 10 * KB},
		{"detectors: {exposed_port_inbound: {enabled: false}}", func(c *Config) any { return c.Detectors.ExposedPortInbound.Enabled }, false},
		{"detectors: {exposed_port_inbound: {ignore_ports: [80, 443]}}", func(c *Config) any { return c.Detectors.ExposedPortInbound.IgnorePorts }, []uint16{80, 443}},
		{"detectors: {exposed_port_inbound: {min_sources: 3}}", func(c *Config) any { return c.Detectors.ExposedPortInbound.MinSources }, 3},
		{"detectors: {risky_container: {enabled: false}}", func(c *Config) any { return c.Detectors.RiskyContainer.Enabled }, false},
		{"detectors: {risky_container: {min_risk: 0.75}}", func(c *Config) any { return c.Detectors.RiskyContainer.MinRisk }, 0.75},
		{"detectors: {unexpected_destination: {enabled: false}}", func(c *Config) any { return c.Detectors.UnexpectedDestination.Enabled }, false},
		{"detectors: {unexpected_destination: {learning_period: 24h}}", func(c *Config) any { return c.Detectors.UnexpectedDestination.LearningPeriod }, 24 * time.Hour},
		{"detectors: {unexpected_destination: {max_destinations: 64}}", func(c *Config) any { return c.Detectors.UnexpectedDestination.MaxDestinations }, 64},
		{"detectors: {container_churn: {enabled: false}}", func(c *Config) any { return c.Detectors.ContainerChurn.Enabled }, false},
		{"detectors: {container_churn: {window: 1m}}", func(c *Config) any { return c.Detectors.ContainerChurn.Window }, time.Minute},
		{"detectors: {container_churn: {max_lifetime: 90s}}", func(c *Config) any { return c.Detectors.ContainerChurn.MaxLifetime }, 90 * time.Second},
		{"detectors: {container_churn: {min_containers: 8}}", func(c *Config) any { return c.Detectors.ContainerChurn.MinContainers }, 8},
		{"detectors: {container_churn: {baseline_factor: 2}}", func(c *Config) any { return c.Detectors.ContainerChurn.BaselineFactor }, 2.0},
		{"detectors: {container_churn: {baseline_windows: 6}}", func(c *Config) any { return c.Detectors.ContainerChurn.BaselineWindows }, 6},
		{"detectors: {container_churn: {ignore_image: 'ci/*'}}", func(c *Config) any { return c.Detectors.ContainerChurn.IgnoreImage }, []string{"ci/*"}},
		{"detectors: {container_churn: {ignore_label: {com.example.ci: 'tr*'}}}", func(c *Config) any { return c.Detectors.ContainerChurn.IgnoreLabel }, map[string]string{"com.example.ci": "tr*"}},

		// A key with no value keeps the default.
		{"dedup_window:", func(c *Config) any { return c.DedupWindow }, time.Hour},
		{"detectors:\n  beacon:\n", func(c *Config) any { return c.Detectors.Beacon }, Default().Detectors.Beacon},
		// Anchors and aliases work.
		{"detectors:\n  egress_volume: {window: &w 7m}\n  container_churn: {window: *w}", func(c *Config) any { return c.Detectors.ContainerChurn.Window }, 7 * time.Minute},

		{"suppress: [{rule: beacon, comment: c}]", func(c *Config) any { return c.Suppress[0].Rule }, []string{"beacon"}},
		{"suppress: [{rule: [beacon, 'egress-*']}]", func(c *Config) any { return c.Suppress[0].Rule }, []string{"beacon", "egress-*"}},
		{"suppress: [{container_name: 'backup-*'}]", func(c *Config) any { return c.Suppress[0].ContainerName }, []string{"backup-*"}},
		{"suppress: [{container_image: ['a/b:*', c]}]", func(c *Config) any { return c.Suppress[0].ContainerImage }, []string{"a/b:*", "c"}},
		{"suppress: [{container_label: {com.example.role: backup, tier: 'db*'}}]", func(c *Config) any { return c.Suppress[0].ContainerLabel }, map[string]string{"com.example.role": "backup", "tier": "db*"}},
		{"suppress: [{destination_cidr: [10.20.0.0/16]}]", func(c *Config) any { return c.Suppress[0].DestinationCIDR }, pfx("10.20.0.0/16")},
		{"suppress: [{destination_domain_suffix: .corp.example}]", func(c *Config) any { return c.Suppress[0].DestinationDomainSuffix }, []string{".corp.example"}},
		{"suppress: [{destination_port: [873, 22]}]", func(c *Config) any { return c.Suppress[0].DestinationPort }, []uint16{873, 22}},
		{"suppress: [{source_cidr: 10.1.0.0/16}]", func(c *Config) any { return c.Suppress[0].SourceCIDR }, pfx("10.1.0.0/16")},
		{"suppress: [{rule: beacon, comment: 'nightly job'}]", func(c *Config) any { return c.Suppress[0].Comment }, "nightly job"},
		{"suppress: [{rule: beacon, comment: 42}]", func(c *Config) any { return c.Suppress[0].Comment }, "42"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			c := mustParse(t, tt.src)
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestChurnIgnore(t *testing.T) {
	if Default().ChurnIgnore() != nil {
		t.Fatal("no ignore lists: want a nil test")
	}
	c := mustParse(t, "detectors:\n  container_churn:\n    ignore_image: ['registry.example/ci/*']\n    ignore_label: {com.example.ci: 'true'}\n")
	ign := c.ChurnIgnore()
	tests := []struct {
		ctr  detect.Container
		want bool
	}{
		{detect.Container{Image: "registry.example/ci/runner:3"}, true},
		{detect.Container{Image: "registry.example/ci/x/y:3"}, false}, // "*" does not cross "/"
		{detect.Container{Image: "registry.example/app:1", Labels: map[string]string{"com.example.ci": "true"}}, true},
		{detect.Container{Image: "registry.example/app:1", Labels: map[string]string{"com.example.ci": "false"}}, false},
		{detect.Container{Image: "busybox"}, false},
	}
	for _, tt := range tests {
		if got := ign(&tt.ctr); got != tt.want {
			t.Errorf("%+v: ignored = %v, want %v", tt.ctr, got, tt.want)
		}
	}
}

func TestInternal(t *testing.T) {
	def := Default().Internal()
	if !def.Contains(netip.MustParseAddr("10.1.2.3")) || def.Contains(netip.MustParseAddr("8.8.8.8")) {
		t.Fatal("default internal networks wrong")
	}
	c := mustParse(t, "internal_networks: [198.51.100.0/24]")
	n := c.Internal()
	if !n.Contains(netip.MustParseAddr("198.51.100.9")) || n.Contains(netip.MustParseAddr("10.1.2.3")) {
		t.Fatal("configured internal networks must replace the defaults")
	}
}

// errorsOf lists the *Error values inside err.
func errorsOf(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if ce, ok := e.(*Error); ok {
			out = append(out, ce)
			return
		}
		if m, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range m.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		msg  string // substring of the message
	}{
		{"unknown top key", "dedup_window: 1h\ninternal_network: [10.0.0.0/8]", 2, `unknown key "internal_network" at top level (did you mean "internal_networks"?)`},
		{"unknown nested key", "detectors:\n  beacon:\n    enabled: true\n    treshold: 0.5", 4, `unknown key "treshold" in detectors.beacon (did you mean "threshold"?)`},
		{"unknown detector", "detectors:\n  beacons: {}", 2, `unknown key "beacons" in detectors (did you mean "beacon"?)`},
		{"dashed detector", "detectors:\n  file-transfer: {}", 2, `(did you mean "file_transfer"?)`},
		{"unknown suppress key", "suppress:\n  - rule: beacon\n    destination: 10.0.0.1", 3, `unknown key "destination" in suppress[0]`},
		{"duplicate key", "dedup_window: 1h\ndedup_window: 2h", 2, `duplicate key "dedup_window" at top level (first on line 1)`},
		{"duplicate map key", "detectors:\n  file_transfer:\n    standard_ports:\n      ftp: [21]\n      ftp: [2121]", 5, `duplicate key "ftp"`},
		{"merge key", "base: &b {enabled: true}\n", 1, `unknown key "base"`},
		{"merge key <<", "detectors:\n  beacon:\n    <<: {enabled: true}", 3, "merge keys (<<) are not supported"},
		{"top level list", "- a", 1, "expected a mapping of keys at top level, got a list"},
		{"scalar for section", "detectors: yes", 1, `expected a mapping of keys in detectors, got "yes"`},
		{"list for scalar", "dedup_window: [1h]", 1, "expected a duration in dedup_window, got a list"},
		{"mapping for list", "internal_networks: {a: b}", 1, "expected a list in internal_networks, got a mapping"},
		{"empty internal", "internal_networks: []", 1, "internal_networks is empty"},
		{"null internal", "internal_networks:", 1, "internal_networks is empty"},
		{"bad cidr", "internal_networks:\n  - 10.0.0.0/8\n  - 10.0.0.0/33", 3, `invalid network "10.0.0.0/33" in internal_networks[1]`},
		{"bad address", "detectors: {beacon: {resolvers: [dns.example]}}", 1, `invalid network "dns.example" in detectors.beacon.resolvers[0]`},
		{"short mapped prefix", "internal_networks: ['::ffff:0:0/90']", 1, "IPv4-mapped prefix shorter than /96"},
		{"null list element", "internal_networks: [10.0.0.0/8, ~]", 1, "empty list element in internal_networks[1]"},
		{"duration no unit", "dedup_window: 3600", 1, `duration "3600" in dedup_window needs a unit`},
		{"duration bad", "dedup_window: 1d", 1, `invalid duration "1d" in dedup_window`},
		{"duration negative", "dedup_window: -1h", 1, "must not be negative"},
		{"duration zero", "detectors: {egress_volume: {window: 0s}}", 1, "0s in detectors.egress_volume.window must be greater than 0"},
		{"bool", "detectors: {beacon: {enabled: yes}}", 1, `invalid boolean "yes" in detectors.beacon.enabled (use true or false)`},
		{"int text", "detectors: {beacon: {ring: many}}", 1, `invalid number "many" in detectors.beacon.ring`},
		{"int fraction", "detectors: {beacon: {ring: 1.5}}", 1, `expected a whole number in detectors.beacon.ring, got "1.5"`},
		{"int negative", "detectors: {beacon: {max_series: -5}}", 1, "-5 in detectors.beacon.max_series must not be negative"},
		{"int zero", "detectors: {beacon: {ring: 0}}", 1, "must be greater than 0"},
		{"int min", "detectors: {beacon: {min_checkins: 2}}", 1, "2 in detectors.beacon.min_checkins must be at least 3"},
		{"int overflow", "detectors: {beacon: {ring: 99999999999999999999}}", 1, "99999999999999999999 in detectors.beacon.ring is out of range"},
		{"asn overflow", "detectors: {egress_geo: {deny_asns: [4294967296]}}", 1, "4294967296 in detectors.egress_geo.deny_asns[0] is out of range"},
		{"asn zero", "detectors: {egress_geo: {allow_asns: [0]}}", 1, "must be greater than 0"},
		{"float negative", "detectors: {beacon: {threshold: -0.1}}", 1, "-0.1 in detectors.beacon.threshold must not be negative"},
		{"float above one", "detectors: {beacon: {threshold: 1.2}}", 1, "1.2 in detectors.beacon.threshold must be between 0 and 1"},
		{"float nan", "detectors: {beacon: {threshold: .nan}}", 1, `invalid number ".nan"`},
		{"float text", "detectors: {egress_volume: {baseline_factor: lots}}", 1, `invalid number "lots"`},
		{"factor below one", "detectors: {egress_volume: {baseline_factor: 0.5}}", 1, "must be at least 1"},
		{"size ambiguous", "detectors:\n  egress_volume:\n    threshold_bytes: 100M", 3, `invalid size "100M" in detectors.egress_volume.threshold_bytes: unit "M" is ambiguous`},
		{"size bits", "detectors: {egress_volume: {threshold_bytes: 100Mb}}", 1, `unit "Mb" is bits`},
		{"size negative", "detectors: {egress_volume: {baseline_floor: -1MB}}", 1, "must not be negative"},
		{"size unit", "detectors: {file_transfer: {min_bytes: 3 parsecs}}", 1, `unknown unit "parsecs"`},
		{"size text", "detectors: {file_transfer: {min_bytes: big}}", 1, `invalid size "big"`},
		{"size zero threshold", "detectors: {egress_volume: {threshold_bytes: 0}}", 1, "must be greater than 0"},
		{"size overflow", "detectors: {egress_volume: {threshold_bytes: 20000PiB}}", 1, "too large"},
		{"port zero", "detectors: {exposed_port_inbound: {ignore_ports: [0]}}", 1, "is not a port (1-65535)"},
		{"port big", "suppress: [{destination_port: [70000]}]", 1, "70000 in suppress[0].destination_port[0] is not a port"},
		{"standard port big", "detectors: {file_transfer: {standard_ports: {ftp: [65536]}}}", 1, "65536 in detectors.file_transfer.standard_ports.ftp[0] is not a port"},
		{"churn bad image glob", "detectors:\n  container_churn:\n    ignore_image: ['ci-[x']", 3, `bad glob "ci-[x" in detectors.container_churn.ignore_image[0]`},
		{"churn bad label glob", "detectors:\n  container_churn:\n    ignore_label:\n      ci: '[x'", 4, `bad glob "[x" in detectors.container_churn.ignore_label.ci`},
		{"churn factor below one", "detectors: {container_churn: {baseline_factor: 0.5}}", 1, "must be at least 1"},
		{"churn removed key", "detectors: {container_churn: {max_start: 5}}", 1, `unknown key "max_start" in detectors.container_churn`},
		{"standard port proto", "detectors:\n  file_transfer:\n    standard_ports:\n      FTP: [21]", 4, `protocol name "FTP"`},
		{"standard ports null", "detectors: {file_transfer: {standard_ports: {ftp: }}}", 1, `missing value for "ftp"`},
		{"min above max period", "detectors:\n  beacon:\n    min_period: 2h\n    max_period: 1h", 3, "min_period 2h0m0s is above max_period 1h0m0s"},
		{"bad domain suffix", "detectors:\n  beacon:\n    ignore_domain_suffix:\n      - ok.example\n      - bad..example", 5, `invalid domain suffix "bad..example" in detectors.beacon.ignore_domain_suffix[1]`},
		{"bad country", "detectors:\n  egress_geo:\n    deny_countries: [RU, Russia]", 3, `country "Russia" in detectors.egress_geo.deny_countries[1] is not an ISO 3166-1 alpha-2 code`},
		{"country in both", "detectors:\n  egress_geo:\n    allow_countries: [DE]\n    deny_countries: [de]", 4, "country DE is in both"},
		{"asn in both", "detectors:\n  egress_geo:\n    allow_asns: [1]\n    deny_asns: [2, 1]", 4, "AS1 is in both"},
		{"suppress unknown rule", "suppress:\n  - rule: file_transfer", 2, `unknown rule "file_transfer" in suppress[0].rule[0] (did you mean "file-transfer"?)`},
		{"suppress unknown rule typo", "suppress:\n  - comment: x\n    rule: [beacon, becon]", 3, `unknown rule "becon" in suppress[0].rule[1] (did you mean "beacon"?)`},
		{"suppress bad rule glob", "suppress:\n  - rule: 'egress-[a'", 2, `bad glob "egress-[a" in suppress[0].rule[0]`},
		{"suppress empty rule", "suppress:\n  - rule: ''", 2, "empty pattern in suppress[0].rule[0]"},
		{"suppress bad name glob", "suppress:\n  - rule: beacon\n  - container_name: ['ok-*', '[x']", 3, `bad glob "[x" in suppress[1].container_name[1]`},
		{"suppress bad image glob", "suppress:\n\n  - container_image: 'a\\'", 3, `bad glob "a\\" in suppress[0].container_image[0]`},
		{"suppress bad label glob", "suppress:\n  - container_label:\n      role: '[backup'", 3, `bad glob "[backup" in suppress[0].container_label.role`},
		{"suppress empty label key", "suppress:\n  - container_label:\n      '': x", 3, `empty label key`},
		{"suppress label list", "suppress:\n  - container_label:\n      role: [a, b]", 3, `expected a string in suppress[0].container_label.role, got a list`},
		{"suppress bad cidr", "suppress:\n  - rule: beacon\n    destination_cidr: [10.20.0.0/16, 300.1.1.1]", 3, `invalid network "300.1.1.1" in suppress[0].destination_cidr[1]`},
		{"suppress bad source", "suppress:\n  - source_cidr: [x]", 2, `invalid network "x" in suppress[0].source_cidr[0]`},
		{"suppress bad suffix", "suppress:\n  - destination_domain_suffix: ['corp example']", 2, `invalid domain suffix "corp example" in suppress[0].destination_domain_suffix[0]`},
		{"suppress no condition", "suppress:\n  - rule: beacon\n  - comment: everything", 3, "suppress[1] has no conditions"},
		{"suppress not list", "suppress: {rule: beacon}", 1, "expected a list in suppress, got a mapping"},
		{"yaml syntax", "detectors:\n  beacon: [\n", 2, "YAML syntax"},
		{"yaml tab", "detectors:\n\tbeacon: {}", 2, "YAML syntax"},
		{"two documents", "dedup_window: 1h\n---\ndedup_window: 2h\n", 2, "a second YAML document"},
		{"key not scalar", "? [a]\n: b", 1, "keys must be plain words at top level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("config.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error for:\n%s\n(config %+v)", tt.src, c)
			}
			if c != nil {
				t.Errorf("a Config came back with the error")
			}
			es := errorsOf(err)
			if len(es) == 0 {
				t.Fatalf("error %v has no *Error inside", err)
			}
			var found bool
			for _, e := range es {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) && e.File == "config.yaml" {
					found = true
				}
			}
			if !found {
				t.Errorf("want config.yaml:%d: ...%s...; got\n%v", tt.line, tt.msg, err)
			}
			prefix := "config.yaml:"
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error text %q does not start with %q", err.Error(), prefix)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse("config.yaml", []byte("detectors:\n  beacon:\n    enabled: true\n    treshold: 0.5\n"))
	want := `config.yaml:4: unknown key "treshold" in detectors.beacon (did you mean "threshold"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestManyErrors: every problem is reported at once, in line order, and
// the list is bounded.
func TestManyErrors(t *testing.T) {
	src := "suppress:\n  - rule: nope\ndetectors:\n  beacon: {ring: -1, treshold: 1}\ndedup_window: 5\n"
	_, err := Parse("c.yaml", []byte(src))
	es := errorsOf(err)
	var lines []int
	for _, e := range es {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int{2, 4, 4, 5}) {
		t.Fatalf("lines %v, want [2 4 4 5]; error:\n%v", lines, err)
	}

	var b strings.Builder
	b.WriteString("detectors:\n  beacon:\n")
	for i := range 50 {
		b.WriteString("    bad" + strings.Repeat("x", i) + ": 1\n")
	}
	_, err = Parse("c.yaml", []byte(b.String()))
	es = errorsOf(err)
	if len(es) != maxErrors+1 || !strings.Contains(es[len(es)-1].Msg, "more than") {
		t.Fatalf("got %d errors, want %d and a final note; last: %v", len(es), maxErrors+1, es[len(es)-1])
	}
}

// TestNodeLimit: the walk is bounded, aliases included. (The schema has
// no recursive types, so alias nesting cannot expand exponentially; the
// bound is what keeps a huge flat document from being walked at all.)
func TestNodeLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("detectors: {beacon: {resolvers: &r [10.0.0.1")
	for range 999 {
		b.WriteString(", 10.0.0.1")
	}
	b.WriteString("]}}\nsuppress:\n")
	for range 101 {
		b.WriteString("  - destination_cidr: *r\n")
	}
	_, err := Parse("big.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("got %v, want document too large", err)
	}
}

func TestSize(t *testing.T) {
	good := []struct {
		in   string
		want Size
	}{
		{"0", 0}, {"1024", 1024}, {"1_000", 1000}, {"512B", 512}, {"512 bytes", 512},
		{"1kB", 1000}, {"1KB", 1000}, {"100MB", 100_000_000}, {"2GB", 2_000_000_000}, {"1TB", 1e12}, {"1PB", 1e15},
		{"1KiB", 1024}, {"1KIB", 1024},
		{"1.5GiB", 1536 << 20}, {"1.5 GiB", 1536 << 20}, {"0.5MiB", 512 << 10}, {".5KiB", 512}, {"2.MiB", 2 << 20},
		{"1TiB", 1 << 40}, {"1PiB", 1 << 50},
		{"1.0", 1}, {"1.25KB", 1250},
	}
	for _, g := range good {
		got, err := ParseSize(g.in)
		if err != nil || got != g.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", g.in, got, err, g.want)
		}
		// String parses back to the same value.
		back, err := ParseSize(got.String())
		if err != nil || back != got {
			t.Errorf("ParseSize(%q.String() = %q) = %d, %v", g.in, got.String(), back, err)
		}
	}
	bad := []string{"", "MB", "-1", "-1MB", "1M", "1k", "1G", "1Mb", "1kib", "1.5", "1.2.3MB", "1e6", "1 MBs", "16EiB", "99999999999999999999", "18446744073709551615KB", "abc"}
	for _, in := range bad {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	if s := (100 * MB).String(); s != "100MB" {
		t.Errorf("String = %q", s)
	}
	if s := (3 * GiB).String(); s != "3GiB" {
		t.Errorf("String = %q", s)
	}
}

// exampleKeys collects, for the Example document, the key paths decoded.
func TestExampleSetsEveryKey(t *testing.T) {
	c := mustParse(t, Example)
	d := newDecoder("example")
	d.document([]byte(Example), Default())
	if len(d.errs) > 0 {
		t.Fatal(d.err())
	}
	// Normalise decoded paths: drop list indexes and map keys under
	// free-form maps, so "suppress[0].rule[0]" counts as "suppress.rule".
	seen := map[string]bool{}
	for p := range d.lines {
		seen[normPath(p)] = true
	}
	for _, k := range keyPaths(reflect.TypeFor[Config](), "") {
		if !seen[k] {
			t.Errorf("Example does not set %s", k)
		}
	}
	if len(c.Suppress) < 3 {
		t.Errorf("Example has %d suppress rules", len(c.Suppress))
	}
	if _, err := c.Suppressor(); err != nil {
		t.Fatal(err)
	}
	// The Example's values are the defaults where it says so.
	def := Default()
	if c.Detectors.Beacon.Threshold != def.Detectors.Beacon.Threshold || c.Detectors.EgressVolume.ThresholdBytes != def.Detectors.EgressVolume.ThresholdBytes ||
		c.DedupWindow != def.DedupWindow || !reflect.DeepEqual(c.Detectors.FileTransfer, def.Detectors.FileTransfer) {
		t.Errorf("Example and Default disagree")
	}
}

func normPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '[' {
			for i < len(p) && p[i] != ']' {
				i++
			}
			continue
		}
		b.WriteByte(p[i])
	}
	s := b.String()
	// Free-form map keys: keep the map's own path.
	for _, m := range []string{"detectors.file_transfer.standard_ports", "suppress.container_label", "detectors.container_churn.ignore_label"} {
		if strings.HasPrefix(s, m+".") {
			return m
		}
	}
	return s
}

// keyPaths lists every key the decoder accepts, as dotted paths.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || !f.IsExported() {
			continue
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		out = append(out, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != prefixType {
			out = append(out, keyPaths(ft, p)...)
		}
	}
	return out
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "outflow.yaml")
	if err := os.WriteFile(good, []byte("dedup_window: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil || c.DedupWindow != 5*time.Minute {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("\n\ndedup_window: soon\n"), 0o600)
	_, err = Load(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3: ") {
		t.Fatalf("Load(bad) error %v, want it to start with %s:3:", err, bad)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte(strings.Repeat("#", maxFileSize+1)), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(big) = %v", err)
	}
}

// TestREADMEExamples: every ```yaml block in the project README is a
// configuration that parses.
func TestREADMEExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(data))
	if len(blocks) < 5 {
		t.Fatalf("README.md has %d ```yaml blocks; it documents one per false-positive case", len(blocks))
	}
	for _, b := range blocks {
		if _, err := Parse("README.md", []byte(b.text)); err != nil {
			t.Errorf("README.md yaml block at line %d does not parse (lines relative to the block):\n%v", b.line, err)
		}
	}
}

type block struct {
	line int // line of the opening fence
	text string
}

// yamlBlocks finds fenced code blocks whose info string is "yaml" or
// "yml" (```yaml, ~~~yaml, indented fences included).
func yamlBlocks(md string) []block {
	var out []block
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimLeft(lines[i], " ")
		fence := ""
		switch {
		case strings.HasPrefix(l, "```"):
			fence = "```"
		case strings.HasPrefix(l, "~~~"):
			fence = "~~~"
		default:
			continue
		}
		info := strings.TrimSpace(strings.TrimLeft(l, fence[:1]))
		lang, _, _ := strings.Cut(info, " ")
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			if strings.HasPrefix(strings.TrimLeft(lines[j], " "), fence) {
				break
			}
			body = append(body, lines[j])
		}
		if lang == "yaml" || lang == "yml" {
			out = append(out, block{line: i + 1, text: strings.Join(body, "\n")})
		}
		i = j
	}
	return out
}

func TestYAMLBlocks(t *testing.T) {
	md := "# t\n```yaml\ndedup_window: 1h\n```\ntext\n```sh\nls\n```\n  ~~~yml title\n  a: b\n  ~~~\n```go\n```\n"
	got := yamlBlocks(md)
	if len(got) != 2 || got[0].line != 2 || got[0].text != "dedup_window: 1h" || got[1].text != "  a: b" {
		t.Fatalf("got %+v", got)
	}
}
