package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.v3 node tree itself instead of using
// yaml.Unmarshal: only the node tree knows the line of every key and value,
// and the walk checks keys against the struct tags, so every error (an
// unknown key, a bad value, a failed cross-check after decoding) carries
// its line.

const (
	// maxNodes bounds the walk, alias expansion included, so a "billion
	// laughs" document fails instead of expanding.
	maxNodes = 100_000
	// maxErrors: report this many problems, then stop adding.
	maxErrors = 20
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
)

type decoder struct {
	file  string
	errs  []error
	lines map[string]int // path of every decoded value -> its line
	nodes int
	// overflow: more than maxErrors problems; the rest were not kept.
	overflow bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}}
}

func (d *decoder) errorf(line int, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.overflow = true
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems in line order.
func (d *decoder) err() error {
	slices.SortStableFunc(d.errs, func(a, b error) int { return lineOf(a) - lineOf(b) })
	if d.overflow {
		d.errs = append(d.errs, &Error{File: d.file, Msg: fmt.Sprintf("more than %d problems; fix these first", maxErrors)})
	}
	return joinErrors(d.errs)
}

// add appends errors found after decoding, except on lines that already
// have one: a value that failed to decode is left zero, and the later
// checks would only report it again.
func (d *decoder) add(errs ...error) {
	lines := map[int]bool{}
	for _, e := range d.errs {
		if ce, ok := e.(*Error); ok && ce.Line > 0 {
			lines[ce.Line] = true
		}
	}
	for _, e := range errs {
		if ce, ok := e.(*Error); ok && lines[ce.Line] {
			continue
		}
		if len(d.errs) >= maxErrors {
			d.overflow = true
			return
		}
		d.errs = append(d.errs, e)
	}
}

// line finds the line of path, or of its nearest recorded parent.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// pos makes the error of a check made after decoding, at path's line.
func (d *decoder) pos(path, msg string) error {
	return &Error{File: d.file, Line: d.line(path), Msg: msg}
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax turns a yaml.v3 parse error into an Error with the line.
func (d *decoder) syntax(err error) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errorf(line, "YAML syntax: %s", m[2])
		return
	}
	d.errorf(0, "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

func (d *decoder) document(data []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntax(err)
		}
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			d.syntax(err)
		} else {
			d.errorf(extra.Line, "a second YAML document (---): put the whole configuration in one")
		}
		return
	}
	n := &root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if isNull(n) {
		return
	}
	d.value(n, reflect.ValueOf(c).Elem(), "", "")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// where names path for messages.
func where(path string) string {
	if path == "" {
		return "at top level"
	}
	return "in " + path
}

// child paths: struct fields and identifier-like map keys with ".", other
// map keys quoted in brackets, list elements by index.
func fieldPath(path, key string) string {
	if !identLike(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func identLike(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// resolve follows aliases and counts nodes; nil: give up.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.errorf(n.Line, "unresolvable alias *%s", n.Value)
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.errorf(n.Line, "document too large (more than %d values after expanding aliases)", maxNodes)
	}
	if d.nodes > maxNodes {
		return nil
	}
	return n
}

// value decodes n into v. check is the field's `check` tag, applied to
// numbers (and passed down to list and map elements).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, check string) {
	if n = d.resolve(n); n == nil {
		return
	}
	d.lines[path] = n.Line
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path, "duration"); ok {
			d.duration(n, s, v, path, check)
		}
		return
	case sizeType:
		if s, ok := d.scalar(n, path, "size"); ok {
			sz, why := parseSize(s)
			if why != "" {
				d.errorf(n.Line, "invalid size %q %s: %s", s, where(path), why)
				return
			}
			if d.check(n, path, float64(sz), check) {
				v.SetUint(uint64(sz))
			}
		}
		return
	case prefixType:
		if s, ok := d.scalar(n, path, "network"); ok {
			p, why := parsePrefix(s)
			if why != "" {
				d.errorf(n.Line, "invalid network %q %s%s", s, where(path), why)
				return
			}
			v.Set(reflect.ValueOf(p))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.list(n, v, path, check)
	case reflect.Map:
		d.dict(n, v, path, check)
	case reflect.String:
		if s, ok := d.scalar(n, path, "string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "boolean"); ok {
			switch s {
			case "true", "True", "TRUE":
				v.SetBool(true)
			case "false", "False", "FALSE":
				v.SetBool(false)
			default:
				d.errorf(n.Line, "invalid boolean %q %s (use true or false)", s, where(path))
			}
		}
	case reflect.Int, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, path, "number"); ok {
			d.integer(n, s, v, path, check)
		}
	case reflect.Float64:
		if s, ok := d.scalar(n, path, "number"); ok {
			f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.errorf(n.Line, "invalid number %q %s", s, where(path))
				return
			}
			if f < 0 {
				d.errorf(n.Line, "%s %s must not be negative", s, where(path))
				return
			}
			if d.check(n, path, f, check) {
				v.SetFloat(f)
			}
		}
	default:
		panic("config: no decoder for " + v.Type().String()) // a programming error in this package
	}
}

// scalar returns n's text, or reports that a scalar was expected.
func (d *decoder) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n.Line, "expected a %s %s, got %s", what, where(path), kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) duration(n *yaml.Node, s string, v reflect.Value, path, check string) {
	t, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			d.errorf(n.Line, "duration %q %s needs a unit, like \"90s\", \"10m\" or \"1h\"", s, where(path))
		} else {
			d.errorf(n.Line, "invalid duration %q %s (Go syntax: \"90s\", \"10m\", \"1h30m\")", s, where(path))
		}
		return
	}
	if t < 0 {
		d.errorf(n.Line, "duration %q %s must not be negative", s, where(path))
		return
	}
	if d.check(n, path, float64(t), check) {
		v.SetInt(int64(t))
	}
}

func (d *decoder) integer(n *yaml.Node, s string, v reflect.Value, path, check string) {
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		d.errorf(n.Line, "%s %s is out of range", s, where(path))
		return
	}
	if err != nil {
		if _, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			d.errorf(n.Line, "expected a whole number %s, got %q", where(path), s)
		} else {
			d.errorf(n.Line, "invalid number %q %s", s, where(path))
		}
		return
	}
	if i < 0 {
		d.errorf(n.Line, "%s %s must not be negative", s, where(path))
		return
	}
	if !d.check(n, path, float64(i), check) {
		return
	}
	if v.Kind() == reflect.Int && v.OverflowInt(i) || v.Kind() != reflect.Int && v.OverflowUint(uint64(i)) {
		d.errorf(n.Line, "%s %s is out of range", s, where(path))
		return
	}
	if v.Kind() == reflect.Int {
		v.SetInt(i)
	} else {
		v.SetUint(uint64(i))
	}
}

// check applies a field's `check` tag to a number that is already known to
// be non-negative.
func (d *decoder) check(n *yaml.Node, path string, f float64, check string) bool {
	var bad string
	switch check {
	case "":
	case "positive":
		if f <= 0 {
			bad = "must be greater than 0"
		}
	case "port":
		if f < 1 || f > 65535 {
			bad = "is not a port (1-65535)"
		}
	case "unit":
		if f > 1 {
			bad = "must be between 0 and 1"
		}
	default:
		if m, ok := strings.CutPrefix(check, ">="); ok {
			min, _ := strconv.ParseFloat(m, 64)
			if f < min {
				bad = "must be at least " + m
			}
			break
		}
		panic("config: unknown check " + check)
	}
	if bad != "" {
		d.errorf(n.Line, "%s %s %s", n.Value, where(path), bad)
		return false
	}
	return true
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "expected a mapping of keys %s, got %s", where(path), kindName(n))
		return
	}
	t := v.Type()
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, "keys must be plain words %s", where(path))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errorf(k.Line, "merge keys (<<) are not supported %s", where(path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, "duplicate key %q %s (first on line %d)", k.Value, where(path), first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByTag(t, k.Value)
		if !ok {
			msg := fmt.Sprintf("unknown key %q %s", k.Value, where(path))
			if s := suggest(k.Value, tagNames(t)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(k.Line, "%s", msg)
			continue
		}
		fp := fieldPath(path, k.Value)
		if r := d.resolve(val); r != nil && isNull(r) {
			d.lines[fp] = r.Line
			continue // "key:" with no value keeps the default
		}
		d.value(val, v.FieldByIndex(f.Index), fp, f.Tag.Get("check"))
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == key && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagNames(t reflect.Type) []string {
	var s []string
	for i := 0; i < t.NumField(); i++ {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			s = append(s, tag)
		}
	}
	return s
}

// list decodes a sequence into a slice, replacing its contents. A single
// scalar is a one-element list.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path, check string) {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		items = n.Content
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	default:
		d.errorf(n.Line, "expected a list %s, got %s", where(path), kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, it := range items {
		ep := path + "[" + strconv.Itoa(i) + "]"
		if r := d.resolve(it); r != nil && isNull(r) {
			d.errorf(r.Line, "empty list element %s", where(ep))
			continue
		}
		d.value(it, s.Index(i), ep, check)
	}
	v.Set(s)
}

// dict decodes a mapping into a map, adding to (and overriding keys of)
// what the map already holds, so defaults of unnamed keys survive.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path, check string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "expected a mapping %s, got %s", where(path), kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	} else {
		// Copy, so decoding never writes into a map shared with Default's
		// caller or another Config.
		m := reflect.MakeMap(v.Type())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), iter.Value())
		}
		v.Set(m)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errorf(k.Line, "keys must be plain strings %s", where(path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, "duplicate key %q %s (first on line %d)", k.Value, where(path), first)
			continue
		}
		seen[k.Value] = k.Line
		ep := fieldPath(path, k.Value)
		if r := d.resolve(val); r != nil && isNull(r) {
			d.errorf(r.Line, "missing value for %q %s", k.Value, where(path))
			continue
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(val, ev, ep, check)
		v.SetMapIndex(reflect.ValueOf(k.Value), ev)
	}
}

// suggest returns the candidate closest to s when it is a plausible typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if strings.EqualFold(strings.ReplaceAll(s, "-", "_"), strings.ReplaceAll(c, "-", "_")) {
			return c
		}
		if dd := editDistance(strings.ToLower(s), c); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parsePrefix parses a CIDR prefix or a bare address (a host prefix); the
// string says what is wrong, "" when nothing is.
func parsePrefix(s string) (netip.Prefix, string) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, " (want a CIDR prefix like 10.0.0.0/8 or an address)"
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, " (want a CIDR prefix like 10.0.0.0/8 or an address)"
	}
	if p.Addr().Is4In6() {
		// ::ffff:10.0.0.0/104 is 10.0.0.0/8; addresses are unmapped
		// before matching, so the prefix must be too.
		if p.Bits() < 96 {
			return netip.Prefix{}, ": IPv4-mapped prefix shorter than /96"
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), ""
}

// validate makes the checks that span fields or need normalising, after
// decoding.
func (d *decoder) validate(c *Config) {
	if _, given := d.lines["internal_networks"]; given && len(c.InternalNetworks) == 0 {
		d.errorf(d.line("internal_networks"), "internal_networks is empty: every flow would be egress; omit the key for the defaults")
	}
	b := &c.Detectors.Beacon
	if b.MinPeriod > b.MaxPeriod {
		d.add(d.pos("detectors.beacon.min_period",
			fmt.Sprintf("detectors.beacon.min_period %v is above max_period %v", b.MinPeriod, b.MaxPeriod)))
	}
	for i, s := range b.IgnoreDomainSuffix {
		p := fmt.Sprintf("detectors.beacon.ignore_domain_suffix[%d]", i)
		ns, err := normalizeSuffix(s)
		if err != nil {
			d.add(d.pos(p, fmt.Sprintf("%v in %s", err, p)))
			continue
		}
		b.IgnoreDomainSuffix[i] = ns
	}
	for proto := range c.Detectors.FileTransfer.StandardPorts {
		if proto != strings.ToLower(proto) || !identLike(proto) {
			p := fieldPath("detectors.file_transfer.standard_ports", proto)
			d.add(d.pos(p, fmt.Sprintf("protocol name %q in detectors.file_transfer.standard_ports must be a lowercase word", proto)))
		}
	}
	ch := &c.Detectors.ContainerChurn
	for i, gl := range ch.IgnoreImage {
		if _, err := compileGlob(gl); err != nil {
			p := fmt.Sprintf("detectors.container_churn.ignore_image[%d]", i)
			d.add(d.pos(p, fmt.Sprintf("%v in %s", err, p)))
		}
	}
	for k, gl := range ch.IgnoreLabel {
		p := fieldPath("detectors.container_churn.ignore_label", k)
		if k == "" {
			d.add(d.pos(p, "empty label key in "+p))
			continue
		}
		if _, err := compileGlob(gl); err != nil {
			d.add(d.pos(p, fmt.Sprintf("%v in %s", err, p)))
		}
	}
	g := &c.Detectors.EgressGeo
	for _, l := range []struct {
		key  string
		list []string
	}{{"allow_countries", g.AllowCountries}, {"deny_countries", g.DenyCountries}} {
		for i, cc := range l.list {
			p := fmt.Sprintf("detectors.egress_geo.%s[%d]", l.key, i)
			up := strings.ToUpper(strings.TrimSpace(cc))
			if len(up) != 2 || up[0] < 'A' || up[0] > 'Z' || up[1] < 'A' || up[1] > 'Z' {
				d.add(d.pos(p, fmt.Sprintf("country %q in %s is not an ISO 3166-1 alpha-2 code (like \"DE\")", cc, p)))
				continue
			}
			l.list[i] = up
		}
	}
	for i, cc := range g.DenyCountries {
		if slices.Contains(g.AllowCountries, cc) {
			p := fmt.Sprintf("detectors.egress_geo.deny_countries[%d]", i)
			d.add(d.pos(p, fmt.Sprintf("country %s is in both allow_countries and deny_countries", cc)))
		}
	}
	for i, as := range g.DenyASNs {
		if slices.Contains(g.AllowASNs, as) {
			p := fmt.Sprintf("detectors.egress_geo.deny_asns[%d]", i)
			d.add(d.pos(p, fmt.Sprintf("AS%d is in both allow_asns and deny_asns", as)))
		}
	}
}
