package detect

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// DefaultInternal are the networks treated as internal unless configured:
// RFC 1918, RFC 6598 shared address space, loopback, link-local, IPv6 ULA,
// and the unspecified and multicast ranges (not destinations anyone
// exfiltrates to).
var DefaultInternal = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/32", "224.0.0.0/4", "255.255.255.255/32",
	"::1/128", "fe80::/10", "fc00::/7", "::/128", "ff00::/8",
}

// Networks is a set of prefixes. Contains runs for every flow event, so the
// prefixes are also kept as masked integers.
type Networks struct {
	prefixes []netip.Prefix
	v4       []net4
	v6       []net6
}

type net4 struct{ addr, mask uint32 }
type net6 struct{ hi, lo, mhi, mlo uint64 }

func (n *Networks) add(p netip.Prefix) {
	p = p.Masked()
	n.prefixes = append(n.prefixes, p)
	bits := p.Bits()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		// A shift by 32 gives 0: /0 matches everything.
		n.v4 = append(n.v4, net4{binary.BigEndian.Uint32(a[:]), ^uint32(0) << (32 - bits)})
		return
	}
	a := p.Addr().As16()
	var mhi, mlo uint64
	switch {
	case bits == 0:
	case bits <= 64:
		mhi = ^uint64(0) << (64 - bits)
	default:
		mhi, mlo = ^uint64(0), ^uint64(0)<<(128-bits)
	}
	n.v6 = append(n.v6, net6{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), mhi, mlo})
}

// ParseNetworks parses CIDR prefixes (a bare address is a host prefix).
func ParseNetworks(cidrs []string) (Networks, error) {
	var n Networks
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return Networks{}, fmt.Errorf("network %q: %w", c, err)
			}
			n.add(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Networks{}, fmt.Errorf("network %q: %w", c, err)
		}
		n.add(p)
	}
	return n, nil
}

// MustNetworks is ParseNetworks for constants.
func MustNetworks(cidrs []string) Networks {
	n, err := ParseNetworks(cidrs)
	if err != nil {
		panic(err)
	}
	return n
}

// Contains reports whether a is in any prefix. IPv4-mapped IPv6 addresses
// match IPv4 prefixes.
func (n Networks) Contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		for _, p := range n.v4 {
			if x&p.mask == p.addr {
				return true
			}
		}
		return false
	}
	if !a.IsValid() {
		return false
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for _, p := range n.v6 {
		if hi&p.mhi == p.hi && lo&p.mlo == p.lo {
			return true
		}
	}
	return false
}

// Len is the number of prefixes.
func (n Networks) Len() int { return len(n.prefixes) }
