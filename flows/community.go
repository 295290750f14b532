package flows

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"

	"outflow/flows/decode"
)

// Community ID v1 (github.com/corelight/community-id-spec): a hash of the
// flow's endpoints that Zeek, Suricata, Arkime and Elastic agree on, so one
// flow can be pivoted on across tools.

// icmpPair maps ICMP types that form a request/response pair to the type
// of the other half; such flows are keyed like ports so both halves meet.
var icmp4Pair = map[uint8]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
var icmp6Pair = map[uint8]uint8{128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135, 139: 140, 140: 139, 144: 145, 145: 144}

// icmpPorts returns the port-equivalents of an ICMP type and code, and
// whether the message is one-way (has no counterpart type).
func icmpPorts(proto, typ, code uint8) (sport, dport uint16, oneWay bool) {
	pairs := icmp4Pair
	if proto == decode.ProtoICMPv6 {
		pairs = icmp6Pair
	}
	if other, ok := pairs[typ]; ok {
		return uint16(typ), uint16(other), false
	}
	return uint16(typ), uint16(code), true
}

func hasPorts(proto uint8) bool {
	switch proto {
	case decode.ProtoTCP, decode.ProtoUDP, decode.ProtoSCTP, decode.ProtoICMP, decode.ProtoICMPv6:
		return true
	}
	return false
}

// CommunityID computes the Community ID v1 string of a flow with the given
// seed. For ICMP/ICMPv6, sport and dport are the message type and code.
func CommunityID(seed uint16, proto uint8, src, dst decode.Addr, sport, dport uint16) string {
	var buf [64]byte
	return string(AppendCommunityID(buf[:0], seed, proto, src, dst, sport, dport))
}

// AppendCommunityID appends the Community ID v1 of a flow to dst.
func AppendCommunityID(dst []byte, seed uint16, proto uint8, src, dst2 decode.Addr, sport, dport uint16) []byte {
	oneWay := false
	if proto == decode.ProtoICMP || proto == decode.ProtoICMPv6 {
		sport, dport, oneWay = icmpPorts(proto, uint8(sport), uint8(dport))
	}
	a, b := addrBytes(&src), addrBytes(&dst2)
	if !oneWay {
		c := bytes.Compare(a, b)
		if c > 0 || (c == 0 && sport > dport) {
			a, b = b, a
			sport, dport = dport, sport
		}
	}
	var in [2 + 16 + 16 + 2 + 4]byte
	n := 0
	binary.BigEndian.PutUint16(in[n:], seed)
	n += 2
	n += copy(in[n:], a)
	n += copy(in[n:], b)
	in[n] = proto
	in[n+1] = 0
	n += 2
	if hasPorts(proto) {
		binary.BigEndian.PutUint16(in[n:], sport)
		binary.BigEndian.PutUint16(in[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(in[:n])
	dst = append(dst, '1', ':')
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// addrBytes returns the address in its own family's length: 4 bytes for
// v4-mapped addresses, else 16.
func addrBytes(a *decode.Addr) []byte {
	if IsV4(a) {
		return a[12:]
	}
	return a[:]
}

// IsV4 reports whether a holds a v4-mapped IPv4 address.
func IsV4(a *decode.Addr) bool { return [12]byte(a[:12]) == v4Prefix }
