package geo

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ecs"
)

// Rule is the egress-geo rule.
//
// ATT&CK mapping: the alert fires on the first packet of a connection, so
// it knows where the workload is talking to, not what it sends. An
// exfiltration technique (T1041, T1048) would claim volume it has not
// seen; the egress-volume and file-transfer detectors make that claim when
// the bytes are there. What a connection to a denied country or AS shows
// is a workload reaching infrastructure outside where it is supposed to
// operate, which is how implants calling home to attacker infrastructure
// look: Command and Control. Most egress rides web and DNS protocols, so
// the technique is T1071 Application Layer Protocol, the C2 technique for
// communication that blends into allowed protocols (the one Sigma and
// vendor "connection to unusual country" rules use).
var Rule = &detect.Rule{
	Name:        "egress-geo",
	Description: "Egress to a country or autonomous system that the policy denies or does not allow",
	Technique:   detect.Technique{ID: "T1071", Name: "Application Layer Protocol"},
	Tactic:      "Command and Control",
	TacticID:    "TA0011",
}

// Severity and risk by what matched: an explicit deny is a stated "never",
// a place outside the allow lists is a deviation, an unknown place is only
// reported when asked for.
const (
	sevDeny, riskDeny       = 3, 73
	sevAllow, riskAllow     = 2, 47
	sevUnknown, riskUnknown = 1, 21
)

// Which policy list decided an alert (outflow.egress_geo.list).
const (
	ListDenyCountries  = "deny_countries"
	ListDenyASNs       = "deny_asns"
	ListAllowCountries = "allow_countries"
	ListAllowASNs      = "allow_asns"
	ListUnknown        = "unknown" // AlertUnknown: the database has no answer
)

// DetectorConfig is the egress-geo policy (config key detectors.egress_geo).
type DetectorConfig struct {
	// AllowCountries: when non-empty, egress to a known country outside
	// the list alerts (ISO 3166-1 alpha-2, any case).
	AllowCountries []string
	// DenyCountries: egress to these countries alerts.
	DenyCountries []string
	// AllowASNs: when non-empty, egress to a known AS outside the list
	// alerts. A destination any allow list admits is allowed: with
	// allow_countries [DE] and allow_asns [16509], an AWS address in the
	// US is fine, and so is any German address.
	AllowASNs []uint32
	// DenyASNs: egress to these autonomous systems alerts. Deny lists win
	// over allow lists.
	DenyASNs []uint32
	// AlertUnknown: with an allow list set, also alert (low severity) when
	// the databases know neither the country nor the AS the allow lists
	// ask about. Off by default: with only an ASN database loaded, a
	// country allow list would otherwise flag every destination.
	AlertUnknown bool
}

// DetectorStats are the detector's counters.
type DetectorStats struct {
	Checked uint64 // egress flow starts looked up
	Unknown uint64 // of those, destinations the databases know nothing about
	Alerts  uint64 // alerts raised (before dedup)
}

// Detector is the egress-geo detector: on the start of every egress flow
// it looks up the destination and alerts when its country or AS is denied,
// or not allowed by a non-empty allow list. The sink dedups repeated
// alerts per entity and destination.
type Detector struct {
	db           *DB
	internal     detect.Networks
	allowC       []string
	denyC        []string
	allowA       []uint32
	denyA        []uint32
	alertUnknown bool
	stats        DetectorStats
}

// NewDetector builds the detector. internal, when not empty, adds to the
// engine's notion of internal: a destination in either is not egress.
func NewDetector(db *DB, cfg DetectorConfig, internal detect.Networks) *Detector {
	up := func(s []string) []string {
		out := make([]string, 0, len(s))
		for _, c := range s {
			out = append(out, strings.ToUpper(strings.TrimSpace(c)))
		}
		return out
	}
	return &Detector{
		db:           db,
		internal:     internal,
		allowC:       up(cfg.AllowCountries),
		denyC:        up(cfg.DenyCountries),
		allowA:       slices.Clone(cfg.AllowASNs),
		denyA:        slices.Clone(cfg.DenyASNs),
		alertUnknown: cfg.AlertUnknown,
	}
}

// Name implements detect.Detector.
func (d *Detector) Name() string { return Rule.Name }

// Wants implements detect.EventFilter: destinations are judged at a flow's
// start, and only when a list is set.
func (d *Detector) Wants(ev flows.Event, _ bool) bool { return ev == flows.EventStart && d.active() }

// Stats returns the counters.
func (d *Detector) Stats() DetectorStats { return d.stats }

// active reports whether any list is set; without one there is nothing to
// check and the detector costs nothing.
func (d *Detector) active() bool {
	return d.db != nil && len(d.allowC)+len(d.denyC)+len(d.allowA)+len(d.denyA) > 0
}

// Observe implements detect.Detector.
func (d *Detector) Observe(ev flows.Event, f *detect.Flow, sink detect.Sink) {
	if ev != flows.EventStart || !d.active() || f.DstInternal || !f.Dst.IsValid() {
		return
	}
	if d.internal.Len() > 0 && d.internal.Contains(f.Dst) {
		return
	}
	d.stats.Checked++
	info, found := d.db.Lookup(f.Dst)
	if !found {
		d.stats.Unknown++
	}
	list, matched, sev := d.verdict(info)
	if list == "" {
		return
	}
	d.stats.Alerts++
	a := &detect.Alert{Rule: Rule, Severity: sev}
	a.FromFlow(f)
	switch sev {
	case sevDeny:
		a.Risk = riskDeny
	case sevAllow:
		a.Risk = riskAllow
	default:
		a.Risk = riskUnknown
	}
	a.Message = message(f, info, list, matched)
	a.Evidence = func(doc *ecs.Doc) {
		doc.Str("outflow.egress_geo.country", info.CountryISO)
		doc.Str("outflow.egress_geo.country_name", info.CountryName)
		if info.ASN != 0 {
			doc.Uint("outflow.egress_geo.asn", uint64(info.ASN))
		}
		doc.Str("outflow.egress_geo.as_organization", info.ASOrg)
		doc.Str("outflow.egress_geo.list", list)
		doc.Str("outflow.egress_geo.matched", matched)
	}
	sink.Raise(a)
}

// verdict decides: the list that makes info an alert ("" for none), what
// in it matched ("RU", "AS64496", "" for allow lists and unknowns) and the
// severity.
func (d *Detector) verdict(info Info) (list, matched string, sev int) {
	c, asn := info.CountryISO, uint32(info.ASN)
	if c != "" && slices.Contains(d.denyC, c) {
		return ListDenyCountries, c, sevDeny
	}
	if asn != 0 && slices.Contains(d.denyA, asn) {
		return ListDenyASNs, "AS" + strconv.FormatUint(uint64(asn), 10), sevDeny
	}
	if len(d.allowC) == 0 && len(d.allowA) == 0 {
		return "", "", 0
	}
	if c != "" && slices.Contains(d.allowC, c) || asn != 0 && slices.Contains(d.allowA, asn) {
		return "", "", 0
	}
	// Not admitted. Alert only on what the databases answered: a country
	// outside allow_countries, or an AS outside allow_asns.
	switch {
	case len(d.allowC) > 0 && c != "":
		return ListAllowCountries, "", sevAllow
	case len(d.allowA) > 0 && asn != 0:
		return ListAllowASNs, "", sevAllow
	case d.alertUnknown:
		return ListUnknown, "", sevUnknown
	}
	return "", "", 0
}

func message(f *detect.Flow, info Info, list, matched string) string {
	var where []string
	if info.CountryISO != "" {
		w := info.CountryISO
		if info.CountryName != "" {
			w += " " + info.CountryName
		}
		where = append(where, w)
	}
	if info.ASN != 0 {
		w := "AS" + strconv.FormatUint(uint64(info.ASN), 10)
		if info.ASOrg != "" {
			w += " " + info.ASOrg
		}
		where = append(where, w)
	}
	place := strings.Join(where, ", ")
	if place == "" {
		place = "unknown location"
	}
	dst := netip.AddrPortFrom(f.Dst, f.DstPort).String()
	if f.DstPort == 0 {
		dst = f.Dst.String()
	}
	var why string
	switch list {
	case ListDenyCountries, ListDenyASNs:
		why = fmt.Sprintf("%s is in %s", matched, list)
	case ListAllowCountries, ListAllowASNs:
		why = "not in the allow lists"
	default:
		why = "location unknown and allow lists are set"
	}
	return fmt.Sprintf("%s connected to %s (%s): %s", f.Entity, dst, place, why)
}

// Tick implements detect.Detector; the detector keeps no windows.
func (d *Detector) Tick(int64, detect.Sink) {}

// Flush implements detect.Detector; nothing is pending.
func (d *Detector) Flush(int64, detect.Sink) {}
