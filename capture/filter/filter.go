// Package filter compiles capture filters in tcpdump syntax (the commonly
// used part of pcap-filter(7)) to classic BPF, in pure Go, for the kernel
// to run on a capture socket before a packet is copied to user space.
//
// Supported: host, net (CIDR, "mask", or 1-3 octets), port, portrange,
// each with src / dst / "src or dst" / "src and dst" and with the ip,
// ip6, tcp, udp or sctp qualifiers that apply; ether host/src/dst; the
// protocols ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6; proto N (ip
// proto, ip6 proto); less and greater; not / ! , and / && , or / || and
// parentheses; and tcpdump's shorthand of repeating the last qualifiers
// ("port 53 or 123", "host a and not b"). Host names are not resolved,
// and packet-data expressions (tcp[13] & 2 != 0), vlan, mpls and the rest
// of pcap-filter are refused with an error saying so.
//
// Semantics follow libpcap's on Ethernet and raw IP links: IPv4 ports are
// only matched in unfragmented packets and first fragments, IPv6 ports and
// protocols only when no extension header precedes the transport header.
package filter

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"

	"outflow/capture"
)

// MaxLen bounds the length of a filter expression.
const MaxLen = 4096

// maxDepth bounds the nesting of parentheses and negations.
const maxDepth = 64

// Expr is a parsed filter, ready to compile for a link type.
type Expr struct {
	root node
	text string
}

// String is the expression as given.
func (e *Expr) String() string { return e.text }

// Parse parses a filter expression. An empty expression matches every
// packet.
func Parse(text string) (*Expr, error) {
	if len(text) > MaxLen {
		return nil, fmt.Errorf("filter: expression longer than %d bytes", MaxLen)
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if len(toks) == 0 {
		return &Expr{root: truth(true), text: text}, nil
	}
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, p.errorf("unexpected %q", p.toks[p.i])
	}
	return &Expr{root: root, text: text}, nil
}

// Compile parses text and compiles it for packets of the given link type
// (capture.LinkEthernet, or capture.LinkRaw for links without a link-layer
// header). An accepted packet is kept up to snaplen bytes.
func Compile(text string, link capture.LinkType, snaplen uint32) ([]bpf.Instruction, error) {
	e, err := Parse(text)
	if err != nil {
		return nil, err
	}
	return e.Compile(link, snaplen)
}

// Compile compiles the expression for the link type (see Compile).
func (e *Expr) Compile(link capture.LinkType, snaplen uint32) ([]bpf.Instruction, error) {
	var l linkInfo
	switch link {
	case capture.LinkEthernet:
		l = linkInfo{nl: 14, ether: true}
	case capture.LinkRaw, capture.LinkIPv4, capture.LinkIPv6, capture.LinkRawBSD, capture.LinkRawOpen:
		l = linkInfo{nl: 0}
	default:
		return nil, fmt.Errorf("filter: link type %v is not supported", link)
	}
	n, err := expand(e.root, l)
	if err != nil {
		return nil, err
	}
	return generate(n, snaplen, l.nl)
}

// Tokens.

type token string

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token(s[i:i+1]))
			i++
		case c == '!':
			toks = append(toks, "not")
			i++
		case c == '&' || c == '|':
			if i+1 >= len(s) || s[i+1] != c {
				return nil, fmt.Errorf("filter: %q at offset %d: did you mean %c%c?", c, i, c, c)
			}
			if c == '&' {
				toks = append(toks, "and")
			} else {
				toks = append(toks, "or")
			}
			i += 2
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token(strings.ToLower(s[i:j])))
			i = j
		default:
			return nil, fmt.Errorf("filter: unexpected character %q at offset %d (packet-data expressions such as tcp[13] are not supported)", c, i)
		}
	}
	return toks, nil
}

// isWordByte: identifiers, numbers, addresses (IPv4, IPv6, MAC, CIDR),
// port ranges and \tcp-style protocol names.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '/' || c == '-' || c == '_' || c == '\\'
}

// Syntax tree of the expression as written.

type node interface{}

type (
	andNode struct{ a, b node }
	orNode  struct{ a, b node }
	notNode struct{ x node }
	truth   bool
)

// Direction qualifiers.
type dir uint8

const (
	dirAny  dir = iota // src or dst (the default)
	dirSrc             // src
	dirDst             // dst
	dirBoth            // src and dst
)

// prim is one primitive: [proto] [dir] [kind] id, or a keyword.
type prim struct {
	proto string // "", ether, ip, ip6, arp, rarp, tcp, udp, sctp
	dir   dir
	kind  string // host, net, port, portrange, proto, less, greater, or "" for a bare protocol
	id    string
	mask  string // net N mask M
}

type parser struct {
	toks []token
	i    int
	last *prim // qualifiers for tcpdump's "port 53 or 123" shorthand
}

func (p *parser) errorf(format string, args ...any) error {
	at := "end of expression"
	if p.i < len(p.toks) {
		at = fmt.Sprintf("%q (token %d)", p.toks[p.i], p.i+1)
	}
	return fmt.Errorf("filter: at %s: %s", at, fmt.Sprintf(format, args...))
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) expr(depth int) (node, error) {
	n, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.next()
		m, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		n = orNode{n, m}
	}
	return n, nil
}

func (p *parser) and(depth int) (node, error) {
	n, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.next()
		m, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		n = andNode{n, m}
	}
	return n, nil
}

func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested more than %d deep", maxDepth)
	}
	switch p.peek() {
	case "not":
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case "(":
		p.next()
		x, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			p.i--
			return nil, p.errorf("missing )")
		}
		return x, nil
	case "":
		return nil, p.errorf("expression ends where a primitive is expected")
	}
	return p.primitive()
}

var (
	protoQuals = map[token]bool{"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true, "sctp": true}
	kinds      = map[token]bool{"host": true, "net": true, "port": true, "portrange": true}
	// bare protocols that make a primitive on their own
	bareProtos = map[token]bool{"ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true}
	// keywords of pcap-filter this compiler does not implement
	unsupported = map[token]bool{"vlan": true, "mpls": true, "pppoed": true, "pppoes": true, "geneve": true, "gateway": true,
		"broadcast": true, "multicast": true, "igmp": true, "igrp": true, "pim": true, "vrrp": true, "carp": true, "ah": true, "esp": true,
		"decnet": true, "iso": true, "atalk": true, "aarp": true, "ipx": true, "netbeui": true, "stp": true, "wlan": true, "link": true,
		"fddi": true, "tr": true, "ppp": true, "slip": true, "llc": true, "inbound": true, "outbound": true, "ifname": true, "on": true,
		"rnr": true, "rulenum": true, "reason": true, "rset": true, "ruleset": true, "srnr": true, "subrulenum": true, "action": true,
		"type": true, "subtype": true, "dir": true, "protochain": true, "len": true, "ra": true, "ta": true, "addr1": true, "addr2": true,
		"addr3": true, "addr4": true}
)

func (p *parser) primitive() (node, error) {
	start := p.i
	t := p.peek()
	if unsupported[t] {
		return nil, p.errorf("%q is not supported by outflow's built-in filter compiler", t)
	}
	switch t {
	case "less", "greater":
		p.next()
		n, err := p.number("a length")
		if err != nil {
			return nil, err
		}
		return prim{kind: string(t), id: strconv.FormatUint(uint64(n), 10)}, nil
	case "proto":
		p.next()
		return p.protoNumber("")
	}
	var q prim
	if protoQuals[t] || bareProtos[t] {
		p.next()
		q.proto = string(t)
		switch nt := p.peek(); {
		case nt == "proto" && (t == "ip" || t == "ip6"):
			p.next()
			return p.protoNumber(string(t))
		case nt == "src" || nt == "dst" || kinds[nt]:
			// qualifiers go on
		case bareProtos[t]:
			return prim{proto: string(t)}, nil // "tcp", "ip6 and ..."
		default:
			return nil, p.errorf("%q needs host, src or dst after it", t)
		}
	}
	switch p.peek() {
	case "src", "dst":
		first := p.next()
		q.dir = dirSrc
		if first == "dst" {
			q.dir = dirDst
		}
		// "src or dst", "src and dst"
		if c := p.peek(); (c == "or" || c == "and") && p.i+1 < len(p.toks) {
			if second := p.toks[p.i+1]; (second == "src" || second == "dst") && second != first {
				p.i += 2
				q.dir = dirAny
				if c == "and" {
					q.dir = dirBoth
				}
			}
		}
	}
	if kinds[p.peek()] {
		q.kind = string(p.next())
	}
	id := p.peek()
	if id == "" || id == "(" || id == ")" || id == "and" || id == "or" || id == "not" || kinds[id] || protoQuals[id] || id == "src" || id == "dst" {
		return nil, p.errorf("expected an address, a network or a port")
	}
	if p.i == start && p.last != nil {
		// A bare value: tcpdump repeats the previous primitive's
		// qualifiers ("port 53 or 123", "host a and not b").
		q = *p.last
		q.mask = ""
	}
	p.next()
	q.id = string(id)
	if q.kind == "net" && p.peek() == "mask" {
		p.next()
		m := p.next()
		if m == "" {
			return nil, p.errorf("mask needs a netmask")
		}
		q.mask = string(m)
	}
	if q.kind == "" {
		q.kind = "host"
	}
	if q.proto == "ether" && q.kind != "host" {
		return nil, p.errorf("ether %s is not supported (only ether host, src and dst)", q.kind)
	}
	p.last = &q
	return q, nil
}

func (p *parser) number(what string) (uint32, error) {
	t := p.next()
	n, err := strconv.ParseUint(string(t), 0, 32)
	if err != nil {
		p.i--
		return 0, p.errorf("expected %s", what)
	}
	return uint32(n), nil
}

var protoNames = map[string]uint32{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "sctp": 132}

// protoNumber parses the N of "[ip|ip6] proto N".
func (p *parser) protoNumber(family string) (node, error) {
	t := string(p.next())
	name := strings.TrimPrefix(t, "\\")
	if _, ok := protoNames[name]; ok {
		return prim{proto: family, kind: "proto", id: name}, nil
	}
	n, err := strconv.ParseUint(t, 0, 8)
	if err != nil {
		p.i--
		return nil, p.errorf("expected a protocol number or name (\\tcp, \\udp, ...)")
	}
	return prim{proto: family, kind: "proto", id: strconv.FormatUint(n, 10)}, nil
}
