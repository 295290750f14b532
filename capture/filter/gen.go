package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// linkInfo is where the network header starts, and whether there is an
// Ethernet header (EtherType at 12) before it.
type linkInfo struct {
	nl    uint32
	ether bool
}

// Load kinds of a test.
type loadKind uint8

const (
	ldAbs loadKind = iota // [off]
	ldInd                 // [off] past the IPv4 header (its length from IHL)
	ldLen                 // the packet's length
)

// test loads a value, masks it, and compares it: the leaves the code
// generator works with.
type test struct {
	kind loadKind
	off  uint32
	size int
	mask uint32 // 0: none
	cond bpf.JumpTest
	val  uint32
}

func eq(off uint32, size int, val uint32) test {
	return test{kind: ldAbs, off: off, size: size, cond: bpf.JumpEqual, val: val}
}

func and(ns ...node) node {
	var n node
	for _, m := range ns {
		if n == nil {
			n = m
		} else {
			n = andNode{n, m}
		}
	}
	if n == nil {
		return truth(true)
	}
	return n
}

func or(ns ...node) node {
	var n node
	for _, m := range ns {
		if n == nil {
			n = m
		} else {
			n = orNode{n, m}
		}
	}
	if n == nil {
		return truth(false)
	}
	return n
}

func (l linkInfo) v4() node {
	if l.ether {
		return eq(12, 2, 0x0800)
	}
	return test{kind: ldAbs, off: 0, size: 1, mask: 0xf0, cond: bpf.JumpEqual, val: 0x40}
}

func (l linkInfo) v6() node {
	if l.ether {
		return eq(12, 2, 0x86dd)
	}
	return test{kind: ldAbs, off: 0, size: 1, mask: 0xf0, cond: bpf.JumpEqual, val: 0x60}
}

func (l linkInfo) etherType(t uint32) node {
	if !l.ether {
		return truth(false)
	}
	return eq(12, 2, t)
}

// v4proto: IPv4 with protocol p.
func (l linkInfo) v4proto(p uint32) node { return and(l.v4(), eq(l.nl+9, 1, p)) }

// v6proto: IPv6 whose next header is p, directly or after a fragment
// header (as libpcap has it).
func (l linkInfo) v6proto(p uint32) node {
	return and(l.v6(), or(eq(l.nl+6, 1, p), and(eq(l.nl+6, 1, 44), eq(l.nl+40, 1, p))))
}

func combine(d dir, src, dst node) node {
	switch d {
	case dirSrc:
		return src
	case dirDst:
		return dst
	case dirBoth:
		return and(src, dst)
	}
	return or(src, dst)
}

var services = map[string]uint32{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67, "bootpc": 68, "tftp": 69,
	"http": 80, "www": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-ssn": 139,
	"imap": 143, "snmp": 161, "ldap": 389, "https": 443, "microsoft-ds": 445, "syslog": 514, "submission": 587, "ldaps": 636,
	"rsync": 873, "imaps": 993, "pop3s": 995, "nfs": 2049, "mysql": 3306, "postgresql": 5432,
}

func parsePort(s string) (uint32, error) {
	if p, ok := services[s]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("filter: %q is not a port number (or a known service name)", s)
	}
	return uint32(n), nil
}

// expand turns the tree into one of tests, for the link.
func expand(n node, l linkInfo) (node, error) {
	switch n := n.(type) {
	case andNode:
		a, err := expand(n.a, l)
		if err != nil {
			return nil, err
		}
		b, err := expand(n.b, l)
		if err != nil {
			return nil, err
		}
		return andNode{a, b}, nil
	case orNode:
		a, err := expand(n.a, l)
		if err != nil {
			return nil, err
		}
		b, err := expand(n.b, l)
		if err != nil {
			return nil, err
		}
		return orNode{a, b}, nil
	case notNode:
		x, err := expand(n.x, l)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case truth:
		return n, nil
	case prim:
		return l.prim(n)
	}
	return nil, errors.New("filter: internal error: unknown node")
}

func (l linkInfo) prim(q prim) (node, error) {
	switch q.kind {
	case "":
		switch q.proto {
		case "ip":
			return l.v4(), nil
		case "ip6":
			return l.v6(), nil
		case "arp":
			return l.etherType(0x0806), nil
		case "rarp":
			return l.etherType(0x8035), nil
		case "icmp":
			return l.v4proto(1), nil
		case "icmp6":
			return l.v6proto(58), nil
		}
		p := protoNames[q.proto]
		return or(l.v4proto(p), l.v6proto(p)), nil
	case "proto":
		p, ok := protoNames[q.id]
		if !ok {
			n, _ := strconv.ParseUint(q.id, 10, 8)
			p = uint32(n)
		}
		switch q.proto {
		case "ip":
			return l.v4proto(p), nil
		case "ip6":
			return l.v6proto(p), nil
		}
		return or(l.v4proto(p), l.v6proto(p)), nil
	case "less":
		n, _ := strconv.ParseUint(q.id, 10, 32)
		return test{kind: ldLen, cond: bpf.JumpLessOrEqual, val: uint32(n)}, nil
	case "greater":
		n, _ := strconv.ParseUint(q.id, 10, 32)
		return test{kind: ldLen, cond: bpf.JumpGreaterOrEqual, val: uint32(n)}, nil
	case "host", "net":
		if q.proto == "ether" {
			return l.ether6(q)
		}
		return l.addr(q)
	case "port", "portrange":
		return l.port(q)
	}
	return nil, fmt.Errorf("filter: %s is not supported", q.kind)
}

// ether6 matches a MAC address.
func (l linkInfo) ether6(q prim) (node, error) {
	if !l.ether {
		return nil, errors.New("filter: ether host on a link without Ethernet headers")
	}
	mac, err := parseMAC(q.id)
	if err != nil {
		return nil, err
	}
	at := func(off uint32) node {
		return and(eq(off+2, 4, binary.BigEndian.Uint32(mac[2:])), eq(off, 2, uint32(binary.BigEndian.Uint16(mac[:2]))))
	}
	return combine(q.dir, at(6), at(0)), nil
}

func parseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == '.' })
	if len(parts) != 6 {
		return mac, fmt.Errorf("filter: %q is not a MAC address", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return mac, fmt.Errorf("filter: %q is not a MAC address", s)
		}
		mac[i] = byte(n)
	}
	return mac, nil
}

// parseNet parses host and net values: an address, a CIDR prefix, "N mask
// M", or 1-3 leading IPv4 octets (tcpdump's "net 10", "net 192.168").
func parseNet(q prim) (netip.Prefix, error) {
	bad := func() (netip.Prefix, error) {
		return netip.Prefix{}, fmt.Errorf("filter: %q is not an IP address or network (host names are not resolved)", q.id)
	}
	if q.kind == "host" {
		a, err := netip.ParseAddr(q.id)
		if err != nil || a.Zone() != "" {
			return bad()
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if q.mask != "" {
		a, err1 := netip.ParseAddr(q.id)
		m, err2 := netip.ParseAddr(q.mask)
		if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
			return netip.Prefix{}, fmt.Errorf("filter: %q mask %q: want IPv4 address and netmask", q.id, q.mask)
		}
		mb := m.As4()
		mv := binary.BigEndian.Uint32(mb[:])
		ones := bits.LeadingZeros32(^mv)
		if mv<<ones != 0 {
			return netip.Prefix{}, fmt.Errorf("filter: netmask %q is not contiguous", q.mask)
		}
		return netip.PrefixFrom(a, ones).Masked(), nil
	}
	if strings.Contains(q.id, "/") {
		p, err := netip.ParsePrefix(q.id)
		if err != nil {
			return bad()
		}
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(q.id); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	octets := strings.Split(q.id, ".")
	if len(octets) > 3 {
		return bad()
	}
	var b [4]byte
	for i, o := range octets {
		n, err := strconv.ParseUint(o, 10, 8)
		if err != nil {
			return bad()
		}
		b[i] = byte(n)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 8*len(octets)), nil
}

// addr matches host and net: IPv4 (with ARP and RARP, as tcpdump does,
// unless a protocol qualifier says otherwise) or IPv6.
func (l linkInfo) addr(q prim) (node, error) {
	switch q.proto {
	case "", "ip", "ip6", "arp", "rarp":
	default:
		return nil, fmt.Errorf("filter: %s %s is not a valid combination", q.proto, q.kind)
	}
	pfx, err := parseNet(q)
	if err != nil {
		return nil, err
	}
	if pfx.Addr().Is4() {
		if q.proto == "ip6" {
			return nil, fmt.Errorf("filter: ip6 %s with an IPv4 address", q.kind)
		}
		a4 := pfx.Addr().As4()
		val := binary.BigEndian.Uint32(a4[:])
		var mask uint32
		if b := pfx.Bits(); b < 32 {
			mask = ^uint32(0) << (32 - b)
			if b == 0 {
				mask = 0
			}
		}
		word := func(off uint32) node {
			if pfx.Bits() == 0 {
				return truth(true)
			}
			return test{kind: ldAbs, off: off, size: 4, mask: mask, cond: bpf.JumpEqual, val: val & maskOr(mask)}
		}
		ip := and(l.v4(), combine(q.dir, word(l.nl+12), word(l.nl+16)))
		var arps []node
		if l.ether && (q.proto == "" || q.proto == "arp") {
			arps = append(arps, and(l.etherType(0x0806), combine(q.dir, word(28), word(38))))
		}
		if l.ether && (q.proto == "" || q.proto == "rarp") {
			arps = append(arps, and(l.etherType(0x8035), combine(q.dir, word(28), word(38))))
		}
		switch q.proto {
		case "ip":
			return ip, nil
		case "arp", "rarp":
			if len(arps) == 0 {
				return truth(false), nil
			}
			return arps[0], nil
		}
		return or(append([]node{ip}, arps...)...), nil
	}
	if q.proto != "" && q.proto != "ip6" {
		return nil, fmt.Errorf("filter: %s %s with an IPv6 address", q.proto, q.kind)
	}
	a16 := pfx.Addr().As16()
	match := func(off uint32) node {
		var ts []node
		for i := 0; i < 4; i++ {
			b := pfx.Bits() - 32*i
			if b <= 0 {
				break
			}
			var mask uint32
			if b < 32 {
				mask = ^uint32(0) << (32 - b)
			}
			v := binary.BigEndian.Uint32(a16[4*i:])
			ts = append(ts, test{kind: ldAbs, off: off + uint32(4*i), size: 4, mask: mask, cond: bpf.JumpEqual, val: v & maskOr(mask)})
		}
		return and(ts...)
	}
	return and(l.v6(), combine(q.dir, match(l.nl+8), match(l.nl+24))), nil
}

// maskOr is the mask to apply to a compared value: none is all ones.
func maskOr(m uint32) uint32 {
	if m == 0 {
		return ^uint32(0)
	}
	return m
}

// port matches TCP, UDP and SCTP ports (or one of them, when qualified),
// in IPv4 packets that are not later fragments and in IPv6 packets whose
// transport header follows the fixed header.
func (l linkInfo) port(q prim) (node, error) {
	var lo, hi uint32
	var err error
	if q.kind == "portrange" {
		a, b, ok := strings.Cut(q.id, "-")
		if !ok {
			return nil, fmt.Errorf("filter: portrange %q: want LOW-HIGH", q.id)
		}
		if lo, err = parsePort(a); err != nil {
			return nil, err
		}
		if hi, err = parsePort(b); err != nil {
			return nil, err
		}
		if lo > hi {
			lo, hi = hi, lo
		}
	} else {
		if lo, err = parsePort(q.id); err != nil {
			return nil, err
		}
		hi = lo
	}
	var protos []uint32
	v4, v6 := true, true
	switch q.proto {
	case "":
		protos = []uint32{6, 17, 132}
	case "tcp", "udp", "sctp":
		protos = []uint32{protoNames[q.proto]}
	case "ip":
		protos, v6 = []uint32{6, 17, 132}, false
	case "ip6":
		protos, v4 = []uint32{6, 17, 132}, false
	default:
		return nil, fmt.Errorf("filter: %s %s is not a valid combination", q.proto, q.kind)
	}
	cmp := func(kind loadKind, off uint32) node {
		if lo == hi {
			return test{kind: kind, off: off, size: 2, cond: bpf.JumpEqual, val: lo}
		}
		return and(test{kind: kind, off: off, size: 2, cond: bpf.JumpGreaterOrEqual, val: lo},
			test{kind: kind, off: off, size: 2, cond: bpf.JumpLessOrEqual, val: hi})
	}
	var alts []node
	if v4 {
		var ps []node
		for _, p := range protos {
			ps = append(ps, eq(l.nl+9, 1, p))
		}
		notLater := notNode{test{kind: ldAbs, off: l.nl + 6, size: 2, cond: bpf.JumpBitsSet, val: 0x1fff}}
		alts = append(alts, and(l.v4(), or(ps...), notLater, combine(q.dir, cmp(ldInd, 0), cmp(ldInd, 2))))
	}
	if v6 {
		var ps []node
		for _, p := range protos {
			ps = append(ps, eq(l.nl+6, 1, p))
		}
		alts = append(alts, and(l.v6(), or(ps...), combine(q.dir, cmp(ldAbs, l.nl+40), cmp(ldAbs, l.nl+42))))
	}
	return or(alts...), nil
}

// Code generation: each node is compiled with the labels to go to when it
// holds and when it does not. Labels are always ahead of the code that
// jumps to them, as classic BPF requires.

type label int

type insn struct {
	in     bpf.Instruction // nil for a conditional jump or ja
	cond   bpf.JumpTest
	val    uint32
	jt, jf label // conditional jump targets
	ja     label // unconditional jump target (-1 none)
}

type gen struct {
	code   []insn
	labels []int // label -> instruction index
	nl     uint32
}

func (g *gen) newLabel() label {
	g.labels = append(g.labels, -1)
	return label(len(g.labels) - 1)
}

func (g *gen) place(l label) { g.labels[l] = len(g.code) }

func (g *gen) emit(in bpf.Instruction) { g.code = append(g.code, insn{in: in, ja: -1}) }

func (g *gen) compile(n node, t, f label, ipHdr uint32) {
	switch n := n.(type) {
	case andNode:
		m := g.newLabel()
		g.compile(n.a, m, f, ipHdr)
		g.place(m)
		g.compile(n.b, t, f, ipHdr)
	case orNode:
		m := g.newLabel()
		g.compile(n.a, t, m, ipHdr)
		g.place(m)
		g.compile(n.b, t, f, ipHdr)
	case notNode:
		g.compile(n.x, f, t, ipHdr)
	case truth:
		to := f
		if n {
			to = t
		}
		g.code = append(g.code, insn{ja: to})
	case test:
		switch n.kind {
		case ldAbs:
			g.emit(bpf.LoadAbsolute{Off: n.off, Size: n.size})
		case ldInd:
			g.emit(bpf.LoadMemShift{Off: ipHdr})
			g.emit(bpf.LoadIndirect{Off: ipHdr + n.off, Size: n.size})
		case ldLen:
			g.emit(bpf.LoadExtension{Num: bpf.ExtLen})
		}
		if n.mask != 0 {
			g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: n.mask})
		}
		g.code = append(g.code, insn{cond: n.cond, val: n.val, jt: t, jf: f, ja: -1})
	}
}

// generate compiles the tree into a program that returns snaplen for a
// match and 0 otherwise.
func generate(n node, snaplen uint32, nl uint32) ([]bpf.Instruction, error) {
	g := &gen{nl: nl}
	accept, reject := g.newLabel(), g.newLabel()
	g.compile(n, accept, reject, nl)
	g.place(accept)
	g.emit(bpf.RetConstant{Val: snaplen})
	g.place(reject)
	g.emit(bpf.RetConstant{Val: 0})
	out := make([]bpf.Instruction, 0, len(g.code))
	for i, c := range g.code {
		skip := func(l label) (uint32, error) {
			d := g.labels[l] - (i + 1)
			if d < 0 {
				return 0, errors.New("filter: internal error: backward jump")
			}
			return uint32(d), nil
		}
		switch {
		case c.in != nil:
			out = append(out, c.in)
		case c.ja >= 0:
			d, err := skip(c.ja)
			if err != nil {
				return nil, err
			}
			out = append(out, bpf.Jump{Skip: d})
		default:
			dt, err := skip(c.jt)
			if err != nil {
				return nil, err
			}
			df, err := skip(c.jf)
			if err != nil {
				return nil, err
			}
			if dt > 255 || df > 255 {
				return nil, errors.New("filter: expression too large for classic BPF jumps")
			}
			out = append(out, bpf.JumpIf{Cond: c.cond, Val: c.val, SkipTrue: uint8(dt), SkipFalse: uint8(df)})
		}
	}
	if len(out) > maxInsns {
		return nil, fmt.Errorf("filter: program of %d instructions is over the kernel's %d", len(out), maxInsns)
	}
	return out, nil
}

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096
