package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

type dcase struct {
	name   string
	link   capture.LinkType
	frame  []byte
	orig   int // length on the wire when the snap length cut frame
	res    Result
	kind   Kind    // for Failed
	want   Headers // for OK; Payload compared by content
	xcheck bool    // also compare with gopacket's own decode
}

// IPv6 extension headers, 8 or 24 bytes each.
func hopOpts(nh uint8) []byte { return []byte{nh, 0, 1, 4, 0, 0, 0, 0} }
func dstOpts(nh uint8) []byte { return []byte{nh, 0, 1, 4, 0, 0, 0, 0} }
func routing(nh uint8) []byte {
	return append([]byte{nh, 2, 0, 0, 0, 0, 0, 0}, make([]byte, 16)...)
}
func ah(nh uint8) []byte {
	return append([]byte{nh, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 9}, make([]byte, 12)...)
}

func decodeCases(tb testing.TB) []dcase {
	var cs []dcase
	ok := func(name string, link capture.LinkType, frame []byte, want Headers) {
		cs = append(cs, dcase{name: name, link: link, frame: frame, res: OK, want: want, xcheck: true})
	}
	nonIP := func(name string, link capture.LinkType, frame []byte) {
		cs = append(cs, dcase{name: name, link: link, frame: frame, res: NonIP})
	}
	failed := func(name string, link capture.LinkType, frame []byte, k Kind) {
		cs = append(cs, dcase{name: name, link: link, frame: frame, res: Failed, kind: k})
	}
	noX := func() { cs[len(cs)-1].xcheck = false }
	eth := capture.LinkEthernet
	e4 := ethL(layers.EthernetTypeIPv4)
	e6 := ethL(layers.EthernetTypeIPv6)
	hello := []byte("hello")
	w4 := with(wantTCP4(), func(h *Headers) { h.Payload = hello })
	w6 := with(wantTCP6(), func(h *Headers) { h.Payload = hello })
	// plainUDP is the decode of a tunnel-port datagram left undecoded.
	plainUDP := func(frame []byte, sp, dp uint16) Headers {
		tot := int(binary.BigEndian.Uint16(frame[16:])) // Ethernet pads short frames
		return Headers{Src: addr(out4a), Dst: addr(out4b), Proto: ProtoUDP, SrcPort: sp, DstPort: dp,
			IPBytes: tot, Packets: 1, Payload: frame[42 : 14+tot], PayloadLen: tot - 28}
	}

	// Link types.
	ok("ethernet", eth, build(tb, cat(layerList{e4}, tcp4())...), w4)
	ok("raw-101-v4", capture.LinkRaw, build(tb, tcp4()...), w4)
	ok("raw-101-v6", capture.LinkRaw, build(tb, tcp6()...), w6)
	ok("raw-12-v4", capture.LinkRawBSD, build(tb, tcp4()...), w4)
	noX()
	ok("raw-14-v6", capture.LinkRawOpen, build(tb, tcp6()...), w6)
	noX()
	ok("ipv4-228", capture.LinkIPv4, build(tb, tcp4()...), w4)
	ok("ipv6-229", capture.LinkIPv6, build(tb, tcp6()...), w6)
	failed("ipv4-228-carrying-v6", capture.LinkIPv4, build(tb, tcp6()...), KindBadIPVersion)
	failed("ipv6-229-carrying-v4", capture.LinkIPv6, build(tb, tcp4()...), KindBadIPVersion)
	failed("raw-bad-nibble", capture.LinkRaw, append([]byte{0x55}, make([]byte, 40)...), KindBadIPVersion)
	failed("raw-empty", capture.LinkRaw, nil, KindTruncatedIP)
	ok("null-le-v4", capture.LinkNull, build(tb, cat(layerList{&layers.Loopback{Family: layers.ProtocolFamilyIPv4}}, tcp4())...), w4)
	for _, fam := range []uint32{24, 28, 30} {
		le := binary.LittleEndian.AppendUint32(nil, fam)
		be := binary.BigEndian.AppendUint32(nil, fam)
		ok(fmt.Sprintf("null-le-v6-%d", fam), capture.LinkNull, build(tb, cat(layerList{raw(le...)}, tcp6())...), w6)
		noX()
		ok(fmt.Sprintf("null-be-v6-%d", fam), capture.LinkNull, build(tb, cat(layerList{raw(be...)}, tcp6())...), w6)
		noX()
		ok(fmt.Sprintf("loop-v6-%d", fam), capture.LinkLoop, build(tb, cat(layerList{raw(be...)}, tcp6())...), w6)
		noX()
	}
	ok("null-be-v4", capture.LinkNull, build(tb, cat(layerList{raw(0, 0, 0, 2)}, tcp4())...), w4)
	noX()
	ok("loop-v4", capture.LinkLoop, build(tb, cat(layerList{raw(0, 0, 0, 2)}, tcp4())...), w4)
	nonIP("null-other-family", capture.LinkNull, build(tb, cat(layerList{raw(7, 0, 0, 0)}, tcp4())...))
	failed("null-short", capture.LinkNull, []byte{2, 0}, KindTruncatedLink)
	ok("sll-v4", capture.LinkLinuxSLL, build(tb, cat(layerList{sll(0x0800)}, tcp4())...), w4)
	ok("sll-v6", capture.LinkLinuxSLL, build(tb, cat(layerList{sll(0x86dd)}, tcp6())...), w6)
	ok("sll-vlan", capture.LinkLinuxSLL, build(tb, cat(layerList{sll(0x8100), vlanL(5, layers.EthernetTypeIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.VLANs[0], h.NVLANs = 5, 1 }))
	noX()
	nonIP("sll-arp", capture.LinkLinuxSLL, build(tb, sll(0x0806), raw(make([]byte, 28)...)))
	nonIP("sll-802.2", capture.LinkLinuxSLL, build(tb, sll(0x0004), raw(0x42, 0x42, 3, 0, 0)))
	failed("sll-short", capture.LinkLinuxSLL, make([]byte, 15), KindTruncatedLink)
	ok("sll2-v4", capture.LinkLinuxSLL2, build(tb, cat(layerList{sll2(0x0800)}, tcp4())...), w4)
	ok("sll2-v6", capture.LinkLinuxSLL2, build(tb, cat(layerList{sll2(0x86dd)}, tcp6())...), w6)
	failed("sll2-short", capture.LinkLinuxSLL2, make([]byte, 19), KindTruncatedLink)
	failed("unsupported-link", capture.LinkType(105), build(tb, tcp4()...), KindUnsupportedLink)

	// Ethernet details.
	padded := append(build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolTCP), tcpL(40000, 443)), make([]byte, 6)...)
	ok("ethernet-padding", eth, padded, with(wantTCP4(), func(h *Headers) { h.IPBytes, h.PayloadLen = 40, 0 }))
	opt := ip4L(in4a, in4b, layers.IPProtocolTCP)
	opt.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
	ok("ipv4-options", eth, build(tb, e4, opt, tcpL(40000, 443), pay("hello")), with(w4, func(h *Headers) { h.IPBytes = 49 }))
	tso := build(tb, tcp4()...)
	tso[2], tso[3] = 0, 0
	ok("ipv4-tso-zero-length", capture.LinkRaw, tso, w4)
	noX()
	nonIP("arp", eth, build(tb, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: macB, DstProtAddress: []byte{10, 0, 0, 2}}))
	nonIP("lldp", eth, build(tb, ethL(layers.EthernetTypeLinkLayerDiscovery), raw(2, 7, 4, 1, 2, 3, 4, 5, 6, 0, 0)))
	nonIP("802.3-llc-stp", eth, build(tb, ethL(layers.EthernetType(38)), raw(0x42, 0x42, 0x03, 0, 0, 0, 0, 0)))
	failed("ethernet-short", eth, make([]byte, 13), KindTruncatedLink)

	// Transports.
	ok("udp", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolUDP), udpL(5353, 53), pay("query")),
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoUDP, SrcPort: 5353, DstPort: 53, IPBytes: 33, Packets: 1, Payload: []byte("query"), PayloadLen: 5})
	ok("icmp-echo", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, pay("ping")),
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoICMP, ICMPType: 8, IPBytes: 32, Packets: 1, Payload: []byte("ping"), PayloadLen: 4})
	ok("icmp-unreachable", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, pay("ping")),
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoICMP, ICMPType: 3, ICMPCode: 3, IPBytes: 32, Packets: 1, Payload: []byte("ping"), PayloadLen: 4})
	ok("icmpv6-echo", eth, build(tb, e6, ip6L(in6a, in6b, layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, pay("ping")),
		Headers{Src: addr(in6a), Dst: addr(in6b), IPv6: true, Proto: ProtoICMPv6, ICMPType: 128, IPBytes: 52, Packets: 1, Payload: []byte("ping"), PayloadLen: 4})
	ok("sctp", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolSCTP), &layers.SCTP{SrcPort: 5000, DstPort: 6000, VerificationTag: 1}, pay("data")),
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoSCTP, SrcPort: 5000, DstPort: 6000, IPBytes: 36, Packets: 1, Payload: []byte("data"), PayloadLen: 4})
	esp := []byte{0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad}
	ok("esp", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolESP), raw(esp...)),
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: 50, IPBytes: 30, Packets: 1, Payload: esp, PayloadLen: 10})
	noX()
	ok("ipv4-ah-tcp", eth, build(tb, cat(layerList{e4, ip4L(in4a, in4b, layers.IPProtocolAH), raw(ah(ProtoTCP)...)}, tcp4()[1:])...),
		with(w4, func(h *Headers) { h.IPBytes = 69 }))
	noX()
	udpShort := build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolUDP), udpL(5353, 53), pay("query+trailer"))
	udpShort[14+20+5] = 13 // UDP length covers "query" only
	ok("udp-length-inside-ip", eth, udpShort,
		Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoUDP, SrcPort: 5353, DstPort: 53, IPBytes: 41, Packets: 1, Payload: []byte("query"), PayloadLen: 5})
	noX()
	udpZero := build(tb, e6, ip6L(in6a, in6b, layers.IPProtocolUDP), udpL(5353, 53), pay("query"))
	udpZero[14+40+4], udpZero[14+40+5] = 0, 0 // as in jumbograms
	ok("udp-length-zero", eth, udpZero,
		Headers{Src: addr(in6a), Dst: addr(in6b), IPv6: true, Proto: ProtoUDP, SrcPort: 5353, DstPort: 53, IPBytes: 53, Packets: 1, Payload: []byte("query"), PayloadLen: 5})
	v6zero := build(tb, tcp6()...)
	v6zero[4], v6zero[5] = 0, 0
	ok("ipv6-zero-payload-length", capture.LinkRaw, v6zero, w6)
	noX()
	ok("sll-transparent-ethernet", capture.LinkLinuxSLL, build(tb, cat(layerList{sll(0x6558), e4}, tcp4())...), w4)
	noX()
	full4 := build(tb, cat(layerList{e4}, tcp4())...)
	cs = append(cs, dcase{name: "ipv4-snapped", link: eth, frame: full4[:14+42], orig: len(full4), res: OK,
		want: with(wantTCP4(), func(h *Headers) { h.Payload = []byte("he") })})
	failed("ipv4-longer-than-frame", eth, full4[:14+42], KindTruncatedIP)
	full6 := build(tb, cat(layerList{e6}, tcp6())...)
	cs = append(cs, dcase{name: "ipv6-snapped", link: eth, frame: full6[:14+60], orig: len(full6), res: OK,
		want: with(wantTCP6(), func(h *Headers) { h.Payload = []byte{} })})
	failed("ipv6-longer-than-frame", eth, full6[:14+60], KindTruncatedIP)
	failed("tcp-bad-offset", eth, func() []byte {
		f := build(tb, cat(layerList{e4}, tcp4())...)
		f[14+20+12] = 3 << 4
		return f
	}(), KindBadTransport)
	failed("tcp-offset-past-segment", eth, func() []byte {
		f := build(tb, cat(layerList{e4}, tcp4())...)
		f[14+20+12] = 7 << 4 // 28 bytes > 25 in the segment
		return f
	}(), KindBadTransport)
	failed("tcp-truncated", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolTCP), raw(make([]byte, 10)...)), KindTruncatedTransport)
	failed("udp-truncated", eth, build(tb, e4, ip4L(in4a, in4b, layers.IPProtocolUDP), raw(1, 2, 3)), KindTruncatedTransport)
	failed("ipv4-ihl-4", eth, func() []byte {
		f := build(tb, cat(layerList{e4}, tcp4())...)
		f[14] = 0x44
		return f
	}(), KindBadIPv4Header)
	failed("ipv4-length-below-ihl", eth, func() []byte {
		f := build(tb, cat(layerList{e4}, tcp4())...)
		f[14+2], f[14+3] = 0, 12
		return f
	}(), KindBadIPv4Header)
	failed("ipv4-ihl-past-capture", eth, build(tb, e4, raw(0x4f, 0, 0, 100), raw(make([]byte, 20)...)), KindTruncatedIP)
	failed("ethertype-v4-carrying-v6", eth, build(tb, cat(layerList{e4}, tcp6())...), KindBadIPVersion)
	failed("ipv4-truncated", capture.LinkRaw, []byte{0x45, 0, 0, 40, 0, 0}, KindTruncatedIP)

	// IPv6 extension headers.
	ok("ipv6-hop-routing-dst", eth, build(tb, cat(layerList{e6, ip6L(in6a, in6b, 0),
		raw(hopOpts(protoRouting)...), raw(routing(protoDstOpts)...), raw(dstOpts(ProtoTCP)...)}, tcp6()[1:])...),
		with(w6, func(h *Headers) { h.IPBytes = 65 + 8 + 24 + 8 }))
	ok("ipv6-hop-ah-dst-udp", eth, build(tb, e6, ip6L(in6a, in6b, 0),
		raw(hopOpts(protoAH)...), raw(ah(protoDstOpts)...), raw(dstOpts(ProtoUDP)...), udpL(1000, 2000), pay("x")),
		Headers{Src: addr(in6a), Dst: addr(in6b), IPv6: true, Proto: ProtoUDP, SrcPort: 1000, DstPort: 2000, IPBytes: 40 + 40 + 9, Packets: 1, Payload: []byte("x"), PayloadLen: 1})
	noX() // gopacket does not follow AH in IPv6
	ok("ipv6-esp-stops", eth, build(tb, e6, ip6L(in6a, in6b, 0), raw(hopOpts(50)...), raw(esp...)),
		Headers{Src: addr(in6a), Dst: addr(in6b), IPv6: true, Proto: 50, IPBytes: 58, Packets: 1, Payload: esp, PayloadLen: 10})
	noX()
	ok("ipv6-no-next", eth, build(tb, e6, ip6L(in6a, in6b, 60), raw(dstOpts(59)...)),
		Headers{Src: addr(in6a), Dst: addr(in6b), IPv6: true, Proto: 59, IPBytes: 48, Packets: 1})
	noX()
	ok("ipv6-atomic-fragment", eth, build(tb, cat(layerList{e6, ip6L(in6a, in6b, protoFrag), raw(ProtoTCP, 0, 0, 0, 0, 0, 0, 1)}, tcp6()[1:])...),
		with(w6, func(h *Headers) { h.IPBytes = 73 }))
	noX()
	failed("ipv6-ext-longer-than-payload", eth, build(tb, e6, ip6L(in6a, in6b, 0), raw(ProtoTCP, 10, 0, 0, 0, 0, 0, 0)), KindBadIPv6Header)
	failed("ipv6-ext-past-capture", eth, func() []byte {
		f := build(tb, e6, ip6L(in6a, in6b, 0), raw(ProtoTCP, 10, 0, 0, 0, 0, 0, 0))
		f[14+4], f[14+5] = 0, 88
		return f
	}(), KindTruncatedIP)
	failed("ipv6-truncated", capture.LinkRaw, []byte{0x60, 0, 0, 0, 0, 20, 6, 64}, KindTruncatedIP)

	// VLAN tags, any depth and type.
	tags := []layers.EthernetType{layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ, 0x9100}
	for depth := 0; depth <= 3; depth++ {
		ls := layerList{ethL(layers.EthernetTypeIPv4)}
		want := w4
		if depth > 0 {
			ls[0] = ethL(tags[depth-1])
		}
		for i := 0; i < depth; i++ {
			next := layers.EthernetTypeIPv4
			if i < depth-1 {
				next = tags[depth-2-i]
			}
			id := uint16(100 + i)
			ls = append(ls, vlanL(id, next))
			if i < 2 {
				want.VLANs[i] = id
			}
		}
		want.NVLANs = uint8(depth)
		ok(fmt.Sprintf("vlan-depth-%d", depth), eth, build(tb, cat(ls, tcp4())...), want)
		if depth == 3 {
			noX() // gopacket does not know 0x9100
		}
	}
	ok("vlan-v6", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q), vlanL(4095, layers.EthernetTypeIPv6)}, tcp6())...),
		with(w6, func(h *Headers) { h.VLANs[0], h.NVLANs = 4095, 1 }))
	nonIP("vlan-arp", eth, build(tb, ethL(layers.EthernetTypeDot1Q), vlanL(7, layers.EthernetTypeARP), raw(make([]byte, 28)...)))
	failed("vlan-truncated", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q), vlanL(7, layers.EthernetTypeIPv4)}, tcp4())...)[:16], KindTruncatedLink)

	// MPLS.
	ok("mpls-1-v4", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 100, StackBottom: true, TTL: 64}}, tcp4())...),
		with(w4, func(h *Headers) { h.MPLS, h.HasMPLS = 100, true }))
	ok("mpls-2-v6", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 200, TTL: 64},
		&layers.MPLS{Label: 300, StackBottom: true, TTL: 64}}, tcp6())...),
		with(w6, func(h *Headers) { h.MPLS, h.HasMPLS = 200, true }))
	ok("mpls-multicast-vlan", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q), vlanL(9, layers.EthernetTypeMPLSMulticast),
		&layers.MPLS{Label: 1 << 19, StackBottom: true, TTL: 1}}, tcp4())...),
		with(w4, func(h *Headers) { h.MPLS, h.HasMPLS, h.VLANs[0], h.NVLANs = 1<<19, true, 9, 1 }))
	ok("mpls-pseudowire-cw", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 16, StackBottom: true, TTL: 64},
		raw(0, 0, 0, 0), ethL(layers.EthernetTypeIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.MPLS, h.HasMPLS = 16, true }))
	noX()
	nonIP("mpls-unknown-payload", eth, build(tb, ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 16, StackBottom: true}, raw(0x91, 2, 3, 4)))
	failed("mpls-no-bottom", eth, build(tb, ethL(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 16}, &layers.MPLS{Label: 17}), KindTruncatedLink)

	// PPPoE.
	ok("pppoe-v4", eth, build(tb, cat(layerList{ethL(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, SessionId: 3},
		&layers.PPP{PPPType: layers.PPPTypeIPv4}}, tcp4())...), w4)
	ok("pppoe-v6", eth, build(tb, cat(layerList{ethL(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, SessionId: 3},
		&layers.PPP{PPPType: layers.PPPTypeIPv6}}, tcp6())...), w6)
	nonIP("pppoe-lcp", eth, build(tb, ethL(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, SessionId: 3},
		raw(0xc0, 0x21, 1, 1, 0, 4)))
	nonIP("pppoe-discovery", eth, build(tb, ethL(layers.EthernetTypePPPoEDiscovery), &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodePADI}))

	// VXLAN.
	vx := tunnel(TunnelVXLAN, 42, true, out4a, out4b, 1)
	ok("vxlan", eth, vxlanTCP4(tb), with(w4, func(h *Headers) { h.Tunnel = vx }))
	ok("vxlan-8472", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 8472),
		&layers.VXLAN{ValidIDFlag: true, VNI: 42}, e4}, tcp4())...), with(w4, func(h *Headers) { h.Tunnel = vx }))
	noX() // gopacket only knows 4789
	ok("vxlan-inner-vlan", eth, vxlanTCP4(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q), vlanL(30, layers.EthernetTypeIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel, h.VLANs[0], h.NVLANs = vx, 30, 1 }))
	ok("vxlan-outer-and-inner-vlan", eth, build(tb, cat(layerList{ethL(layers.EthernetTypeDot1Q), vlanL(10, layers.EthernetTypeIPv4),
		ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 42},
		ethL(layers.EthernetTypeDot1Q), vlanL(30, layers.EthernetTypeIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel, h.VLANs, h.NVLANs = vx, [2]uint16{10, 30}, 2 }))
	ok("vxlan-inner-v6", eth, vxlanTCP4(tb, cat(layerList{e6}, tcp6())...), with(w6, func(h *Headers) { h.Tunnel = vx }))
	nonIP("vxlan-inner-arp", eth, vxlanTCP4(tb, ethL(layers.EthernetTypeARP), raw(make([]byte, 28)...)))
	noFlag := build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 4789), raw(0, 0, 0, 0, 0, 0, 42, 0), e4}, tcp4())...)
	ok("vxlan-flag-clear-is-udp", eth, noFlag, plainUDP(noFlag, 50000, 4789))
	noX()
	garbage := vxlanTCP4(tb, e4, raw(0x45, 0, 0, 3, 1, 2, 3))
	ok("vxlan-garbage-inner-is-udp", eth, garbage, plainUDP(garbage, 50000, 4789))
	noX()
	short := build(tb, e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 4789), raw(8, 0, 0))
	ok("vxlan-short-is-udp", eth, short, plainUDP(short, 50000, 4789))
	noX()
	failed("vxlan-inner-tcp-truncated", eth, vxlanTCP4(tb, e4, ip4L(in4a, in4b, layers.IPProtocolTCP), raw(1, 2, 3)), KindTruncatedTransport)

	// Geneve.
	gn := tunnel(TunnelGeneve, 7, true, out4a, out4b, 1)
	ok("geneve-ethernet-options", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 6081),
		&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7,
			Options: []*layers.GeneveOption{{Class: 0x0102, Type: 3, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}, e4}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = gn }))
	ok("geneve-ipv4", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 6081),
		&layers.Geneve{Protocol: layers.EthernetTypeIPv4, VNI: 7}}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = gn }))
	ok("geneve-ipv6", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 6081),
		&layers.Geneve{Protocol: layers.EthernetTypeIPv6, VNI: 7}}, tcp6())...),
		with(w6, func(h *Headers) { h.Tunnel = gn }))
	gv1 := build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 6081),
		raw(0x40, 0, 0x65, 0x58, 0, 0, 7, 0), e4}, tcp4())...)
	ok("geneve-version-1-is-udp", eth, gv1, plainUDP(gv1, 50000, 6081))
	noX()
	gopt := build(tb, e4, ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 6081), raw(0x3f, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2))
	ok("geneve-options-past-end-is-udp", eth, gopt, plainUDP(gopt, 50000, 6081))
	noX()

	// GRE.
	greOuter := func(g *layers.GRE) layerList {
		return layerList{e4, ip4L(out4a, out4b, layers.IPProtocolGRE), g}
	}
	gre := tunnel(TunnelGRE, 0, false, out4a, out4b, 1)
	greKey := tunnel(TunnelGRE, 0x1234, true, out4a, out4b, 1)
	ok("gre", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4}), tcp4())...), with(w4, func(h *Headers) { h.Tunnel = gre }))
	ok("gre-key", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4, KeyPresent: true, Key: 0x1234}), tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = greKey }))
	ok("gre-seq", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4, SeqPresent: true, Seq: 9}), tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = gre }))
	ok("gre-checksum", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4, ChecksumPresent: true}), tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = gre }))
	ok("gre-checksum-key-seq", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4, ChecksumPresent: true,
		KeyPresent: true, Key: 0x1234, SeqPresent: true, Seq: 9}), tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = greKey }))
	ok("gre-transparent-ethernet", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging,
		KeyPresent: true, Key: 0x1234}), layerList{ethL(layers.EthernetTypeDot1Q), vlanL(12, layers.EthernetTypeIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel, h.VLANs[0], h.NVLANs = greKey, 12, 1 }))
	ok("gre-mpls", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeMPLSUnicast}),
		layerList{&layers.MPLS{Label: 77, StackBottom: true, TTL: 9}}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel, h.MPLS, h.HasMPLS = gre, 77, true }))
	ok("gre-ipv6-over-ipv6", eth, build(tb, cat(layerList{e6, ip6L(out6a, out6b, layers.IPProtocolGRE),
		&layers.GRE{Protocol: layers.EthernetTypeIPv6}}, tcp6())...),
		with(w6, func(h *Headers) { h.Tunnel = tunnel(TunnelGRE, 0, false, out6a, out6b, 1) }))
	ok("gre-ppp", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypePPP}), layerList{raw(0xff, 0x03, 0, 0x21)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = gre }))
	noX()
	pptp := func(name string, seq, ack bool, ppp []byte, inner layerList, want *Headers) {
		body := build(tb, cat(layerList{raw(ppp...)}, inner)...)
		g := &layers.GRE{Version: 1, Protocol: layers.EthernetTypePPP, KeyPresent: true, Key: uint32(len(body))<<16 | 0x77,
			SeqPresent: seq, Seq: 5, AckPresent: ack, Ack: 4}
		f := build(tb, greOuter(g)[0], greOuter(g)[1], g, raw(body...))
		if want == nil {
			nonIP(name, eth, f)
			return
		}
		ok(name, eth, f, *want)
		noX()
	}
	pw4 := with(w4, func(h *Headers) { h.Tunnel = tunnel(TunnelGRE, 0x77, true, out4a, out4b, 1) })
	pw6 := with(w6, func(h *Headers) { h.Tunnel = tunnel(TunnelGRE, 0x77, true, out4a, out4b, 1) })
	pptp("pptp-v4", true, false, []byte{0xff, 0x03, 0, 0x21}, tcp4(), &pw4)
	pptp("pptp-v4-seq-ack", true, true, []byte{0xff, 0x03, 0, 0x21}, tcp4(), &pw4)
	pptp("pptp-v4-acfc-pfc", true, false, []byte{0x21}, tcp4(), &pw4)
	pptp("pptp-v6", true, false, []byte{0xff, 0x03, 0, 0x57}, tcp6(), &pw6)
	pptp("pptp-v6-pfc", false, true, []byte{0xff, 0x03, 0x57}, tcp6(), &pw6)
	pptp("pptp-lcp", true, false, []byte{0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4}, nil, nil)
	pptp("pptp-ack-only", false, true, nil, nil, nil)
	failed("gre-version-2", eth, build(tb, cat(greOuter(&layers.GRE{Version: 2, Protocol: layers.EthernetTypeIPv4}), tcp4())...), KindBadTunnel)
	failed("gre-v1-without-key", eth, build(tb, cat(greOuter(&layers.GRE{Version: 1, Protocol: layers.EthernetTypePPP}), tcp4())...), KindBadTunnel)
	failed("gre-routing", eth, build(tb, cat(greOuter(&layers.GRE{RoutingPresent: true, Protocol: layers.EthernetTypeIPv4}), tcp4())...), KindBadTunnel)
	failed("gre-truncated", eth, build(tb, e4, ip4L(out4a, out4b, layers.IPProtocolGRE), raw(0x20, 0, 8, 0, 1)), KindTruncatedTransport)
	nonIP("gre-erspan", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: 0x88be, SeqPresent: true}), layerList{raw(make([]byte, 8)...)})...))

	// IP in IP.
	ok("ipip-4in4", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = tunnel(TunnelIPIP, 0, false, out4a, out4b, 1) }))
	ok("ipip-6in4", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolIPv6)}, tcp6())...),
		with(w6, func(h *Headers) { h.Tunnel = tunnel(Tunnel6in4, 0, false, out4a, out4b, 1) }))
	ok("ipip-4in6", eth, build(tb, cat(layerList{e6, ip6L(out6a, out6b, layers.IPProtocolIPv4)}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = tunnel(TunnelIPIP, 0, false, out6a, out6b, 1) }))
	ok("ipip-6in6", eth, build(tb, cat(layerList{e6, ip6L(out6a, out6b, layers.IPProtocolIPv6)}, tcp6())...),
		with(w6, func(h *Headers) { h.Tunnel = tunnel(TunnelIPIP, 0, false, out6a, out6b, 1) }))
	failed("ipip-inner-version-mismatch", eth, build(tb, cat(layerList{e4, ip4L(out4a, out4b, layers.IPProtocolIPv4)}, tcp6())...), KindBadIPVersion)

	// Nesting: the outermost tunnel is recorded, the depth counts all.
	ok("gre-carrying-vxlan", eth, build(tb, cat(greOuter(&layers.GRE{Protocol: layers.EthernetTypeIPv4}),
		layerList{ip4L("172.16.0.1", "172.16.0.2", layers.IPProtocolUDP), udpL(1, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5}, e4}, tcp4())...),
		with(w4, func(h *Headers) { h.Tunnel = tunnel(TunnelGRE, 0, false, out4a, out4b, 2) }))
	nest := func(n int) []byte {
		ls := layerList{e4}
		for i := 0; i < n; i++ {
			ls = append(ls, ip4L(out4a, out4b, layers.IPProtocolIPv4))
		}
		return build(tb, cat(ls, tcp4())...)
	}
	ok("ipip-depth-8", eth, nest(8), with(w4, func(h *Headers) { h.Tunnel = tunnel(TunnelIPIP, 0, false, out4a, out4b, 8) }))
	failed("ipip-depth-9", eth, nest(9), KindTooDeep)
	return cs
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			d := New(Config{})
			var h Headers
			p := &capture.Packet{Data: c.frame, OrigLen: max(len(c.frame), c.orig), LinkType: c.link, Timestamp: 1}
			r := d.Decode(p, &h)
			if r != c.res {
				t.Fatalf("result %v (%v), want %v (%v)", r, d.LastFailure(), c.res, c.kind)
			}
			if r == Failed {
				if d.LastFailure() != c.kind {
					t.Fatalf("failure %v, want %v", d.LastFailure(), c.kind)
				}
				if st := d.Stats(); st.Failures[c.kind] != 1 {
					t.Fatalf("failure not counted: %+v", st.Failures)
				}
				return
			}
			if d.LastFailure() != KindNone {
				t.Fatalf("LastFailure %v after %v", d.LastFailure(), r)
			}
			if r == NonIP {
				if d.Stats().NonIP != 1 {
					t.Fatal("NonIP not counted")
				}
				return
			}
			checkHeaders(t, &h, c.frame)
			if !bytes.Equal(h.Payload, c.want.Payload) {
				t.Errorf("payload %q, want %q", h.Payload, c.want.Payload)
			}
			got, want := h, c.want
			got.Payload, want.Payload = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// checkHeaders asserts what must hold for any OK decode of frame.
func checkHeaders(tb testing.TB, h *Headers, frame []byte) {
	tb.Helper()
	if h.PayloadLen < len(h.Payload) || h.PayloadLen < 0 {
		tb.Errorf("PayloadLen %d < len(Payload) %d", h.PayloadLen, len(h.Payload))
	}
	if h.Packets < 1 || h.IPBytes < 20 {
		tb.Errorf("Packets %d IPBytes %d", h.Packets, h.IPBytes)
	}
	if !h.Reassembled && len(h.Payload) > 0 && !within(h.Payload, frame) {
		tb.Errorf("payload does not alias the frame")
	}
	if !h.IPv6 && (h.Src[10] != 0xff || h.Dst[11] != 0xff) {
		tb.Errorf("IPv4 addresses not v4-mapped: %v %v", h.Src, h.Dst)
	}
	if int(h.NVLANs) < 2 && h.VLANs[1] != 0 || h.NVLANs == 0 && h.VLANs[0] != 0 {
		tb.Errorf("VLANs %v with NVLANs %d", h.VLANs, h.NVLANs)
	}
	if (h.Tunnel.Type == TunnelNone) != (h.Tunnel.Depth == 0) {
		tb.Errorf("tunnel %v depth %d", h.Tunnel.Type, h.Tunnel.Depth)
	}
	if h.Proto != ProtoTCP && (h.TCPFlags != 0 || h.Seq != 0 || h.Ack != 0) {
		tb.Errorf("TCP fields on protocol %d", h.Proto)
	}
	if h.Proto != ProtoTCP && h.Proto != ProtoUDP && h.Proto != ProtoSCTP && (h.SrcPort != 0 || h.DstPort != 0) {
		tb.Errorf("ports on protocol %d", h.Proto)
	}
}

func within(sub, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	s := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return s >= lo && s+uintptr(len(sub)) <= lo+uintptr(len(b))
}

// TestCrossCheckGopacket compares the innermost flow with gopacket's own
// decoder, where gopacket follows the same encapsulation.
func TestCrossCheckGopacket(t *testing.T) {
	n := 0
	for _, c := range decodeCases(t) {
		if !c.xcheck {
			continue
		}
		n++
		t.Run(c.name, func(t *testing.T) {
			var lt layers.LinkType
			switch c.link {
			case capture.LinkEthernet:
				lt = layers.LinkTypeEthernet
			case capture.LinkRaw, capture.LinkIPv4, capture.LinkIPv6:
				lt = layers.LinkTypeRaw // gopacket cannot decode 228/229
			case capture.LinkNull:
				lt = layers.LinkTypeNull
			case capture.LinkLoop:
				lt = layers.LinkTypeLoop
			case capture.LinkLinuxSLL:
				lt = layers.LinkTypeLinuxSLL
			case capture.LinkLinuxSLL2:
				lt = layers.LinkTypeLinuxSLL2
			default:
				t.Fatalf("no gopacket link type for %v", c.link)
			}
			pkt := gopacket.NewPacket(c.frame, lt, gopacket.Default)
			var g Headers
			last := -1
			ls := pkt.Layers()
			for i, l := range ls {
				switch ip := l.(type) {
				case *layers.IPv4:
					last = i
					setV4(&g.Src, ip.SrcIP)
					setV4(&g.Dst, ip.DstIP)
				case *layers.IPv6:
					last = i
					copy(g.Src[:], ip.SrcIP)
					copy(g.Dst[:], ip.DstIP)
				}
			}
			if last < 0 {
				t.Fatalf("gopacket found no IP layer: %v", pkt)
			}
		scan:
			for _, l := range ls[last+1:] {
				switch tl := l.(type) {
				case *layers.TCP:
					g.SrcPort, g.DstPort = uint16(tl.SrcPort), uint16(tl.DstPort)
				case *layers.UDP:
					g.SrcPort, g.DstPort = uint16(tl.SrcPort), uint16(tl.DstPort)
				case *layers.SCTP:
					g.SrcPort, g.DstPort = uint16(tl.SrcPort), uint16(tl.DstPort)
				case *layers.ICMPv4:
					g.ICMPType = tl.TypeCode.Type()
				case *layers.ICMPv6:
					g.ICMPType = tl.TypeCode.Type()
				default:
					continue
				}
				break scan
			}
			w := c.want
			if g.Src != w.Src || g.Dst != w.Dst || g.SrcPort != w.SrcPort || g.DstPort != w.DstPort || g.ICMPType != w.ICMPType {
				t.Errorf("gopacket: %v %v %d %d icmp %d\n   want: %v %v %d %d icmp %d",
					g.Src, g.Dst, g.SrcPort, g.DstPort, g.ICMPType, w.Src, w.Dst, w.SrcPort, w.DstPort, w.ICMPType)
			}
		})
	}
	if n < 40 {
		t.Fatalf("only %d cases cross-checked", n)
	}
}

// TestTruncation decodes every prefix of many frames, both as a snapped
// capture and as a frame that simply ended: nothing may panic, and any OK
// decode must be self-consistent and agree with the full decode on the
// flow it reports.
func TestTruncation(t *testing.T) {
	for _, c := range decodeCases(t) {
		if c.res != OK {
			continue
		}
		d := New(Config{})
		var full, h Headers
		if d.Decode(&capture.Packet{Data: c.frame, OrigLen: max(len(c.frame), c.orig), LinkType: c.link}, &full) != OK {
			t.Fatalf("%s: full frame does not decode", c.name)
		}
		for n := 0; n < len(c.frame); n++ {
			for _, orig := range []int{max(len(c.frame), c.orig), n} {
				frame := append([]byte(nil), c.frame[:n]...)
				r := d.Decode(&capture.Packet{Data: frame, OrigLen: orig, LinkType: c.link}, &h)
				switch r {
				case OK:
					checkHeaders(t, &h, frame)
					if h.Src == full.Src && h.Dst == full.Dst && h.Proto == full.Proto &&
						(h.SrcPort != full.SrcPort || h.DstPort != full.DstPort || h.Seq != full.Seq) {
						t.Errorf("%s[:%d]: ports %d>%d, full %d>%d", c.name, n, h.SrcPort, h.DstPort, full.SrcPort, full.DstPort)
					}
					if h.Tunnel.Type == TunnelNone && full.Tunnel.Type == TunnelNone && h.IPBytes != full.IPBytes &&
						c.name != "ipv4-tso-zero-length" && c.name != "ipv6-zero-payload-length" { // length from the capture
						t.Errorf("%s[:%d]: IPBytes %d, full %d", c.name, n, h.IPBytes, full.IPBytes)
					}
				case NonIP, Failed:
				default:
					t.Errorf("%s[:%d]: result %v", c.name, n, r)
				}
			}
		}
	}
}

func TestStatsAndStrings(t *testing.T) {
	d := New(Config{})
	var h Headers
	frame := build(t, cat(layerList{ethL(layers.EthernetTypeIPv4)}, tcp4())...)
	d.Decode(&capture.Packet{Data: frame[:40], OrigLen: len(frame), LinkType: capture.LinkEthernet}, &h)
	d.Decode(&capture.Packet{Data: frame[:10], OrigLen: 10, LinkType: capture.LinkEthernet}, &h)
	d.Decode(&capture.Packet{Data: frame, OrigLen: len(frame), LinkType: capture.LinkEthernet}, &h)
	st := d.Stats()
	if st.Frames != 3 || st.Snapped != 1 || st.Failures[KindTruncatedTransport] != 1 || st.Failures[KindTruncatedLink] != 1 {
		t.Errorf("stats %+v", st)
	}
	seen := map[string]bool{}
	for k := Kind(0); k < NumKinds; k++ {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("kind %d: name %q empty or repeated", k, s)
		}
		seen[s] = true
	}
	for _, r := range []Result{OK, NonIP, Held, Failed} {
		if seen[r.String()] || r.String() == "" {
			t.Errorf("result %d name %q", r, r)
		}
		seen[r.String()] = true
	}
}
