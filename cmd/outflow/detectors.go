package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"outflow/detect"
	"outflow/detect/beacon"
	"outflow/detect/config"
	"outflow/detect/geo"
	"outflow/flows"
	"outflow/flows/ecs"
)

// detectFlags are the detection settings shared by every command.
type detectFlags struct {
	configPath string
	geoipDBs   []string
	noDetect   bool
	internal   []string
	// offline: the same capture must give the same alerts, so detectors
	// that key hashes randomly against crafted collisions use fixed keys.
	offline bool
	// stateDir keeps learned state between runs (sense --state-dir); ""
	// keeps it in memory.
	stateDir string
}

func (df *detectFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&df.configPath, "config", "", "YAML `FILE` with detector thresholds, internal networks and suppression rules (see README)")
	fs.StringSliceVar(&df.geoipDBs, "geoip-db", nil, "MaxMind or DB-IP mmdb `FILE`s (Country, City, ASN) for destination.geo/as and the egress-geo detector")
	fs.BoolVar(&df.noDetect, "no-detect", false, "turn the detectors off (flow records only)")
	fs.StringSliceVar(&df.internal, "internal", nil, "internal networks, comma-separated CIDRs; overrides the config (default RFC 1918, RFC 6598, loopback, link-local, IPv6 ULA)")
}

// detection is the detector side of a pipeline.
type detection struct {
	engine      *detect.Engine // nil when detection is off
	alerts      *detect.Alerts
	suppressor  *config.Suppressor
	flowEnrich  []flows.Enricher
	close       func()
	internal    detect.Networks
	beaconStats func() beacon.Stats
	beacon      *detect.Beacon
	unexpected  *detect.UnexpectedDestination
	churn       *detect.ContainerChurn
}

// buildDetection loads the configuration and builds the detectors that
// write alerts to out.
func buildDetection(df *detectFlags, out *ecs.Writer, attr detect.Attributor, log *slog.Logger) (*detection, error) {
	cfg := config.Default()
	if df.configPath != "" {
		var err error
		if cfg, err = config.Load(df.configPath); err != nil {
			return nil, err
		}
	}
	d := &detection{close: func() {}, internal: cfg.Internal()}
	if len(df.internal) > 0 {
		n, err := detect.ParseNetworks(df.internal)
		if err != nil {
			return nil, fmt.Errorf("%w: --internal: %v", errUsage, err)
		}
		d.internal = n
	}
	var db *geo.DB
	var alertEnrich []detect.AlertEnricher
	if len(df.geoipDBs) > 0 {
		var err error
		if db, err = geo.Open(df.geoipDBs...); err != nil {
			return nil, fmt.Errorf("--geoip-db: %w", err)
		}
		db.SetInternal(d.internal)
		d.close = func() { db.Close() }
		alertEnrich = append(alertEnrich, db)
		d.flowEnrich = append(d.flowEnrich, db)
	}
	d.alerts = detect.NewAlerts(out, cfg.DedupWindow, alertEnrich...)
	if df.noDetect {
		return d, nil
	}
	sup, err := cfg.Suppressor()
	if err != nil {
		return nil, err
	}
	d.suppressor = sup
	dc := &cfg.Detectors
	var dets []detect.Detector
	if dc.FileTransfer.Enabled {
		dets = append(dets, detect.NewFileTransfer(detect.FileTransferConfig{
			MinBytes:      uint64(dc.FileTransfer.MinBytes),
			StandardPorts: dc.FileTransfer.StandardPorts,
		}))
	}
	if dc.EgressVolume.Enabled {
		v := &dc.EgressVolume
		dets = append(dets, detect.NewEgressVolume(detect.EgressVolumeConfig{
			Threshold: uint64(v.ThresholdBytes), Window: v.Window, BaselineFactor: v.BaselineFactor,
			BaselineFloor: uint64(v.BaselineFloor), BaselineWindows: v.BaselineWindows,
		}))
	}
	if dc.Beacon.Enabled {
		b := &dc.Beacon
		resolvers := make([]string, len(b.Resolvers))
		for i, p := range b.Resolvers {
			resolvers[i] = p.String()
		}
		proxies := make([]string, len(b.Proxies))
		for i, p := range b.Proxies {
			proxies[i] = p.String()
		}
		bd := detect.NewBeacon(detect.BeaconConfig{
			Tracker: beacon.Config{
				Threshold: b.Threshold, MinCheckins: b.MinCheckins, Ring: b.Ring, MaxSeries: b.MaxSeries,
				MinPeriod: b.MinPeriod, MaxPeriod: b.MaxPeriod, StrobeInterval: b.StrobeInterval, SeriesIdle: b.SeriesIdle,
			},
			Ignore:     beaconIgnore(b.IgnoreDestinationCIDR, b.IgnoreDomainSuffix),
			Resolvers:  detect.MustNetworks(resolvers),
			EgressOnly: b.EgressOnly,
			Proxies:    detect.MustNetworks(proxies),
			Seed:       offlineSeed(df.offline),
		}, d.internal)
		d.beaconStats = bd.Stats
		d.beacon = bd
		dets = append(dets, bd)
	}
	if dc.EgressGeo.Enabled && db != nil {
		g := &dc.EgressGeo
		dets = append(dets, geo.NewDetector(db, geo.DetectorConfig{
			AllowCountries: g.AllowCountries, DenyCountries: g.DenyCountries,
			AllowASNs: g.AllowASNs, DenyASNs: g.DenyASNs, AlertUnknown: g.AlertUnknown,
		}, d.internal))
	}
	dets = append(dets, d.posture(cfg, df.stateDir, log)...)
	var sink detect.Sink = d.alerts
	if sup.Len() > 0 {
		sink = sup.Wrap(d.alerts)
	}
	d.engine = detect.NewEngine(detect.EngineConfig{Detectors: dets, Sink: sink, Internal: d.internal, Attributor: attr})
	log.Debug("detectors", "count", len(dets), "suppress_rules", sup.Len(), "internal_networks", d.internal.Len())
	return d, nil
}

// offlineSeed is the fixed hash key of offline analysis; 0 (random) live.
func offlineSeed(offline bool) uint64 {
	if offline {
		return 0x6f7574666c6f77 // "outflow"
	}
	return 0
}

// posture builds the container posture detectors. They need the
// sensor's container metadata: with `read` they see no container and stay
// silent.
func (d *detection) posture(cfg *config.Config, stateDir string, log *slog.Logger) []detect.Detector {
	dc := &cfg.Detectors
	var dets []detect.Detector
	if dc.HostNetworkEgress.Enabled {
		dets = append(dets, detect.NewHostNetworkEgress(detect.HostNetworkEgressConfig{MinBytes: uint64(dc.HostNetworkEgress.MinBytes)}))
	}
	if dc.ExposedPortInbound.Enabled {
		e := &dc.ExposedPortInbound
		dets = append(dets, detect.NewExposedPortInbound(detect.ExposedPortInboundConfig{IgnorePorts: e.IgnorePorts, MinSources: e.MinSources}, d.internal))
	}
	if dc.RiskyContainer.Enabled {
		dets = append(dets, detect.NewRiskyContainer(detect.RiskyContainerConfig{MinRisk: dc.RiskyContainer.MinRisk}))
		d.alerts.RaiseRiskyContainers(dc.RiskyContainer.MinRisk)
	}
	if dc.UnexpectedDestination.Enabled {
		u := &dc.UnexpectedDestination
		ucfg := detect.UnexpectedDestinationConfig{LearningPeriod: u.LearningPeriod, MaxDestinations: u.MaxDestinations, Log: log}
		if stateDir != "" {
			ucfg.StatePath = filepath.Join(stateDir, "unexpected-destination.state")
		}
		d.unexpected = detect.NewUnexpectedDestination(ucfg)
		dets = append(dets, d.unexpected)
	}
	if dc.ContainerChurn.Enabled {
		c := &dc.ContainerChurn
		d.churn = detect.NewContainerChurn(detect.ContainerChurnConfig{
			Window: c.Window, MaxLifetime: c.MaxLifetime, MinContainers: c.MinContainers,
			BaselineFactor: c.BaselineFactor, BaselineWindows: c.BaselineWindows, Ignore: cfg.ChurnIgnore(),
		})
		dets = append(dets, d.churn)
	}
	return dets
}

// beaconIgnore compiles the beacon detector's ignore lists.
func beaconIgnore(cidrs []netip.Prefix, suffixes []string) func(netip.Addr, string) bool {
	if len(cidrs) == 0 && len(suffixes) == 0 {
		return nil
	}
	return func(dst netip.Addr, name string) bool {
		dst = dst.Unmap()
		for _, p := range cidrs {
			if p.Contains(dst) {
				return true
			}
		}
		if name == "" {
			return false
		}
		name = strings.ToLower(name)
		for _, s := range suffixes {
			if config.HasDomainSuffix(name, s) {
				return true
			}
		}
		return false
	}
}

// summaryArgs are the detection counters for the run summary.
func (d *detection) summaryArgs() []any {
	args := []any{"alerts", d.alerts.Written, "alerts_deduplicated", d.alerts.Deduped}
	if d.suppressor != nil {
		var n uint64
		for _, s := range d.suppressor.Stats() {
			n += s.Suppressed
		}
		args = append(args, "alerts_suppressed", n)
	}
	if d.unexpected != nil && d.unexpected.Saves+d.unexpected.SaveErrors+d.unexpected.Learned > 0 {
		tracked, learned := d.unexpected.Workloads()
		args = append(args, "baseline_workloads", tracked, "baseline_learned", learned, "baseline_saves", d.unexpected.Saves,
			"baseline_save_errors", d.unexpected.SaveErrors)
	}
	if d.churn != nil && d.churn.ShortLived+d.churn.Ignored > 0 {
		args = append(args, "short_lived_containers", d.churn.ShortLived, "short_lived_ignored", d.churn.Ignored)
	}
	if d.beaconStats != nil {
		s := d.beaconStats()
		args = append(args, "beacon_checkins", d.beacon.Checkins, "beacon_checkins_waiting", d.beacon.Waiting,
			"beacon_scored", s.Checkins, "beacon_series", s.Series, "beacon_series_evicted", s.Evicted)
	}
	return args
}
