package config

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"outflow/detect"
)

// Suppressor drops alerts that match a suppression rule before they reach
// the alert writer. Like Hubble's flow filters, each rule is compiled once
// into predicates: a rule matches when all its predicates do, and an alert
// is dropped when any rule matches. It counts drops per rule.
//
// Matching is safe for concurrent use; counting is atomic.
type Suppressor struct {
	rules []*compiledRule
}

type predicate func(a *detect.Alert) bool

type compiledRule struct {
	index   int
	comment string
	preds   []predicate
	hits    atomic.Uint64
}

// SuppressStat is how many alerts one rule dropped.
type SuppressStat struct {
	Index      int    // position in the suppress list
	Comment    string // the rule's comment ("" if none)
	Suppressed uint64
}

// Len is the number of rules.
func (s *Suppressor) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Match returns the index of the first rule matching a, or -1.
func (s *Suppressor) Match(a *detect.Alert) int {
	if s == nil {
		return -1
	}
	for _, r := range s.rules {
		if r.match(a) {
			return r.index
		}
	}
	return -1
}

func (r *compiledRule) match(a *detect.Alert) bool {
	for _, p := range r.preds {
		if !p(a) {
			return false
		}
	}
	return true
}

// Stats reports the drops of every rule, in file order.
func (s *Suppressor) Stats() []SuppressStat {
	if s == nil {
		return nil
	}
	st := make([]SuppressStat, len(s.rules))
	for i, r := range s.rules {
		st[i] = SuppressStat{Index: r.index, Comment: r.comment, Suppressed: r.hits.Load()}
	}
	return st
}

// Wrap returns a Sink that passes alerts no rule matches on to next. With
// no rules it returns next itself.
func (s *Suppressor) Wrap(next detect.Sink) detect.Sink {
	if s.Len() == 0 {
		return next
	}
	return &suppressSink{s: s, next: next}
}

type suppressSink struct {
	s    *Suppressor
	next detect.Sink
}

func (k *suppressSink) Raise(a *detect.Alert) {
	for _, r := range k.s.rules {
		if r.match(a) {
			r.hits.Add(1)
			return
		}
	}
	k.next.Raise(a)
}

// compileRules validates rules and builds their predicates. mk makes the
// error for a problem at a path ("suppress[2].rule[0]"); messages name the
// path themselves.
func compileRules(rules []SuppressRule, mk func(path, msg string) error) (*Suppressor, []error) {
	s := &Suppressor{}
	var errs []error
	fail := func(p, format string, args ...any) {
		errs = append(errs, mk(p, fmt.Sprintf(format, args...)))
	}
	for i := range rules {
		r := &rules[i]
		base := fmt.Sprintf("suppress[%d]", i)
		cr := &compiledRule{index: i, comment: r.Comment}

		if len(r.Rule) > 0 {
			var ms []matcher
			for j, g := range r.Rule {
				p := fmt.Sprintf("%s.rule[%d]", base, j)
				m, err := compileGlob(g)
				if err != nil {
					fail(p, "%v in %s", err, p)
					continue
				}
				if m.literal && !slices.Contains(RuleNames, g) {
					msg := fmt.Sprintf("unknown rule %q in %s", g, p)
					if sg := suggest(g, RuleNames); sg != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", sg)
					}
					fail(p, "%s", msg)
					continue
				}
				ms = append(ms, m)
			}
			cr.preds = append(cr.preds, func(a *detect.Alert) bool {
				return a.Rule != nil && anyMatch(ms, a.Rule.Name)
			})
		}
		if len(r.ContainerName) > 0 {
			ms := compileGlobs(r.ContainerName, base+".container_name", fail)
			cr.preds = append(cr.preds, func(a *detect.Alert) bool {
				return a.Container != nil && anyMatch(ms, a.Container.Name)
			})
		}
		if len(r.ContainerImage) > 0 {
			ms := compileGlobs(r.ContainerImage, base+".container_image", fail)
			cr.preds = append(cr.preds, func(a *detect.Alert) bool {
				return a.Container != nil && anyMatch(ms, a.Container.Image)
			})
		}
		if len(r.ContainerLabel) > 0 {
			type label struct {
				key string
				m   matcher
			}
			var ls []label
			keys := make([]string, 0, len(r.ContainerLabel))
			for k := range r.ContainerLabel {
				keys = append(keys, k)
			}
			slices.Sort(keys) // deterministic error order
			for _, k := range keys {
				p := fieldPath(base+".container_label", k)
				if k == "" {
					fail(p, "empty label key in %s", p)
					continue
				}
				m, err := compileGlob(r.ContainerLabel[k])
				if err != nil {
					fail(p, "%v in %s", err, p)
					continue
				}
				ls = append(ls, label{k, m})
			}
			cr.preds = append(cr.preds, func(a *detect.Alert) bool {
				if a.Container == nil {
					return false
				}
				for _, l := range ls {
					v, ok := a.Container.Labels[l.key]
					if !ok || !l.m.match(v) {
						return false
					}
				}
				return true
			})
		}
		if len(r.DestinationCIDR) > 0 {
			ps := checkPrefixes(r.DestinationCIDR, base+".destination_cidr", fail)
			cr.preds = append(cr.preds, func(a *detect.Alert) bool { return inPrefixes(ps, a.Dst) })
		}
		if len(r.DestinationDomainSuffix) > 0 {
			var sfx []string
			for j, x := range r.DestinationDomainSuffix {
				p := fmt.Sprintf("%s.destination_domain_suffix[%d]", base, j)
				n, err := normalizeSuffix(x)
				if err != nil {
					fail(p, "%v in %s", err, p)
					continue
				}
				sfx = append(sfx, n)
			}
			cr.preds = append(cr.preds, func(a *detect.Alert) bool {
				name := alertDomain(a)
				for _, x := range sfx {
					if HasDomainSuffix(name, x) {
						return true
					}
				}
				return false
			})
		}
		if len(r.DestinationPort) > 0 {
			ports := slices.Clone(r.DestinationPort)
			for j, pt := range ports {
				if pt == 0 {
					p := fmt.Sprintf("%s.destination_port[%d]", base, j)
					fail(p, "0 in %s is not a port (1-65535)", p)
				}
			}
			cr.preds = append(cr.preds, func(a *detect.Alert) bool { return slices.Contains(ports, a.DstPort) })
		}
		if len(r.SourceCIDR) > 0 {
			ps := checkPrefixes(r.SourceCIDR, base+".source_cidr", fail)
			cr.preds = append(cr.preds, func(a *detect.Alert) bool { return inPrefixes(ps, a.Src) })
		}
		if len(cr.preds) == 0 {
			fail(base, "%s has no conditions and would silence every alert; give at least one of rule, container_name, container_image, container_label, destination_cidr, destination_domain_suffix, destination_port, source_cidr", base)
		}
		s.rules = append(s.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// alertDomain is the alert's destination name: Domain, or Dest when that
// is a name rather than an address.
func alertDomain(a *detect.Alert) string {
	if a.Domain != "" {
		return a.Domain
	}
	if a.Dest != "" {
		if _, err := netip.ParseAddr(a.Dest); err != nil {
			return a.Dest
		}
	}
	return ""
}

func checkPrefixes(ps []netip.Prefix, p string, fail func(p, format string, args ...any)) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for j, x := range ps {
		if !x.IsValid() {
			ep := fmt.Sprintf("%s[%d]", p, j)
			fail(ep, "invalid network in %s", ep)
			continue
		}
		if x.Addr().Is4In6() && x.Bits() >= 96 {
			x = netip.PrefixFrom(x.Addr().Unmap(), x.Bits()-96)
		}
		out = append(out, x.Masked())
	}
	return out
}

// inPrefixes matches a (IPv4-mapped addresses as IPv4) against ps.
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// matcher is a compiled glob: literal patterns compare as strings.
type matcher struct {
	pattern string
	literal bool
}

func (m matcher) match(s string) bool {
	if m.literal {
		return s == m.pattern
	}
	ok, _ := path.Match(m.pattern, s) // validated at compile
	return ok
}

func anyMatch(ms []matcher, s string) bool {
	for _, m := range ms {
		if m.match(s) {
			return true
		}
	}
	return false
}

func compileGlob(g string) (matcher, error) {
	if g == "" {
		return matcher{}, fmt.Errorf("empty pattern")
	}
	if _, err := path.Match(g, ""); err != nil {
		return matcher{}, fmt.Errorf("bad glob %q", g)
	}
	if !strings.ContainsAny(g, `*?[\`) {
		return matcher{pattern: g, literal: true}, nil
	}
	return matcher{pattern: g}, nil
}

func compileGlobs(gs []string, p string, fail func(p, format string, args ...any)) []matcher {
	var ms []matcher
	for j, g := range gs {
		m, err := compileGlob(g)
		if err != nil {
			ep := fmt.Sprintf("%s[%d]", p, j)
			fail(ep, "%v in %s", err, ep)
			continue
		}
		ms = append(ms, m)
	}
	return ms
}

// normalizeSuffix lower-cases a domain suffix and drops its leading and
// trailing dots, checking that what is left is a plausible DNS name.
func normalizeSuffix(s string) (string, error) {
	n := strings.ToLower(strings.Trim(strings.TrimSpace(s), "."))
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("invalid domain suffix %q", s)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("invalid domain suffix %q", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("invalid domain suffix %q", s)
			}
		}
	}
	return n, nil
}

// HasDomainSuffix reports whether name is suffix or a name below it, on
// label boundaries, ignoring case and a trailing dot on name. suffix must
// be normalised (lower case, no leading or trailing dot), as the Config's
// suffix lists are after Parse.
func HasDomainSuffix(name, suffix string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(name) < len(suffix) || suffix == "" {
		return false
	}
	tail := name[len(name)-len(suffix):]
	if !strings.EqualFold(tail, suffix) {
		return false
	}
	return len(name) == len(suffix) || name[len(name)-len(suffix)-1] == '.'
}
