package synth

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

// framer turns one transport header plus payload into a link-layer frame.
// One framer belongs to one Writer; its layer structs and buffers are reused
// for every packet so that generation does not allocate per packet.
type framer struct {
	buf  gopacket.SerializeBuffer
	opts gopacket.SerializeOptions
	ls   []gopacket.SerializableLayer

	links []capture.LinkType // by interface index

	eth, ethIn layers.Ethernet
	dot1q      [maxVLANs]layers.Dot1Q
	sll        sllHeader
	ip4, ip4o  layers.IPv4
	ip6, ip6o  layers.IPv6
	udpo       layers.UDP
	vxlan      layers.VXLAN
	tcp        layers.TCP
	udp        layers.UDP
	icmp4      layers.ICMPv4
	icmp6      layers.ICMPv6
	icmp6echo  layers.ICMPv6Echo
	payload    gopacket.Payload
	scratch    []byte // payload bytes of the packet being built

	synOpts [4]layers.TCPOption
	mssData [2]byte
	wsData  [1]byte
}

func newFramer(links []capture.LinkType) *framer {
	f := &framer{
		buf:     gopacket.NewSerializeBufferExpectedSize(128, 2048),
		opts:    gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ls:      make([]gopacket.SerializableLayer, 0, 16),
		links:   links,
		scratch: make([]byte, 0, 65536),
	}
	// Linux's SYN options without timestamps: MSS, SACK permitted, window
	// scale (NOP padding is added by the serializer).
	f.synOpts = [4]layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: f.mssData[:]},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: f.wsData[:]},
	}
	return f
}

// l4 selects the transport layer a frame carries.
type l4 uint8

const (
	l4TCP l4 = iota
	l4UDP
	l4ICMP // ICMPv4 or ICMPv6 echo, by address family
)

// frame serialises the frame for a packet of path p sent in direction d.
// The caller has filled the transport struct selected by t (f.tcp, f.udp,
// f.icmp4 or f.icmp6/f.icmp6echo; ports are set here) and f.scratch with the
// payload. It returns the frame (valid until the next call) and the length
// of the (inner) IP packet.
func (f *framer) frame(p *path, d Dir, t l4) ([]byte, int, error) {
	if p.iface < 0 || p.iface >= len(f.links) {
		return nil, 0, fmt.Errorf("flow uses interface %d, writer has %d", p.iface, len(f.links))
	}
	link := f.links[p.iface]
	src, dst := d, d.other()
	ls := f.ls[:0]

	// Link layer of the captured frame.
	innerType := layers.EthernetTypeIPv4
	if p.v6 {
		innerType = layers.EthernetTypeIPv6
	}
	firstType := innerType
	if p.vx {
		firstType = layers.EthernetTypeIPv4
		if p.vxV6 {
			firstType = layers.EthernetTypeIPv6
		}
	}
	switch link {
	case capture.LinkEthernet:
		f.eth = layers.Ethernet{SrcMAC: p.mac[src], DstMAC: p.mac[dst], EthernetType: firstType}
		if p.vx {
			f.eth.SrcMAC, f.eth.DstMAC = p.vxMAC[src], p.vxMAC[dst]
		}
		ls = append(ls, &f.eth)
		for i, id := range p.vlans {
			if i == 0 {
				f.eth.EthernetType = layers.EthernetTypeDot1Q
			}
			next := firstType
			if i+1 < len(p.vlans) {
				next = layers.EthernetTypeDot1Q
			}
			f.dot1q[i] = layers.Dot1Q{VLANIdentifier: id, Type: next}
			ls = append(ls, &f.dot1q[i])
		}
	case capture.LinkLinuxSLL:
		if len(p.vlans) > 0 {
			return nil, 0, fmt.Errorf("VLAN tags on a %v interface", link)
		}
		// Packets the container host sends are "outgoing", replies are
		// addressed to it.
		f.sll = sllHeader{pktType: 0, addr: p.mac[src], proto: uint16(firstType)}
		if d == ToServer {
			f.sll.pktType = 4
		}
		ls = append(ls, &f.sll)
	case capture.LinkRaw:
		if len(p.vlans) > 0 {
			return nil, 0, fmt.Errorf("VLAN tags on a %v interface", link)
		}
	default:
		return nil, 0, fmt.Errorf("cannot build frames for link type %v", link)
	}

	if p.vx {
		var outer gopacket.NetworkLayer
		if p.vxV6 {
			f.ip6o = layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
				SrcIP: p.vxIP[src], DstIP: p.vxIP[dst]}
			outer = &f.ip6o
			ls = append(ls, &f.ip6o)
		} else {
			f.ip4o = layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
				Flags: layers.IPv4DontFragment, SrcIP: p.vxIP[src], DstIP: p.vxIP[dst]}
			outer = &f.ip4o
			ls = append(ls, &f.ip4o)
		}
		f.udpo = layers.UDP{SrcPort: layers.UDPPort(p.vxPort), DstPort: 4789}
		if err := f.udpo.SetNetworkLayerForChecksum(outer); err != nil {
			return nil, 0, err
		}
		f.vxlan = layers.VXLAN{ValidIDFlag: true, VNI: p.vni}
		f.ethIn = layers.Ethernet{SrcMAC: p.mac[src], DstMAC: p.mac[dst], EthernetType: innerType}
		ls = append(ls, &f.udpo, &f.vxlan, &f.ethIn)
	}

	// Network layer.
	var proto layers.IPProtocol
	switch t {
	case l4TCP:
		proto = layers.IPProtocolTCP
	case l4UDP:
		proto = layers.IPProtocolUDP
	case l4ICMP:
		proto = layers.IPProtocolICMPv4
		if p.v6 {
			proto = layers.IPProtocolICMPv6
		}
	}
	var nl gopacket.NetworkLayer
	if p.v6 {
		f.ip6 = layers.IPv6{Version: 6, HopLimit: p.ttl[src], NextHeader: proto,
			FlowLabel: p.flowLabel, SrcIP: p.ip[src], DstIP: p.ip[dst]}
		nl = &f.ip6
		ls = append(ls, &f.ip6)
	} else {
		f.ip4 = layers.IPv4{Version: 4, TTL: p.ttl[src], Protocol: proto, Id: p.ipid[src],
			Flags: layers.IPv4DontFragment, SrcIP: p.ip[src], DstIP: p.ip[dst]}
		nl = &f.ip4
		ls = append(ls, &f.ip4)
	}
	p.ipid[src]++

	// Transport layer.
	var err error
	switch t {
	case l4TCP:
		f.tcp.SrcPort, f.tcp.DstPort = layers.TCPPort(p.port[src]), layers.TCPPort(p.port[dst])
		err = f.tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, &f.tcp)
	case l4UDP:
		f.udp = layers.UDP{SrcPort: layers.UDPPort(p.port[src]), DstPort: layers.UDPPort(p.port[dst])}
		err = f.udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, &f.udp)
	case l4ICMP:
		if p.v6 {
			err = f.icmp6.SetNetworkLayerForChecksum(nl)
			ls = append(ls, &f.icmp6, &f.icmp6echo)
		} else {
			ls = append(ls, &f.icmp4)
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("checksum layer: %w", err)
	}
	f.payload = f.scratch
	ls = append(ls, &f.payload)
	f.ls = ls

	if err := gopacket.SerializeLayers(f.buf, f.opts, ls...); err != nil {
		return nil, 0, fmt.Errorf("serialize: %w", err)
	}
	ipLen := int(f.ip4.Length)
	if p.v6 {
		ipLen = 40 + int(f.ip6.Length)
	}
	return f.buf.Bytes(), ipLen, nil
}

// sllHeader is a Linux cooked capture (v1) header, which gopacket decodes
// but cannot serialise.
type sllHeader struct {
	pktType uint16
	addr    []byte
	proto   uint16
}

func (h *sllHeader) LayerType() gopacket.LayerType { return layers.LayerTypeLinuxSLL }

func (h *sllHeader) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	bs, err := b.PrependBytes(16)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(bs[0:], h.pktType)
	binary.BigEndian.PutUint16(bs[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(bs[4:], uint16(len(h.addr)))
	clear(bs[6:14])
	copy(bs[6:14], h.addr)
	binary.BigEndian.PutUint16(bs[14:], h.proto)
	return nil
}

// grow returns b resized to n bytes, reallocating only when n exceeds its
// capacity (datagrams beyond the preallocated 64 KiB).
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
