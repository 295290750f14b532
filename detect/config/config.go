// Package config loads outflow's YAML configuration file (--config FILE):
// the internal networks, the alert dedup window, per-detector settings and
// suppression rules.
//
// Every key is optional; an absent key keeps its default (Default). The file
// is checked strictly when it is loaded, so a typo cannot silently disable a
// setting: unknown keys, values of the wrong type, bad CIDRs, bad globs,
// negative or out-of-range numbers, bad sizes and durations, and suppression
// rules naming an unknown detector rule are all rejected, each with the file
// and line:
//
//	config.yaml:12: unknown key "treshold" in detectors.beacon (did you mean "threshold"?)
//
// Value syntax:
//
//   - sizes: a plain integer (bytes) or a number with a unit, "100MB",
//     "1.5GiB", "512 KiB". SI units (kB/KB, MB, GB, TB, PB) are powers of
//     1000, IEC units (KiB, MiB, GiB, TiB, PiB) powers of 1024. A bare "M"
//     or "K" is rejected as ambiguous, and "Mb" as bits.
//   - durations: Go syntax, "90s", "10m", "1h30m". A unit is required.
//   - networks: CIDR prefixes ("10.0.0.0/8", "fd00::/8"); a bare address is
//     a host prefix.
//   - globs: path.Match syntax ("*", "?", "[a-z]", "\\" escapes); "*" does
//     not cross "/", so "registry.example/ci/*" matches
//     "registry.example/ci/runner:1" but not "registry.example/ci/x/y:1".
//   - booleans: true or false (not yes/no/on/off).
//   - a list key also accepts a single value: destination_port: 873.
//
// See Example for a file that sets every key, with comments.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"outflow/detect"
)

// maxFileSize bounds what Load reads: configuration files are small, and a
// bound keeps a wrong path (a capture file, /dev/zero) from eating memory.
const maxFileSize = 4 << 20

// Config is the parsed configuration file. Fields hold defaults (Default)
// where the file says nothing.
type Config struct {
	// InternalNetworks, when given, replaces the default internal set
	// (detect.DefaultInternal): destinations outside it are egress. Key
	// internal_networks. An empty list is rejected: it would make every
	// flow egress.
	InternalNetworks []netip.Prefix `yaml:"internal_networks"`
	// DedupWindow: an alert for the same rule, entity and destination is
	// written once per window (later ones only when they escalate). Key
	// dedup_window, default 1h.
	DedupWindow time.Duration `yaml:"dedup_window" check:"positive"`
	// Detectors holds per-detector settings. Key detectors.
	Detectors Detectors `yaml:"detectors"`
	// Suppress lists rules that silence known-good alerts. Key suppress.
	Suppress []SuppressRule `yaml:"suppress"`

	suppressor *Suppressor // compiled at Parse
}

// Detectors holds the settings of each detector, keyed by its snake_case
// name in the file. Every detector has "enabled" (default true).
type Detectors struct {
	FileTransfer          FileTransfer          `yaml:"file_transfer"`
	EgressVolume          EgressVolume          `yaml:"egress_volume"`
	Beacon                Beacon                `yaml:"beacon"`
	EgressGeo             EgressGeo             `yaml:"egress_geo"`
	HostNetworkEgress     HostNetworkEgress     `yaml:"host_network_egress"`
	ExposedPortInbound    ExposedPortInbound    `yaml:"exposed_port_inbound"`
	RiskyContainer        RiskyContainer        `yaml:"risky_container"`
	UnexpectedDestination UnexpectedDestination `yaml:"unexpected_destination"`
	ContainerChurn        ContainerChurn        `yaml:"container_churn"`
}

// FileTransfer configures the file-transfer detector (uploads over FTP,
// TFTP, SMB, NFS, rsync and the like).
type FileTransfer struct {
	Enabled bool `yaml:"enabled"`
	// MinBytes is the smallest transfer reported: file data moved by file
	// operations (directory listings do not count). Default 1 (any file).
	MinBytes Size `yaml:"min_bytes"`
	// StandardPorts maps a protocol (lowercase name) to the ports it is
	// expected on; the same protocol elsewhere is reported as running on a
	// non-standard port. Protocols named in the file replace that
	// protocol's default ports; others keep theirs. Defaults: ftp [21],
	// tftp [69], smb [445, 139], nfs [2049], rsync [873].
	StandardPorts map[string][]uint16 `yaml:"standard_ports" check:"port"`
}

// EgressVolume configures the egress-volume detector: bytes sent out per
// entity and window, against a fixed threshold and the entity's baseline.
type EgressVolume struct {
	Enabled bool `yaml:"enabled"`
	// ThresholdBytes: egress in one window above this alerts regardless of
	// the baseline. Default 100MB.
	ThresholdBytes Size `yaml:"threshold_bytes" check:"positive"`
	// Window is the accounting window. Default 10m.
	Window time.Duration `yaml:"window" check:"positive"`
	// BaselineFactor: a window above factor x the entity's baseline (mean
	// of its previous windows) alerts. Default 5; at least 1.
	BaselineFactor float64 `yaml:"baseline_factor" check:">=1"`
	// BaselineFloor: windows below this never alert on the baseline rule,
	// so an idle entity's first small upload is not "infinitely" above its
	// baseline. Default 20MB.
	BaselineFloor Size `yaml:"baseline_floor"`
	// BaselineWindows is how many previous windows form the baseline.
	// Default 6; at least 1.
	BaselineWindows int `yaml:"baseline_windows" check:"positive"`
}

// Beacon configures the beacon detector; the fields mirror beacon.Config.
type Beacon struct {
	Enabled bool `yaml:"enabled"`
	// Threshold is the score (0..1) at which a series alerts. Default 0.6 (with the significance test against random arrivals, which does the false-positive control; see detect/beacon).
	Threshold float64 `yaml:"threshold" check:"unit"`
	// MinCheckins a series needs before it can alert. Default 6; at least 3.
	MinCheckins int `yaml:"min_checkins" check:">=3"`
	// Ring is how many recent check-ins are kept per series. Default 64.
	Ring int `yaml:"ring" check:"positive"`
	// MaxSeries caps tracked series. Default 100000.
	MaxSeries int `yaml:"max_series" check:"positive"`
	// MinPeriod and MaxPeriod bound the periods that can alert. Defaults
	// 1s and 24h; min_period must not exceed max_period.
	MinPeriod time.Duration `yaml:"min_period" check:"positive"`
	MaxPeriod time.Duration `yaml:"max_period" check:"positive"`
	// StrobeInterval: series faster than this are strobes. Default 1s.
	StrobeInterval time.Duration `yaml:"strobe_interval" check:"positive"`
	// SeriesIdle: idle series are dropped after this. Default 10m.
	SeriesIdle time.Duration `yaml:"series_idle" check:"positive"`
	// Resolvers are DNS resolver addresses or prefixes; check-ins to them
	// are not scored (stub resolvers query on a timer). Default none.
	Resolvers []netip.Prefix `yaml:"resolvers"`
	// IgnoreDestinationCIDR: destinations never scored (NTP, metrics,
	// health-check endpoints). Default none.
	IgnoreDestinationCIDR []netip.Prefix `yaml:"ignore_destination_cidr"`
	// IgnoreDomainSuffix: destination names never scored, same suffix
	// rules as suppress.destination_domain_suffix. Default none.
	IgnoreDomainSuffix []string `yaml:"ignore_domain_suffix"`
	// EgressOnly scores only check-ins that leave the internal networks,
	// as RITA does: inside them periodic traffic is the norm (health
	// checks, service meshes, replication, scrapes), and skipping it
	// halves the detector's work on busy hosts. Default false: a C2
	// server on another container or host of the internal networks
	// (lateral movement, a compromised neighbour) is scored too.
	EgressOnly bool `yaml:"egress_only"`
	// Proxies are internal egress proxies: with egress_only, check-ins
	// to them are still scored, since C2 behind a proxy calls the proxy.
	// Default none.
	Proxies []netip.Prefix `yaml:"proxies"`
}

// EgressGeo configures the egress-geo detector (outflow/detect/geo). It
// needs a GeoIP database; without one it does nothing.
type EgressGeo struct {
	Enabled bool `yaml:"enabled"`
	// AllowCountries: when non-empty, egress to a known country outside the
	// list alerts. ISO 3166-1 alpha-2 codes, any case. Default none.
	AllowCountries []string `yaml:"allow_countries"`
	// DenyCountries: egress to these countries alerts. Default none.
	DenyCountries []string `yaml:"deny_countries"`
	// AllowASNs: when non-empty, egress to a known AS outside the list
	// alerts, unless allow_countries admits the destination (a destination
	// any allow list admits is allowed). Default none.
	AllowASNs []uint32 `yaml:"allow_asns" check:"positive"`
	// DenyASNs: egress to these autonomous systems alerts. Deny lists win
	// over allow lists. Default none.
	DenyASNs []uint32 `yaml:"deny_asns" check:"positive"`
	// AlertUnknown: with an allow list set, also alert when the database
	// does not know the destination's country (or AS). Default false, so a
	// partial database (an ASN database only) does not flag everything.
	AlertUnknown bool `yaml:"alert_unknown"`
}

// HostNetworkEgress configures the host-network-egress detector: egress
// from containers sharing the host's network namespace. Legitimate
// host-network services are silenced with suppress rules on their image,
// name or labels.
type HostNetworkEgress struct {
	Enabled bool `yaml:"enabled"`
	// MinBytes: flows smaller than this are not reported. Default 0 (all).
	MinBytes Size `yaml:"min_bytes"`
}

// ExposedPortInbound configures the exposed-port-inbound detector: inbound
// connections from outside the internal networks to container ports.
type ExposedPortInbound struct {
	Enabled bool `yaml:"enabled"`
	// IgnorePorts are ports meant to be public (80, 443). Default none.
	IgnorePorts []uint16 `yaml:"ignore_ports" check:"port"`
	// MinSources is the number of distinct outside sources before an
	// exposed port alerts. Default 1.
	MinSources int `yaml:"min_sources" check:"positive"`
}

// RiskyContainer configures the risky-container detector: egress from
// privileged or otherwise risky containers (privileged, host root or a
// runtime socket mounted, host PID namespace). Its other alerts carry the
// reasons in outflow.container.risk, one severity level higher; disabling
// the detector turns that off too.
type RiskyContainer struct {
	Enabled bool `yaml:"enabled"`
	// MinRisk is the container risk score (0..1) from which a container
	// is risky: runtime socket 0.9, privileged 0.8, host root 0.8, host
	// PID 0.5, combined as independent ways out. Default 0.5.
	MinRisk float64 `yaml:"min_risk" check:"unit"`
}

// UnexpectedDestination configures the unexpected-destination detector:
// a workload (an image, or a Kubernetes workload) reaching a destination it
// was not seen to use while its baseline was learned. The baseline is kept
// in the sensor's --state-dir and survives restarts.
type UnexpectedDestination struct {
	Enabled bool `yaml:"enabled"`
	// LearningPeriod is how much observed activity of a workload (time
	// between its flows, each gap counting up to 10 minutes) is learned
	// before its new destinations alert. Default 24h.
	LearningPeriod time.Duration `yaml:"learning_period" check:"positive"`
	// MaxDestinations learnt per workload (a name or a /24 or /64, with
	// the port). A workload that uses more while learning is too varied to
	// baseline and never alerts. Default 256.
	MaxDestinations int `yaml:"max_destinations" check:"positive"`
}

// ContainerChurn configures the container-churn detector: more containers
// than the host's own baseline that start, connect out of the internal
// networks and exit within minutes.
type ContainerChurn struct {
	Enabled bool `yaml:"enabled"`
	// Window over which short-lived containers are counted (sliding); also
	// the unit of the baseline. Default 10m.
	Window time.Duration `yaml:"window" check:"positive"`
	// MaxLifetime: a container that exits within this of its start is
	// short-lived. Default 5m.
	MaxLifetime time.Duration `yaml:"max_lifetime" check:"positive"`
	// MinContainers: short-lived containers in one window before anything
	// alerts, whatever the baseline. Default 5.
	MinContainers int `yaml:"min_containers" check:"positive"`
	// BaselineFactor: a window alerts above this many times the host's
	// baseline (the mean of its previous windows). Default 3; at least 1.
	BaselineFactor float64 `yaml:"baseline_factor" check:">=1"`
	// BaselineWindows averaged into the baseline. Default 12.
	BaselineWindows int `yaml:"baseline_windows" check:"positive"`
	// IgnoreImage: globs on the image name; matching containers are not
	// counted (CI runners and their job containers). Default none.
	IgnoreImage []string `yaml:"ignore_image"`
	// IgnoreLabel: label key -> value glob; a container with any of these
	// labels matching is not counted. Default none.
	IgnoreLabel map[string]string `yaml:"ignore_label"`
}

// SuppressRule silences alerts matching all its conditions (a condition
// with a list matches when any element does). A rule needs at least one
// condition; comment alone is not one.
type SuppressRule struct {
	// Rule: globs on rule.name ("file-transfer", "egress-*"). A name
	// without glob characters must be a known rule (RuleNames).
	Rule []string `yaml:"rule"`
	// ContainerName: globs on container.name. Alerts without a container
	// do not match container conditions.
	ContainerName []string `yaml:"container_name"`
	// ContainerImage: globs on container.image.name.
	ContainerImage []string `yaml:"container_image"`
	// ContainerLabel: label key -> value glob; every listed label must be
	// present and match.
	ContainerLabel map[string]string `yaml:"container_label"`
	// DestinationCIDR: the destination address is in one of these.
	DestinationCIDR []netip.Prefix `yaml:"destination_cidr"`
	// DestinationDomainSuffix: destination.domain is one of these names or
	// below one ("corp.example" and ".corp.example" both match
	// "corp.example" and "files.corp.example", not "evilcorp.example").
	// Case-insensitive.
	DestinationDomainSuffix []string `yaml:"destination_domain_suffix"`
	// DestinationPort: destination.port is one of these.
	DestinationPort []uint16 `yaml:"destination_port" check:"port"`
	// SourceCIDR: the source address is in one of these.
	SourceCIDR []netip.Prefix `yaml:"source_cidr"`
	// Comment says why; it names the rule in Stats.
	Comment string `yaml:"comment"`
}

// RuleNames are the rule.name values of outflow's detectors, against which
// suppress.rule names without glob characters are checked. The detector
// packages own the names; keep this list in step.
var RuleNames = []string{
	"file-transfer",
	"egress-volume",
	"beacon",
	"egress-geo",
	"host-network-egress",
	"exposed-port-inbound",
	"risky-container",
	"unexpected-destination",
	"container-churn",
}

// Default returns the configuration used without a file.
func Default() *Config {
	return &Config{
		DedupWindow: time.Hour,
		Detectors: Detectors{
			FileTransfer: FileTransfer{
				Enabled:  true,
				MinBytes: 1,
				StandardPorts: map[string][]uint16{
					"ftp": {21}, "tftp": {69}, "smb": {445, 139}, "nfs": {2049}, "rsync": {873},
				},
			},
			EgressVolume: EgressVolume{
				Enabled:         true,
				ThresholdBytes:  100 * MB,
				Window:          10 * time.Minute,
				BaselineFactor:  5,
				BaselineFloor:   20 * MB,
				BaselineWindows: 6,
			},
			Beacon: Beacon{
				Enabled:        true,
				Threshold:      0.6,
				MinCheckins:    6,
				Ring:           64,
				MaxSeries:      100000,
				MinPeriod:      time.Second,
				MaxPeriod:      24 * time.Hour,
				StrobeInterval: time.Second,
				SeriesIdle:     10 * time.Minute,
			},
			EgressGeo:             EgressGeo{Enabled: true},
			HostNetworkEgress:     HostNetworkEgress{Enabled: true},
			ExposedPortInbound:    ExposedPortInbound{Enabled: true, MinSources: 1},
			RiskyContainer:        RiskyContainer{Enabled: true, MinRisk: 0.5},
			UnexpectedDestination: UnexpectedDestination{Enabled: true, LearningPeriod: 24 * time.Hour, MaxDestinations: 256},
			ContainerChurn: ContainerChurn{Enabled: true, Window: 10 * time.Minute, MaxLifetime: 5 * time.Minute,
				MinContainers: 5, BaselineFactor: 3, BaselineWindows: 12},
		},
	}
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config: %s: larger than %d bytes", path, maxFileSize)
	}
	return Parse(path, data)
}

// Parse parses configuration data; name is the file name used in errors.
// An empty document is the default configuration.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	d := newDecoder(name)
	d.document(data, c)
	d.validate(c)
	s, errs := compileRules(c.Suppress, d.pos)
	d.add(errs...)
	c.suppressor = s
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Internal returns the internal networks: the configured ones, or
// detect.DefaultInternal.
func (c *Config) Internal() detect.Networks {
	if len(c.InternalNetworks) == 0 {
		return detect.MustNetworks(detect.DefaultInternal)
	}
	s := make([]string, len(c.InternalNetworks))
	for i, p := range c.InternalNetworks {
		s[i] = p.String()
	}
	return detect.MustNetworks(s) // canonical prefixes always parse
}

// ChurnIgnore returns the container-churn detector's ignore test (nil when
// the lists are empty). The globs were validated by Parse; a Config built
// in code with a bad glob matches nothing with it.
func (c *Config) ChurnIgnore() func(*detect.Container) bool {
	ch := &c.Detectors.ContainerChurn
	if len(ch.IgnoreImage) == 0 && len(ch.IgnoreLabel) == 0 {
		return nil
	}
	var images []matcher
	for _, g := range ch.IgnoreImage {
		if m, err := compileGlob(g); err == nil {
			images = append(images, m)
		}
	}
	labels := map[string]matcher{}
	for k, g := range ch.IgnoreLabel {
		if m, err := compileGlob(g); err == nil && k != "" {
			labels[k] = m
		}
	}
	return func(ct *detect.Container) bool {
		if anyMatch(images, ct.Image) {
			return true
		}
		for k, m := range labels {
			if v, ok := ct.Labels[k]; ok && m.match(v) {
				return true
			}
		}
		return false
	}
}

// Suppressor returns the compiled suppression rules (an empty Suppressor
// when there are none). Rules parsed from a file were validated by Parse;
// a Config built in code is validated here.
func (c *Config) Suppressor() (*Suppressor, error) {
	if c.suppressor != nil {
		return c.suppressor, nil
	}
	s, errs := compileRules(c.Suppress, func(_, msg string) error { return errors.New("config: " + msg) })
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	c.suppressor = s
	return s, nil
}

// Error is one problem found in a configuration file.
type Error struct {
	File string
	Line int // 1-based; 0 when the position is unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

func lineOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Line
	}
	return 0
}

// joinErrors is errors.Join with one problem per line and no "config:"
// noise; it keeps the individual errors reachable with errors.As.
type multiError []error

func (m multiError) Error() string {
	var b strings.Builder
	for i, e := range m {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (m multiError) Unwrap() []error { return m }

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}
