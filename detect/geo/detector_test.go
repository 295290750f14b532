package geo

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ecs"
)

type recordSink struct{ got []*detect.Alert }

func (r *recordSink) Raise(a *detect.Alert) { r.got = append(r.got, a) }

// evidence renders an alert's evidence fields.
func evidence(t *testing.T, a *detect.Alert) map[string]any {
	t.Helper()
	var d ecs.Doc
	a.Evidence(&d)
	return docJSON(t, &d)
}

func TestDetectorPolicy(t *testing.T) {
	db := openTestDB(t)
	const (
		gb = "81.2.69.160"   // GB, AS20712
		cn = "175.16.199.4"  // CN, AS4837
		jp = "2001:218:1::5" // JP, AS2914 (IPv6)
		ru = "2a02:ff40::9"  // RU, AS64511 (IPv6)
		au = "1.128.0.1"     // AU (Country file), AS1221
		as = "12.81.92.1"    // AS7018 only
		bt = "67.43.156.7"   // registered country BT only
		nx = "8.8.8.8"       // unknown
	)
	tests := []struct {
		name    string
		cfg     DetectorConfig
		dst     string
		list    string // "" no alert
		matched string
		sev     int
	}{
		{"deny country", DetectorConfig{DenyCountries: []string{"cn"}}, cn, ListDenyCountries, "CN", 3},
		{"deny country v6", DetectorConfig{DenyCountries: []string{"RU"}}, ru, ListDenyCountries, "RU", 3},
		{"deny country, other", DetectorConfig{DenyCountries: []string{"CN"}}, gb, "", "", 0},
		{"deny country by registered country", DetectorConfig{DenyCountries: []string{"BT"}}, bt, ListDenyCountries, "BT", 3},
		{"deny asn", DetectorConfig{DenyASNs: []uint32{64511}}, ru, ListDenyASNs, "AS64511", 3},
		{"deny asn, AS-only address", DetectorConfig{DenyASNs: []uint32{7018}}, as, ListDenyASNs, "AS7018", 3},
		{"deny asn, other", DetectorConfig{DenyASNs: []uint32{64511}}, jp, "", "", 0},
		{"allow countries, inside", DetectorConfig{AllowCountries: []string{"GB", "JP"}}, jp, "", "", 0},
		{"allow countries, outside", DetectorConfig{AllowCountries: []string{"GB", "JP"}}, au, ListAllowCountries, "", 2},
		{"allow countries, unknown place", DetectorConfig{AllowCountries: []string{"GB"}}, nx, "", "", 0},
		{"allow countries, AS-only address", DetectorConfig{AllowCountries: []string{"GB"}}, as, "", "", 0},
		{"allow countries, unknown, alert_unknown", DetectorConfig{AllowCountries: []string{"GB"}, AlertUnknown: true}, nx, ListUnknown, "", 1},
		{"allow asns, inside", DetectorConfig{AllowASNs: []uint32{1221}}, au, "", "", 0},
		{"allow asns, outside", DetectorConfig{AllowASNs: []uint32{1221}}, gb, ListAllowASNs, "", 2},
		{"allow asns, no AS data", DetectorConfig{AllowASNs: []uint32{1221}}, bt, "", "", 0},
		{"allow asns, no AS data, alert_unknown", DetectorConfig{AllowASNs: []uint32{1221}, AlertUnknown: true}, bt, ListUnknown, "", 1},
		// A destination any allow list admits is allowed.
		{"allow union: AS admits outside country", DetectorConfig{AllowCountries: []string{"GB"}, AllowASNs: []uint32{2914}}, jp, "", "", 0},
		{"allow union: country admits outside AS", DetectorConfig{AllowCountries: []string{"JP"}, AllowASNs: []uint32{1221}}, jp, "", "", 0},
		{"allow union: neither", DetectorConfig{AllowCountries: []string{"GB"}, AllowASNs: []uint32{1221}}, cn, ListAllowCountries, "", 2},
		{"allow union: country unknown, AS outside", DetectorConfig{AllowCountries: []string{"GB"}, AllowASNs: []uint32{1221}}, as, ListAllowASNs, "", 2},
		// Deny wins over allow.
		{"deny beats allow country", DetectorConfig{AllowCountries: []string{"RU"}, DenyASNs: []uint32{64511}}, ru, ListDenyASNs, "AS64511", 3},
		{"deny beats allow asn", DetectorConfig{AllowASNs: []uint32{4837}, DenyCountries: []string{"CN"}}, cn, ListDenyCountries, "CN", 3},
		// Internal destinations are never checked.
		{"internal", DetectorConfig{AllowCountries: []string{"GB"}, AlertUnknown: true}, "10.1.2.3", "", "", 0},
		{"internal v6", DetectorConfig{AllowCountries: []string{"GB"}, AlertUnknown: true}, "fd00::1", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			det := NewDetector(db, tt.cfg, detect.Networks{})
			var sink recordSink
			eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: &sink})
			src := "10.0.0.5"
			if strings.Contains(tt.dst, ":") {
				src = "fd00::5"
			}
			f := testFlow(src, tt.dst, 40000, 443)
			eng.FlowEvent(flows.EventStart, f)
			if tt.list == "" {
				if len(sink.got) != 0 {
					t.Fatalf("unexpected alert: %s", sink.got[0].Message)
				}
				return
			}
			if len(sink.got) != 1 {
				t.Fatalf("%d alerts, want 1", len(sink.got))
			}
			a := sink.got[0]
			if a.Rule != Rule || a.Severity != tt.sev || a.Dst != netip.MustParseAddr(tt.dst) || a.DstPort != 443 || a.Transport != "tcp" || len(a.CommunityIDs) != 1 {
				t.Errorf("alert %+v", a)
			}
			ev := evidence(t, a)
			if got := field(ev, "outflow.egress_geo.list"); got != tt.list {
				t.Errorf("list = %v, want %s", got, tt.list)
			}
			var wantMatched any
			if tt.matched != "" {
				wantMatched = tt.matched
			}
			if got := field(ev, "outflow.egress_geo.matched"); got != wantMatched {
				t.Errorf("matched = %v, want %v", got, wantMatched)
			}
			info, _ := db.Lookup(a.Dst)
			var wantCountry any
			if info.CountryISO != "" {
				wantCountry = info.CountryISO
			}
			if got := field(ev, "outflow.egress_geo.country"); got != wantCountry {
				t.Errorf("country = %v, want %v", got, wantCountry)
			}
			if info.ASN != 0 && field(ev, "outflow.egress_geo.asn") != float64(info.ASN) {
				t.Errorf("asn = %v, want %d", field(ev, "outflow.egress_geo.asn"), info.ASN)
			}
			if !strings.Contains(a.Message, tt.dst) || !strings.HasPrefix(a.Message, src+" connected to ") {
				t.Errorf("message %q", a.Message)
			}
		})
	}
}

func TestDetectorEvents(t *testing.T) {
	db := openTestDB(t)
	det := NewDetector(db, DetectorConfig{DenyCountries: []string{"CN"}}, detect.Networks{})
	var sink recordSink
	eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: &sink})
	f := testFlow("10.0.0.5", "175.16.199.4", 40000, 443)
	for _, ev := range []flows.Event{flows.EventBurst, flows.EventUpdate, flows.EventEnd} {
		eng.FlowEvent(ev, f)
	}
	if len(sink.got) != 0 || det.Stats().Checked != 0 {
		t.Fatalf("alerted on a non-start event: %d alerts, stats %+v", len(sink.got), det.Stats())
	}
	eng.FlowEvent(flows.EventStart, f)
	eng.Flush()
	if len(sink.got) != 1 || det.Stats() != (DetectorStats{Checked: 1, Alerts: 1}) {
		t.Fatalf("%d alerts, stats %+v", len(sink.got), det.Stats())
	}
}

func TestDetectorInactive(t *testing.T) {
	db := openTestDB(t)
	for _, det := range []*Detector{
		NewDetector(db, DetectorConfig{}, detect.Networks{}),                               // no lists
		NewDetector(nil, DetectorConfig{DenyCountries: []string{"CN"}}, detect.Networks{}), // no database
	} {
		var sink recordSink
		eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: &sink})
		eng.FlowEvent(flows.EventStart, testFlow("10.0.0.5", "175.16.199.4", 40000, 443))
		if len(sink.got) != 0 || det.Stats().Checked != 0 {
			t.Errorf("inactive detector worked: %+v", det.Stats())
		}
	}
	if before := db.Stats(); before.Misses+before.Hits != 0 {
		t.Errorf("inactive detector looked up: %+v", before)
	}
}

// TestDetectorInternalArg: the detector's own internal networks add to the
// engine's.
func TestDetectorInternalArg(t *testing.T) {
	db := openTestDB(t)
	det := NewDetector(db, DetectorConfig{DenyCountries: []string{"CN"}}, detect.MustNetworks([]string{"175.16.199.0/24"}))
	var sink recordSink
	eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: &sink})
	eng.FlowEvent(flows.EventStart, testFlow("10.0.0.5", "175.16.199.4", 40000, 443))
	if len(sink.got) != 0 {
		t.Fatal("alerted on a destination the detector was told is internal")
	}
}

// TestDetectorECS runs the detector through the alert writer with the DB
// as enricher: the whole ECS alert, and dedup of repeated connections.
func TestDetectorECS(t *testing.T) {
	db := openTestDB(t)
	det := NewDetector(db, DetectorConfig{DenyCountries: []string{"RU"}}, detect.Networks{})
	var buf bytes.Buffer
	w := ecs.NewWriter(&buf)
	alerts := detect.NewAlerts(w, 0, db)
	eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: alerts})
	for i := range 5 {
		f := testFlow("fd00::5", "2a02:ff40::9", uint16(40000+i), 443)
		f.First += int64(i) * 1e9
		f.Last = f.First
		eng.FlowEvent(flows.EventStart, f)
	}
	w.Flush()
	if alerts.Written != 1 || alerts.Deduped != 4 {
		t.Fatalf("written %d, deduped %d; want 1 and 4", alerts.Written, alerts.Deduped)
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"rule.name":                          "egress-geo",
		"threat.tactic.id":                   "TA0011",
		"event.severity":                     3.0,
		"destination.ip":                     "2a02:ff40::9",
		"destination.port":                   443.0,
		"destination.geo.country_iso_code":   "RU",
		"destination.as.number":              64511.0,
		"outflow.egress_geo.list":            "deny_countries",
		"outflow.egress_geo.matched":         "RU",
		"outflow.egress_geo.country_name":    "Russia",
		"outflow.egress_geo.as_organization": "Example Hosting",
	} {
		if got := field(m, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if ids, _ := field(m, "threat.technique.id").([]any); len(ids) != 1 || ids[0] != "T1071" {
		t.Errorf("threat.technique.id = %v", field(m, "threat.technique.id"))
	}
}

func BenchmarkDetectorNoAlert(b *testing.B) {
	db := openTestDB(b)
	det := NewDetector(db, DetectorConfig{DenyCountries: []string{"CN"}}, detect.Networks{})
	var sink recordSink
	eng := detect.NewEngine(detect.EngineConfig{Detectors: []detect.Detector{det}, Sink: &sink})
	f := testFlow("10.0.0.5", "81.2.69.160", 40000, 443)
	b.ReportAllocs()
	for b.Loop() {
		eng.FlowEvent(flows.EventStart, f)
	}
}
