package detect

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestNetworksContains checks the integer matching against netip on the
// default networks plus edge prefixes, for chosen and random addresses.
func TestNetworksContains(t *testing.T) {
	cidrs := append([]string{"0.0.0.0/0", "203.0.113.7", "2001:db8::/33", "2001:db8:8000::1/128", "::/0"}, DefaultInternal...)
	for _, set := range [][]string{DefaultInternal, cidrs, {"198.51.100.0/31"}, {"2001:db8::/64"}} {
		n := MustNetworks(set)
		var ps []netip.Prefix
		for _, c := range set {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				a := netip.MustParseAddr(c)
				p = netip.PrefixFrom(a, a.BitLen())
			}
			ps = append(ps, p.Masked())
		}
		want := func(a netip.Addr) bool {
			a = a.Unmap()
			for _, p := range ps {
				if p.Contains(a) {
					return true
				}
			}
			return false
		}
		check := func(a netip.Addr) {
			if got := n.Contains(a); got != want(a) {
				t.Fatalf("%v.Contains(%v) = %v, want %v", set, a, got, !got)
			}
		}
		for _, s := range []string{"10.1.2.3", "::ffff:10.1.2.3", "172.31.255.255", "172.32.0.0", "8.8.8.8",
			"198.51.100.1", "198.51.100.2", "fd00::1", "fe80::1", "2001:db8::1", "2001:db8:7fff::1", "2001:db8:8000::1", "2001:db8:8000::2", "::", "ff02::1"} {
			check(netip.MustParseAddr(s))
		}
		check(netip.Addr{})
		r := rand.New(rand.NewPCG(1, 2))
		for range 20000 {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			check(netip.AddrFrom4([4]byte(b[:4])))
			check(netip.AddrFrom16(b))
			b[0], b[1] = 0x20, 0x01 // near 2001:db8::/33
			b[2], b[3] = 0x0d, 0xb8
			check(netip.AddrFrom16(b))
		}
	}
}
