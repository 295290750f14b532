// Package decode turns captured frames into the innermost IP and transport
// headers that key a flow: link layers, VLAN/MPLS, tunnels (VXLAN, Geneve,
// GRE, IP-in-IP, 6in4) and IPv4/IPv6 fragment reassembly.
package decode

// IP protocol numbers outflow keys flows on.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// TCP flag bits as they sit in the TCP header's flags byte.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)

// Addr is an IP address in 16-byte form. IPv4 addresses are stored
// v4-mapped (::ffff:a.b.c.d) so that one fixed-size key covers both families
// without allocating.
type Addr [16]byte

// TunnelType names the encapsulation a flow was carried in.
type TunnelType uint8

// Tunnel types, recorded on the flow under outflow.tunnel.type.
const (
	TunnelNone TunnelType = iota
	TunnelVXLAN
	TunnelGeneve
	TunnelGRE
	TunnelIPIP // IPv4 or IPv6 in IPv4 or IPv6 (protocols 4 and 41), except 6in4
	Tunnel6in4 // IPv6 in IPv4 (protocol 41)
)

func (t TunnelType) String() string {
	switch t {
	case TunnelVXLAN:
		return "vxlan"
	case TunnelGeneve:
		return "geneve"
	case TunnelGRE:
		return "gre"
	case TunnelIPIP:
		return "ipip"
	case Tunnel6in4:
		return "6in4"
	}
	return ""
}

// Tunnel describes the outermost encapsulation of a packet.
type Tunnel struct {
	Type     TunnelType
	ID       uint32 // VXLAN/Geneve VNI or GRE key; 0 when absent
	HasID    bool
	Src, Dst Addr  // outer IP endpoints of the outermost tunnel
	Depth    uint8 // number of encapsulation layers peeled
}

// Headers is one frame decoded down to its innermost IP and transport
// headers.
//
// Payload aliases the frame's bytes, or the decoder's reassembly buffer for a
// reassembled datagram, and is valid only until the next call to Decode.
type Headers struct {
	Src, Dst Addr
	IPv6     bool
	Proto    uint8  // innermost IP protocol (after IPv6 extension headers)
	SrcPort  uint16 // TCP/UDP/SCTP ports; 0 for other protocols
	DstPort  uint16
	ICMPType uint8 // ICMP/ICMPv6 type and code
	ICMPCode uint8
	TCPFlags uint8
	Seq, Ack uint32 // TCP sequence and acknowledgement numbers

	// IPBytes is the innermost IP length counted toward the flow: the IP
	// total length of the packet, or the sum over all fragments of a
	// reassembled datagram. Packets is how many captured frames this
	// decode stands for (1, or the fragment count after reassembly).
	IPBytes int
	Packets int

	Payload    []byte // transport payload as captured
	PayloadLen int    // transport payload length per the headers (>= len(Payload) when snapped)

	VLANs   [2]uint16 // outermost and second 802.1Q/802.1ad VLAN IDs
	NVLANs  uint8     // number of VLAN tags seen (may exceed 2)
	MPLS    uint32    // outermost MPLS label, valid when HasMPLS
	HasMPLS bool
	Tunnel  Tunnel

	Reassembled bool // the datagram was rebuilt from fragments
}
