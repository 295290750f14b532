package detect

import (
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

// Networks is a set of prefixes.
type Networks struct {
	prefixes []netip.Prefix
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
			n.prefixes = append(n.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return Networks{}, fmt.Errorf("network %q: %w", c, err)
		}
		n.prefixes = append(n.prefixes, p.Masked())
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
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Len is the number of prefixes.
func (n Networks) Len() int { return len(n.prefixes) }
