package geo

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// The test databases are built here with mmdbwriter; nothing is
// downloaded. Networks are public ranges (the writer refuses reserved
// ones) with made-up but plausible data.

type netRec struct {
	cidr string
	rec  mmdbtype.Map
}

func names(kv ...string) mmdbtype.Map {
	m := mmdbtype.Map{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[mmdbtype.String(kv[i])] = mmdbtype.String(kv[i+1])
	}
	return m
}

func place(iso, country, city, continent string, lat, lon float64) mmdbtype.Map {
	m := mmdbtype.Map{
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String(iso), "names": names("en", country)},
		"continent": mmdbtype.Map{"code": mmdbtype.String(continent)},
	}
	if city != "" {
		m["city"] = mmdbtype.Map{"names": names("en", city)}
	}
	if lat != 0 || lon != 0 {
		m["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon)}
	}
	return m
}

func asRec(n uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n), "autonomous_system_organization": mmdbtype.String(org)}
}

func writeDB(t testing.TB, dir, file, dbType string, ipVersion int, recs []netRec) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IPVersion: ipVersion, RecordSize: 28, Languages: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		_, n, err := net.ParseCIDR(r.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, r.rec); err != nil {
			t.Fatalf("insert %s: %v", r.cidr, err)
		}
	}
	p := filepath.Join(dir, file)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

var cityRecs = []netRec{
	{"81.2.69.0/24", place("GB", "United Kingdom", "London", "EU", 51.5142, -0.0931)},
	{"175.16.199.0/24", place("CN", "China", "Changchun", "AS", 43.88, 125.3228)},
	{"89.160.20.112/28", place("SE", "Sweden", "Linköping", "EU", 58.4167, 15.6167)},
	{"2001:218::/32", place("JP", "Japan", "Tokyo", "AS", 35.6893, 139.6899)},
	{"2a02:ff40::/32", place("RU", "Russia", "", "EU", 55.7386, 37.6068)},
	// Anycast-style: only a registered country, no location.
	{"67.43.156.0/24", mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String("AS")},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("BT"), "names": names("en", "Bhutan")},
	}},
	// Names without English: the alphabetically first language wins.
	{"214.78.120.0/22", mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": names("fr", "États-Unis", "de", "Vereinigte Staaten")},
	}},
}

var countryRecs = []netRec{
	{"81.2.69.0/24", place("FR", "France (country db)", "", "EU", 0, 0)}, // the City file wins
	{"1.128.0.0/11", place("AU", "Australia", "", "OC", 0, 0)},
}

var asnRecs = []netRec{
	{"81.2.69.0/24", asRec(20712, "Andrews & Arnold Ltd")},
	{"1.128.0.0/11", asRec(1221, "Telstra Pty Ltd")},
	{"2001:218::/32", asRec(2914, "NTT America, Inc.")},
	{"12.81.92.0/22", asRec(7018, "AT&T Services, Inc.")},
	{"2a02:ff40::/32", asRec(64511, "Example Hosting")},
	{"175.16.199.0/24", asRec(4837, "CHINA UNICOM China169 Backbone")},
}

// openTestDB opens a City (IPv6 tree), a Country (IPv4-only tree) and an
// ASN database.
func openTestDB(t testing.TB) *DB {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(
		writeDB(t, dir, "city.mmdb", "GeoLite2-City", 6, cityRecs),
		writeDB(t, dir, "country.mmdb", "GeoLite2-Country", 4, countryRecs),
		writeDB(t, dir, "asn.mmdb", "GeoLite2-ASN", 6, asnRecs),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenKinds(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dbType string
		recs   []netRec
		kind   string // "" expects an error
		errHas string
	}{
		{"GeoLite2-City", cityRecs, KindCity, ""},
		{"GeoIP2-City", cityRecs, KindCity, ""},
		{"GeoLite2-Country", countryRecs, KindCity, ""},
		{"DBIP-City-Lite", cityRecs, KindCity, ""},
		{"DBIP-Country-Lite", countryRecs, KindCity, ""},
		{"GeoLite2-ASN", asnRecs, KindASN, ""},
		{"DBIP-ASN-Lite (compat=GeoLite2-ASN)", asnRecs, KindASN, ""},
		{"GeoIP2-ISP", asnRecs, KindASN, ""},
		{"GeoIP2-Enterprise", cityRecs, KindEnterprise, ""},
		{"GeoIP2-Domain", nil, "", "has no country, city or AS data"},
		{"GeoIP2-Anonymous-IP", nil, "", "has no country, city or AS data"},
		{"Example-Custom-DB", nil, "", `unsupported database type "Example-Custom-DB"`},
	}
	for i, tt := range tests {
		t.Run(tt.dbType, func(t *testing.T) {
			p := writeDB(t, dir, strings.Repeat("x", i+1)+".mmdb", tt.dbType, 6, tt.recs)
			db, err := Open(p)
			if tt.kind == "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), p) {
					t.Fatalf("Open = %v, want an error with %q and the path", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			dbs := db.Databases()
			if len(dbs) != 1 || dbs[0].Kind != tt.kind || dbs[0].Type != tt.dbType || dbs[0].Path != p || dbs[0].Build.IsZero() {
				t.Fatalf("Databases = %+v, want kind %s", dbs, tt.kind)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 100), 0o600)
	good := writeDB(t, dir, "asn.mmdb", "GeoLite2-ASN", 6, asnRecs)
	for _, paths := range [][]string{
		nil,
		{filepath.Join(dir, "missing.mmdb")},
		{garbage},
		{good, garbage}, // a bad file fails the whole Open
	} {
		if db, err := Open(paths...); err == nil {
			db.Close()
			t.Errorf("Open(%v) succeeded", paths)
		}
	}
}

func TestLookup(t *testing.T) {
	db := openTestDB(t)
	tests := []struct {
		ip    string
		want  Info
		found bool
	}{
		{"81.2.69.160", Info{CountryISO: "GB", CountryName: "United Kingdom", CityName: "London", ContinentCode: "EU", Lat: 51.5142, Lon: -0.0931, HasLocation: true, ASN: 20712, ASOrg: "Andrews & Arnold Ltd"}, true},
		{"::ffff:81.2.69.160", Info{CountryISO: "GB", CountryName: "United Kingdom", CityName: "London", ContinentCode: "EU", Lat: 51.5142, Lon: -0.0931, HasLocation: true, ASN: 20712, ASOrg: "Andrews & Arnold Ltd"}, true},
		{"89.160.20.115", Info{CountryISO: "SE", CountryName: "Sweden", CityName: "Linköping", ContinentCode: "EU", Lat: 58.4167, Lon: 15.6167, HasLocation: true}, true},
		// Country file fills what the City file does not know.
		{"1.128.0.1", Info{CountryISO: "AU", CountryName: "Australia", ContinentCode: "OC", ASN: 1221, ASOrg: "Telstra Pty Ltd"}, true},
		{"2001:218:1::5", Info{CountryISO: "JP", CountryName: "Japan", CityName: "Tokyo", ContinentCode: "AS", Lat: 35.6893, Lon: 139.6899, HasLocation: true, ASN: 2914, ASOrg: "NTT America, Inc."}, true},
		{"67.43.156.7", Info{CountryISO: "BT", CountryName: "Bhutan", ContinentCode: "AS"}, true},
		{"214.78.120.1", Info{CountryISO: "US", CountryName: "Vereinigte Staaten"}, true},
		{"12.81.92.1", Info{ASN: 7018, ASOrg: "AT&T Services, Inc."}, true},
		{"8.8.8.8", Info{}, false},
		{"2606:4700::1111", Info{}, false},
		{"10.1.2.3", Info{}, false},
	}
	for _, tt := range tests {
		got, found := db.Lookup(netip.MustParseAddr(tt.ip))
		if got != tt.want || found != tt.found {
			t.Errorf("Lookup(%s) = %+v, %v\nwant %+v, %v", tt.ip, got, found, tt.want, tt.found)
		}
	}
	if _, ok := db.Lookup(netip.Addr{}); ok {
		t.Error("zero Addr found")
	}
	// IPv6 lookups skip the IPv4-only Country file instead of failing.
	if st := db.Stats(); st.Errors != 0 {
		t.Errorf("lookup errors: %d", st.Errors)
	}
}

func TestLookupCache(t *testing.T) {
	db := openTestDB(t)
	for _, ip := range []string{"81.2.69.1", "81.2.69.1", "8.8.8.8", "8.8.8.8", "::ffff:8.8.8.8"} {
		db.Lookup(netip.MustParseAddr(ip))
	}
	st := db.Stats()
	if st.Misses != 2 || st.Hits != 3 || st.Entries != 2 {
		t.Fatalf("Stats = %+v, want 2 misses (negatives cached), 3 hits, 2 entries", st)
	}
	// Bounded: far more addresses than the cache holds.
	base := netip.MustParseAddr("81.2.69.0").As4()
	for i := range CacheSize * 3 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		a[1] = byte(i >> 16)
		db.Lookup(netip.AddrFrom4(a))
	}
	if st := db.Stats(); st.Entries > CacheSize {
		t.Fatalf("cache holds %d entries, limit %d", st.Entries, CacheSize)
	}
}

func TestCacheKeepsRecent(t *testing.T) {
	var c cache
	c.init(8) // two generations of 4
	hot := netip.MustParseAddr("192.0.2.1")
	c.put(hot, entry{ok: true})
	for i := range 100 {
		c.put(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), entry{})
		if _, ok := c.get(hot); !ok {
			t.Fatalf("recently used entry evicted after %d inserts", i+1)
		}
		if c.len() > 8 {
			t.Fatalf("cache grew to %d", c.len())
		}
	}
	// An entry not used again is gone after two generations.
	if _, ok := c.get(netip.AddrFrom4([4]byte{198, 51, 100, 0})); ok {
		t.Fatal("stale entry survived")
	}
}

// docJSON renders a document as nested maps.
func docJSON(t *testing.T, d *ecs.Doc) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// field walks a dotted path in nested maps.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, seg := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[seg]
	}
	return cur
}

func daddr(s string) decode.Addr { return decode.Addr(netip.MustParseAddr(s).As16()) }

func testFlow(src, dst string, sport, dport uint16) *flows.Flow {
	return &flows.Flow{
		Key:   flows.Key{A: daddr(src), B: daddr(dst), APort: sport, BPort: dport, Proto: decode.ProtoTCP},
		Proto: decode.ProtoTCP,
		IPv6:  strings.Contains(src, ":"),
		First: 1_700_000_000e9,
		Last:  1_700_000_000e9,
	}
}

func TestEnrichFlow(t *testing.T) {
	db := openTestDB(t)
	tests := []struct {
		src, dst string
		want     map[string]any // dotted path -> value; nil value: absent
	}{
		{"10.0.0.5", "81.2.69.160", map[string]any{
			"destination.geo.country_iso_code": "GB",
			"destination.geo.country_name":     "United Kingdom",
			"destination.geo.city_name":        "London",
			"destination.geo.continent_code":   "EU",
			"destination.geo.location.lat":     51.5142,
			"destination.geo.location.lon":     -0.0931,
			"destination.as.number":            20712.0,
			"destination.as.organization.name": "Andrews & Arnold Ltd",
			"source":                           nil, // internal source: nothing
		}},
		{"fd00::5", "2001:218:1::5", map[string]any{
			"destination.geo.country_iso_code": "JP",
			"destination.geo.city_name":        "Tokyo",
			"destination.as.number":            2914.0,
			"source":                           nil,
		}},
		{"10.0.0.5", "1.128.0.1", map[string]any{
			"destination.geo.country_iso_code": "AU",
			"destination.geo.city_name":        nil,
			"destination.geo.location":         nil, // Country data has no location
			"destination.as.number":            1221.0,
		}},
		{"10.0.0.5", "12.81.92.1", map[string]any{
			"destination.geo":                  nil, // AS only
			"destination.as.organization.name": "AT&T Services, Inc.",
		}},
		{"10.0.0.5", "8.8.8.8", map[string]any{"destination": nil}},     // unknown
		{"10.0.0.5", "192.168.1.1", map[string]any{"destination": nil}}, // internal
		// Inbound: the outside initiator is the source.
		{"175.16.199.4", "10.0.0.5", map[string]any{
			"source.geo.country_iso_code": "CN",
			"source.as.number":            4837.0,
			"destination":                 nil,
		}},
	}
	var d ecs.Doc
	for _, tt := range tests {
		d.Reset()
		db.EnrichFlow(testFlow(tt.src, tt.dst, 40000, 443), &d)
		m := docJSON(t, &d)
		for k, want := range tt.want {
			if got := field(m, k); got != want {
				t.Errorf("%s -> %s: %s = %v, want %v (doc %s)", tt.src, tt.dst, k, got, want, d.AppendJSON(nil))
			}
		}
	}
}

func TestEnrichAlert(t *testing.T) {
	db := openTestDB(t)
	var buf bytes.Buffer
	w := ecs.NewWriter(&buf)
	alerts := detect.NewAlerts(w, 0, db)
	rule := &detect.Rule{Name: "test", Technique: detect.Technique{ID: "T0000", Name: "x"}}
	for _, dst := range []string{"2a02:ff40::9", "10.9.9.9"} {
		alerts.Raise(&detect.Alert{Rule: rule, Time: 1e18, Severity: 2, Src: netip.MustParseAddr("10.0.0.5"), Dst: netip.MustParseAddr(dst)})
	}
	w.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d alerts written", len(lines))
	}
	var a, b map[string]any
	json.Unmarshal([]byte(lines[0]), &a)
	json.Unmarshal([]byte(lines[1]), &b)
	for k, want := range map[string]any{
		"destination.geo.country_iso_code": "RU",
		"destination.geo.country_name":     "Russia",
		"destination.geo.continent_code":   "EU",
		"destination.geo.location.lat":     55.7386,
		"destination.as.number":            64511.0,
		"destination.as.organization.name": "Example Hosting",
		"destination.geo.city_name":        nil,
		"source.geo":                       nil,
	} {
		if got := field(a, k); got != want {
			t.Errorf("%s = %v, want %v\n%s", k, got, want, lines[0])
		}
	}
	if field(b, "destination.geo") != nil || field(b, "destination.as") != nil {
		t.Errorf("internal destination enriched: %s", lines[1])
	}

	// SetInternal: a configured internal network is not enriched.
	db.SetInternal(detect.MustNetworks([]string{"2a02:ff40::/32"}))
	var d ecs.Doc
	db.EnrichAlert(&detect.Alert{Dst: netip.MustParseAddr("2a02:ff40::9")}, &d)
	if d.Len() != 0 {
		t.Errorf("internal (configured) destination enriched: %s", d.AppendJSON(nil))
	}
}

func BenchmarkLookupHit(b *testing.B) {
	db := openTestDB(b)
	ip := netip.MustParseAddr("81.2.69.160")
	db.Lookup(ip)
	b.ReportAllocs()
	for b.Loop() {
		db.Lookup(ip)
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	db := openTestDB(b)
	base := netip.MustParseAddr("81.2.69.0").As4()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		i++
		db.Lookup(netip.AddrFrom4(a)) // distinct addresses: > CacheSize of them miss
	}
}

func BenchmarkEnrichFlow(b *testing.B) {
	db := openTestDB(b)
	f := testFlow("10.0.0.5", "81.2.69.160", 40000, 443)
	var d ecs.Doc
	db.EnrichFlow(f, &d)
	b.ReportAllocs()
	for b.Loop() {
		d.Reset()
		db.EnrichFlow(f, &d)
	}
}

// TestConcurrentLookup: the DB is shared by the flow record writer and the
// alert writer, which may run on different goroutines (run with -race).
func TestConcurrentLookup(t *testing.T) {
	db := openTestDB(t)
	ips := []netip.Addr{netip.MustParseAddr("81.2.69.160"), netip.MustParseAddr("2001:218::1"), netip.MustParseAddr("8.8.8.8")}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				info, ok := db.Lookup(ips[(i+g)%len(ips)])
				if ok != (info.CountryISO != "") {
					t.Errorf("inconsistent answer %+v %v", info, ok)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if st := db.Stats(); st.Hits+st.Misses != 8000 {
		t.Fatalf("stats %+v", st)
	}
}
