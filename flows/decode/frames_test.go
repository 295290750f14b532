package decode

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame builders shared by the tests, benchmarks and fuzz seeds. Frames are
// built with gopacket's serializers; headers gopacket cannot write (Linux
// cooked headers, IPv6 extension headers, odd PPP forms) are spelled out
// as bytes.

type layerList = []gopacket.SerializableLayer

func build(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func cat(parts ...layerList) layerList {
	var out layerList
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func ethL(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func vlanL(id uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: next}
}

func ip4L(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 7, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6L(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcpL(sp, dp uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp),
		Seq: 1000, Ack: 2000, SYN: true, ACK: true, Window: 1024}
}

func udpL(sp, dp uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

func raw(b ...byte) gopacket.Payload { return gopacket.Payload(b) }

func pay(s string) gopacket.Payload { return gopacket.Payload(s) }

// The inner flow most cases carry.
const (
	in4a, in4b = "10.0.0.1", "10.0.0.2"
	in6a, in6b = "2001:db8::1", "2001:db8::2"
	out4a      = "192.0.2.1"
	out4b      = "192.0.2.2"
	out6a      = "2001:db8:ffff::1"
	out6b      = "2001:db8:ffff::2"
)

func tcp4() layerList {
	return layerList{ip4L(in4a, in4b, layers.IPProtocolTCP), tcpL(40000, 443), pay("hello")}
}

func tcp6() layerList {
	return layerList{ip6L(in6a, in6b, layers.IPProtocolTCP), tcpL(40000, 443), pay("hello")}
}

func addr(s string) Addr {
	return Addr(netip.MustParseAddr(s).As16())
}

// wantTCP4 is the decode of tcp4().
func wantTCP4() Headers {
	return Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoTCP, SrcPort: 40000, DstPort: 443,
		TCPFlags: TCPSyn | TCPAck, Seq: 1000, Ack: 2000, IPBytes: 45, Packets: 1, PayloadLen: 5}
}

func wantTCP6() Headers {
	h := wantTCP4()
	h.Src, h.Dst, h.IPv6, h.IPBytes = addr(in6a), addr(in6b), true, 65
	return h
}

// with returns h changed by f, for table entries.
func with(h Headers, f func(*Headers)) Headers {
	f(&h)
	return h
}

func tunnel(t TunnelType, id uint32, hasID bool, src, dst string, depth uint8) Tunnel {
	return Tunnel{Type: t, ID: id, HasID: hasID, Src: addr(src), Dst: addr(dst), Depth: depth}
}

// vxlanTCP4 is 192.0.2.1 -> 192.0.2.2 VXLAN VNI 42 carrying Ethernet/tcp4.
func vxlanTCP4(tb testing.TB, inner ...gopacket.SerializableLayer) []byte {
	if inner == nil {
		inner = cat(layerList{ethL(layers.EthernetTypeIPv4)}, tcp4())
	}
	return build(tb, cat(layerList{ethL(layers.EthernetTypeIPv4), ip4L(out4a, out4b, layers.IPProtocolUDP),
		udpL(50000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 42}}, inner)...)
}

// sll returns a Linux cooked v1 header for protocol et.
func sll(et uint16) gopacket.Payload {
	b := make([]byte, 16)
	binary.BigEndian.PutUint16(b[0:], 4) // sent by us
	binary.BigEndian.PutUint16(b[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(b[4:], 6)
	copy(b[6:], macA)
	binary.BigEndian.PutUint16(b[14:], et)
	return b
}

// sll2 returns a Linux cooked v2 header for protocol et.
func sll2(et uint16) gopacket.Payload {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], et)
	binary.BigEndian.PutUint32(b[4:], 3) // ifindex
	binary.BigEndian.PutUint16(b[8:], 1)
	b[10], b[11] = 4, 6
	copy(b[12:], macA)
	return b
}

// fragment4 splits an IPv4 datagram's payload into fragments of at most
// size bytes (a multiple of 8), each wrapped in Ethernet.
func fragments4(tb testing.TB, id uint16, proto layers.IPProtocol, payload []byte, size int, outer ...gopacket.SerializableLayer) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		ip := ip4L(in4a, in4b, proto)
		ip.Id = id
		ip.FragOffset = uint16(off / 8)
		if end < len(payload) {
			ip.Flags = layers.IPv4MoreFragments
		}
		ls := cat(outer, layerList{ip, gopacket.Payload(payload[off:end])})
		if outer == nil {
			ls = cat(layerList{ethL(layers.EthernetTypeIPv4)}, ls)
		}
		out = append(out, build(tb, ls...))
	}
	return out
}

// fragments6 does the same for IPv6, with a hop-by-hop header in the
// unfragmentable part.
func fragments6(tb testing.TB, id uint32, nh uint8, payload []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		fh := make([]byte, 8)
		fh[0] = nh
		fo := uint16(off)
		if end < len(payload) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		hop := []byte{protoFrag, 0, 1, 4, 0, 0, 0, 0}
		out = append(out, build(tb, ethL(layers.EthernetTypeIPv6), ip6L(in6a, in6b, layers.IPProtocolIPv6HopByHop),
			gopacket.Payload(append(hop, fh...)), gopacket.Payload(payload[off:end])))
	}
	return out
}

// udpDatagram is a UDP header and body from port 5353 to 53, to fragment.
func udpDatagram(n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[0:], 5353)
	binary.BigEndian.PutUint16(b[2:], 53)
	binary.BigEndian.PutUint16(b[4:], uint16(min(len(b), 0xffff)))
	for i := 8; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}
