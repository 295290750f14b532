// Package geo adds GeoIP data to outflow's output and detects egress to
// unwanted countries and autonomous systems.
//
// A DB opens MaxMind (GeoIP2/GeoLite2) and DB-IP databases in the MaxMind
// DB format: Country, City and ASN databases, and Enterprise/ISP ones that
// carry both. Each file's kind comes from its metadata database_type, so
// the order of the files does not matter, except that for the same kind the
// first file that knows an address wins (a City database listed before a
// Country database gives the city too). Lookups are cached.
//
// The DB is an alert enricher (detect.AlertEnricher) and a flow record
// enricher (flows.Enricher): it sets ECS destination.geo.* and
// destination.as.* for destinations outside the internal networks (and
// source.* for outside sources, as on inbound flows). The egress-geo
// detector (Detector) alerts on egress to denied or not-allowed places.
package geo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ecs"
)

// Info is what the databases know about an address. Empty strings and
// zeros are unknowns.
type Info struct {
	CountryISO    string // ISO 3166-1 alpha-2; the registered country when the location's is unknown
	CountryName   string // English
	CityName      string // English
	ContinentCode string // AF, AN, AS, EU, NA, OC, SA
	Lat, Lon      float64
	HasLocation   bool // Lat/Lon are set
	ASN           uint
	ASOrg         string
}

// Database kinds, from the metadata database_type.
const (
	KindCity       = "city"       // City or Country data
	KindASN        = "asn"        // autonomous system data (ASN, ISP)
	KindEnterprise = "enterprise" // both
)

// Database describes one opened file.
type Database struct {
	Path  string
	Type  string // metadata database_type, e.g. "GeoLite2-City"
	Kind  string // KindCity, KindASN or KindEnterprise
	Build time.Time
}

type reader struct {
	r    *geoip2.Reader
	kind string
	v4   bool // IPv4-only tree: IPv6 lookups would fail
}

// CacheSize bounds the lookup cache (entries, negative answers included).
// At about 250 bytes an entry the cache stays under 10 MB.
const CacheSize = 32768

// DB looks up addresses in one or more databases. It is safe for
// concurrent use.
type DB struct {
	readers  []reader
	dbs      []Database
	internal detect.Networks

	mu    sync.Mutex
	cache cache

	hits, misses, errs atomic.Uint64
}

// Stats are the lookup counters.
type Stats struct {
	Hits, Misses uint64 // cache hits and misses (misses are database lookups)
	Errors       uint64 // database lookup errors (corrupt file); the address counts as unknown
	Entries      int    // cached addresses
}

// Open opens the database files. Every file must be a Country, City, ASN,
// ISP or Enterprise database; others (Anonymous IP, Domain, Connection
// Type) are rejected because they have none of the fields outflow writes.
func Open(paths ...string) (*DB, error) {
	if len(paths) == 0 {
		return nil, errors.New("geo: no database files")
	}
	db := &DB{internal: detect.MustNetworks(detect.DefaultInternal)}
	db.cache.init(CacheSize)
	for _, p := range paths {
		r, err := geoip2.Open(p)
		if err != nil {
			db.Close()
			var ut geoip2.UnknownDatabaseTypeError
			if errors.As(err, &ut) {
				if r != nil {
					r.Close()
				}
				return nil, fmt.Errorf("geo: %s: unsupported database type %q (want a Country, City or ASN database)", p, ut.DatabaseType)
			}
			return nil, fmt.Errorf("geo: open %s: %w", p, err)
		}
		kind := kindOf(r)
		md := r.Metadata()
		if kind == "" {
			r.Close()
			db.Close()
			return nil, fmt.Errorf("geo: %s: database type %q has no country, city or AS data", p, md.DatabaseType)
		}
		db.readers = append(db.readers, reader{r: r, kind: kind, v4: md.IPVersion == 4})
		db.dbs = append(db.dbs, Database{Path: p, Type: md.DatabaseType, Kind: kind, Build: time.Unix(int64(md.BuildEpoch), 0).UTC()})
	}
	// Enterprise files first: they answer both questions at once.
	sort.SliceStable(db.readers, func(i, j int) bool {
		return db.readers[i].kind == KindEnterprise && db.readers[j].kind != KindEnterprise
	})
	return db, nil
}

// kindOf asks geoip2 which lookups the file supports (it knows the
// database types), by probing with an address every tree holds.
func kindOf(r *geoip2.Reader) string {
	var ime geoip2.InvalidMethodError
	probe := net.IPv4zero.To4()
	if _, err := r.Enterprise(probe); !errors.As(err, &ime) {
		return KindEnterprise
	}
	if _, err := r.City(probe); !errors.As(err, &ime) {
		return KindCity
	}
	if _, err := r.ASN(probe); !errors.As(err, &ime) {
		return KindASN
	}
	return ""
}

// Close releases the database files.
func (db *DB) Close() error {
	var first error
	for _, r := range db.readers {
		if err := r.r.Close(); err != nil && first == nil {
			first = err
		}
	}
	db.readers = nil
	return first
}

// Databases describes the opened files, in the order given to Open.
func (db *DB) Databases() []Database { return db.dbs }

// SetInternal sets the networks the enrichers skip (default
// detect.DefaultInternal). Call it before use.
func (db *DB) SetInternal(n detect.Networks) {
	if n.Len() > 0 {
		db.internal = n
	}
}

// Stats returns the lookup counters.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	n := db.cache.len()
	db.mu.Unlock()
	return Stats{Hits: db.hits.Load(), Misses: db.misses.Load(), Errors: db.errs.Load(), Entries: n}
}

// Lookup returns what the databases know about ip; ok is false when none
// knows anything.
func (db *DB) Lookup(ip netip.Addr) (Info, bool) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return Info{}, false
	}
	db.mu.Lock()
	e, hit := db.cache.get(ip)
	db.mu.Unlock()
	if hit {
		db.hits.Add(1)
		return e.info, e.ok
	}
	db.misses.Add(1)
	info, ok := db.lookup(ip)
	db.mu.Lock()
	db.cache.put(ip, entry{info, ok})
	db.mu.Unlock()
	return info, ok
}

// lookup queries every database, filling what is still unknown.
func (db *DB) lookup(ip netip.Addr) (Info, bool) {
	var info Info
	nip := net.IP(ip.AsSlice())
	for _, r := range db.readers {
		if r.v4 && !ip.Is4() {
			continue
		}
		switch r.kind {
		case KindEnterprise:
			rec, err := r.r.Enterprise(nip)
			if err != nil {
				db.errs.Add(1)
				continue
			}
			fillPlace(&info, rec.Country.IsoCode, rec.Country.Names, rec.RegisteredCountry.IsoCode, rec.RegisteredCountry.Names,
				rec.City.Names, rec.Continent.Code, rec.Location.Latitude, rec.Location.Longitude)
			fillAS(&info, rec.Traits.AutonomousSystemNumber, rec.Traits.AutonomousSystemOrganization)
		case KindCity:
			rec, err := r.r.City(nip)
			if err != nil {
				db.errs.Add(1)
				continue
			}
			fillPlace(&info, rec.Country.IsoCode, rec.Country.Names, rec.RegisteredCountry.IsoCode, rec.RegisteredCountry.Names,
				rec.City.Names, rec.Continent.Code, rec.Location.Latitude, rec.Location.Longitude)
		case KindASN:
			rec, err := r.r.ASN(nip)
			if err != nil {
				db.errs.Add(1)
				continue
			}
			fillAS(&info, rec.AutonomousSystemNumber, rec.AutonomousSystemOrganization)
		}
	}
	ok := info.CountryISO != "" || info.ContinentCode != "" || info.CityName != "" || info.HasLocation || info.ASN != 0 || info.ASOrg != ""
	return info, ok
}

// fillPlace sets the location fields still unknown. The registered
// country stands in for a missing location country (anycast and satellite
// networks often have only that), so deny lists still see a country.
func fillPlace(info *Info, iso string, names map[string]string, regISO string, regNames map[string]string,
	city map[string]string, continent string, lat, lon float64) {
	if iso == "" {
		iso, names = regISO, regNames
	}
	if info.CountryISO == "" && iso != "" {
		info.CountryISO = iso
		info.CountryName = name(names)
	}
	if info.CityName == "" {
		info.CityName = name(city)
	}
	if info.ContinentCode == "" {
		info.ContinentCode = continent
	}
	// A record without a location decodes as (0, 0); the Gulf of Guinea
	// is not where any network is, so that means unknown.
	if !info.HasLocation && (lat != 0 || lon != 0) {
		info.Lat, info.Lon, info.HasLocation = lat, lon, true
	}
}

func fillAS(info *Info, asn uint, org string) {
	if info.ASN == 0 && asn != 0 {
		info.ASN, info.ASOrg = asn, org
	}
}

// name picks the English name, else the alphabetically first language's,
// so the choice is stable.
func name(names map[string]string) string {
	if n, ok := names["en"]; ok {
		return n
	}
	best := ""
	bestLang := ""
	for lang, n := range names {
		if best == "" || lang < bestLang {
			best, bestLang = n, lang
		}
	}
	return best
}

var (
	_ detect.AlertEnricher = (*DB)(nil)
	_ flows.Enricher       = (*DB)(nil)
)

// EnrichAlert implements detect.AlertEnricher: destination.geo.* and
// destination.as.* for an outside destination, source.* for an outside
// source.
func (db *DB) EnrichAlert(a *detect.Alert, d *ecs.Doc) {
	db.enrich(d, "destination", a.Dst)
	db.enrich(d, "source", a.Src)
}

// EnrichFlow implements flows.Enricher: the same fields for a flow record,
// by the responder's (destination) and initiator's (source) addresses.
func (db *DB) EnrichFlow(f *flows.Flow, d *ecs.Doc) {
	dst, _ := f.Dst()
	src, _ := f.Src()
	db.enrich(d, "destination", flows.AddrOf(dst))
	db.enrich(d, "source", flows.AddrOf(src))
}

// Field names, spelt out per side so enrichment builds no strings.
type sideKeys struct {
	country, countryName, city, continent, lat, lon, asn, asOrg string
}

var keys = map[string]*sideKeys{
	"destination": newSideKeys("destination"),
	"source":      newSideKeys("source"),
}

func newSideKeys(side string) *sideKeys {
	return &sideKeys{
		country:     side + ".geo.country_iso_code",
		countryName: side + ".geo.country_name",
		city:        side + ".geo.city_name",
		continent:   side + ".geo.continent_code",
		lat:         side + ".geo.location.lat",
		lon:         side + ".geo.location.lon",
		asn:         side + ".as.number",
		asOrg:       side + ".as.organization.name",
	}
}

func (db *DB) enrich(d *ecs.Doc, side string, ip netip.Addr) {
	if !ip.IsValid() || db.internal.Contains(ip) {
		return
	}
	info, ok := db.Lookup(ip)
	if !ok {
		return
	}
	AppendInfo(d, side, info)
}

// AppendInfo sets the ECS geo and AS fields of info under side
// ("destination", "source", "client", "server").
func AppendInfo(d *ecs.Doc, side string, info Info) {
	k := keys[side]
	if k == nil {
		k = newSideKeys(side)
	}
	d.Str(k.country, info.CountryISO)
	d.Str(k.countryName, info.CountryName)
	d.Str(k.city, info.CityName)
	d.Str(k.continent, info.ContinentCode)
	if info.HasLocation {
		d.Float(k.lat, info.Lat, 4)
		d.Float(k.lon, info.Lon, 4)
	}
	if info.ASN != 0 {
		d.Uint(k.asn, uint64(info.ASN))
	}
	d.Str(k.asOrg, info.ASOrg)
}

// cache is a bounded two-generation cache: lookups fill the young map;
// when it is full the old one is dropped and the young one becomes old; a
// hit in the old map moves the entry back to the young. Recently used
// addresses stay, like an LRU, without per-entry list links, and the maps
// are reused, so a full cache allocates nothing in steady state.
type cache struct {
	young, old map[netip.Addr]entry
	half       int
}

type entry struct {
	info Info
	ok   bool
}

func (c *cache) init(size int) {
	c.half = max(size/2, 1)
	c.young = make(map[netip.Addr]entry, c.half)
	c.old = make(map[netip.Addr]entry, c.half)
}

func (c *cache) len() int { return len(c.young) + len(c.old) }

func (c *cache) get(ip netip.Addr) (entry, bool) {
	if e, ok := c.young[ip]; ok {
		return e, true
	}
	e, ok := c.old[ip]
	if ok {
		delete(c.old, ip)
		c.put(ip, e)
	}
	return e, ok
}

func (c *cache) put(ip netip.Addr, e entry) {
	if len(c.young) >= c.half {
		c.old, c.young = c.young, c.old
		clear(c.young)
	}
	c.young[ip] = e
}
