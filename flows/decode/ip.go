package decode

import "encoding/binary"

// Throughout, b holds the captured bytes of a layer, already cut to the
// length its headers declare, and dlen is that declared length; dlen >
// len(b) only when the snap length cut the frame.

const (
	protoIPIP    = 4
	protoIPv6    = 41
	protoGRE     = 47
	protoAH      = 51
	protoHopOpts = 0
	protoRouting = 43
	protoFrag    = 44
	protoDstOpts = 60
)

// Tunnel UDP destination ports.
const (
	portVXLAN      = 4789
	portVXLANLinux = 8472 // Linux's pre-IANA default, still used by flannel
	portGeneve     = 6081
)

func setV4(a *Addr, b []byte) {
	// Two word stores: building the array byte by byte on the stack and
	// copying it stalls store forwarding on every packet.
	binary.LittleEndian.PutUint64(a[0:8], 0)
	binary.LittleEndian.PutUint64(a[8:16], 0xffff<<16|uint64(binary.LittleEndian.Uint32(b[:4]))<<32)
}

// clearTransport forgets an outer packet's transport fields when an inner
// IP header takes over.
func clearTransport(h *Headers) {
	h.SrcPort, h.DstPort = 0, 0
	h.ICMPType, h.ICMPCode = 0, 0
	h.TCPFlags, h.Seq, h.Ack = 0, 0, 0
	h.Payload, h.PayloadLen = nil, 0
}

func (d *Decoder) ip4(b []byte, h *Headers) Result {
	if len(b) < 20 {
		if len(b) > 0 && b[0]>>4 != 4 {
			return d.fail(KindBadIPVersion)
		}
		return d.fail(KindTruncatedIP)
	}
	if b[0]>>4 != 4 {
		return d.fail(KindBadIPVersion)
	}
	ihl := int(b[0]&0x0f) << 2
	if ihl < 20 {
		return d.fail(KindBadIPv4Header)
	}
	tot := int(be16(b[2:]))
	if tot == 0 {
		// Segmentation offload leaves the length for the NIC to fill in.
		tot = len(b)
	}
	if tot < ihl {
		return d.fail(KindBadIPv4Header)
	}
	if ihl > len(b) || tot > len(b) && !d.snapped {
		// Only the snap length may cut a packet; otherwise the header
		// claims bytes that were never sent and would inflate the flow.
		return d.fail(KindTruncatedIP)
	}
	if tot < len(b) {
		b = b[:tot] // Ethernet padding
	}
	d.ipSeen++
	if d.depth > 0 {
		clearTransport(h)
	}
	h.IPv6 = false
	setV4(&h.Src, b[12:16])
	setV4(&h.Dst, b[16:20])
	h.IPBytes = tot
	proto := b[9]
	h.Proto = proto
	if fo := be16(b[6:]); fo&0x3fff != 0 {
		return d.frag4(b, ihl, tot, fo, h)
	}
	return d.transport(proto, b[ihl:], tot-ihl, h)
}

func (d *Decoder) frag4(b []byte, ihl, tot int, fo uint16, h *Headers) Result {
	d.stats.Fragments++
	if len(b) < tot {
		return d.fail(KindFragTruncated)
	}
	k := fragKey{src: h.Src, dst: h.Dst, id: uint32(be16(b[4:])), proto: h.Proto}
	r, buf, _ := d.reassemble(&k, int(fo&0x1fff)<<3, fo&0x2000 != 0, b[ihl:tot], tot, h.Proto, h)
	if r != OK {
		return r
	}
	return d.transport(h.Proto, buf, len(buf), h)
}

func (d *Decoder) ip6(b []byte, h *Headers) Result {
	if len(b) < 40 {
		if len(b) > 0 && b[0]>>4 != 6 {
			return d.fail(KindBadIPVersion)
		}
		return d.fail(KindTruncatedIP)
	}
	if b[0]>>4 != 6 {
		return d.fail(KindBadIPVersion)
	}
	plen := int(be16(b[4:]))
	if plen == 0 {
		// Jumbogram or segmentation offload: trust the capture.
		plen = len(b) - 40
	}
	if tot := 40 + plen; tot < len(b) {
		b = b[:tot]
	} else if tot > len(b) && !d.snapped {
		return d.fail(KindTruncatedIP)
	}
	d.ipSeen++
	if d.depth > 0 {
		clearTransport(h)
	}
	h.IPv6 = true
	copy(h.Src[:], b[8:24])
	copy(h.Dst[:], b[24:40])
	h.IPBytes = 40 + plen
	return d.ip6ext(b[6], b[40:], plen, h, true)
}

// ip6ext walks IPv6 extension headers to the upper-layer protocol. Each
// header consumes at least 8 bytes, so the walk is bounded by the packet.
func (d *Decoder) ip6ext(nh uint8, b []byte, dlen int, h *Headers, fragOK bool) Result {
	for {
		var n int
		switch nh {
		case protoHopOpts, protoRouting, protoDstOpts, protoAH, protoFrag:
			if len(b) < 8 {
				if dlen < 8 {
					return d.fail(KindBadIPv6Header)
				}
				return d.fail(KindTruncatedIP)
			}
		default:
			h.Proto = nh
			return d.transport(nh, b, dlen, h)
		}
		switch nh {
		case protoAH:
			n = (int(b[1]) + 2) << 2
		case protoFrag:
			fo := be16(b[2:])
			off, more := int(fo&0xfff8), fo&1 != 0
			if off == 0 && !more {
				n = 8 // atomic fragment (RFC 6946): not really fragmented
				break
			}
			h.Proto = b[0]
			if !fragOK {
				d.stats.Fragments++
				return d.fail(KindBadFragment) // fragment inside a reassembled datagram
			}
			return d.frag6(b, dlen, off, more, h)
		default:
			n = (int(b[1]) + 1) << 3
		}
		if n > dlen {
			return d.fail(KindBadIPv6Header)
		}
		if n > len(b) {
			return d.fail(KindTruncatedIP)
		}
		nh = b[0]
		b, dlen = b[n:], dlen-n
	}
}

func (d *Decoder) frag6(b []byte, dlen, off int, more bool, h *Headers) Result {
	d.stats.Fragments++
	if len(b) < dlen {
		return d.fail(KindFragTruncated)
	}
	k := fragKey{src: h.Src, dst: h.Dst, id: be32(b[4:]), v6: true}
	r, buf, proto := d.reassemble(&k, off, more, b[8:], h.IPBytes, b[0], h)
	if r != OK {
		return r
	}
	return d.ip6ext(proto, buf, len(buf), h, false)
}

// transport decodes the upper-layer header, peeling IP-borne tunnels.
func (d *Decoder) transport(proto uint8, b []byte, dlen int, h *Headers) Result {
	for proto == protoAH {
		// AH in IPv4 (IPv6 handles it among extension headers); chains
		// consume at least 8 bytes per header.
		if len(b) < 8 {
			return d.fail(KindTruncatedTransport)
		}
		n := (int(b[1]) + 2) << 2
		if n > len(b) {
			return d.fail(KindTruncatedTransport)
		}
		proto = b[0]
		b, dlen = b[n:], dlen-n
	}
	h.Proto = proto
	switch proto {
	case ProtoTCP:
		if len(b) < 20 {
			return d.fail(KindTruncatedTransport)
		}
		off := int(b[12]>>4) << 2
		if off < 20 || off > dlen {
			return d.fail(KindBadTransport)
		}
		h.SrcPort, h.DstPort = be16(b), be16(b[2:])
		h.Seq, h.Ack = be32(b[4:]), be32(b[8:])
		h.TCPFlags = b[13]
		if off <= len(b) {
			h.Payload = b[off:]
		}
		h.PayloadLen = dlen - off
		return OK
	case ProtoUDP:
		return d.udp(b, dlen, h)
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 4 {
			return d.fail(KindTruncatedTransport)
		}
		h.ICMPType, h.ICMPCode = b[0], b[1]
		if len(b) >= 8 {
			h.Payload = b[8:]
		}
		if dlen > 8 {
			h.PayloadLen = dlen - 8
		}
		return OK
	case ProtoSCTP:
		if len(b) < 12 {
			return d.fail(KindTruncatedTransport)
		}
		h.SrcPort, h.DstPort = be16(b), be16(b[2:])
		h.Payload, h.PayloadLen = b[12:], dlen-12
		return OK
	case protoGRE:
		return d.gre(b, h)
	case protoIPIP:
		if !d.enterTunnel(TunnelIPIP, 0, false, h) {
			return Failed
		}
		return d.ip4(b, h)
	case protoIPv6:
		t := TunnelIPIP
		if !h.IPv6 {
			t = Tunnel6in4
		}
		if !d.enterTunnel(t, 0, false, h) {
			return Failed
		}
		return d.ip6(b, h)
	}
	// ESP, no-next-header, OSPF...: a flow without ports.
	h.Payload, h.PayloadLen = b, dlen
	return OK
}

func (d *Decoder) udp(b []byte, dlen int, h *Headers) Result {
	if len(b) < 8 {
		return d.fail(KindTruncatedTransport)
	}
	// The UDP length is trusted only when it fits inside the IP payload;
	// zero (IPv6 jumbograms) or larger values fall back to the IP length.
	if ulen := int(be16(b[4:])); ulen >= 8 && ulen < dlen {
		dlen = ulen
		if ulen < len(b) {
			b = b[:ulen]
		}
	}
	dp := be16(b[2:])
	h.SrcPort, h.DstPort = be16(b), dp
	h.Payload, h.PayloadLen = b[8:], dlen-8
	switch dp {
	case portVXLAN, portVXLANLinux, portGeneve:
		return d.udpTunnel(dp, b[8:], h)
	}
	return OK
}

// udpTunnel peels VXLAN or Geneve. Ports are only a hint: when the payload
// does not look like the tunnel, or what it carries fails before reaching
// an IP header, the packet stays a plain UDP datagram.
func (d *Decoder) udpTunnel(port uint16, b []byte, h *Headers) Result {
	if len(b) < 8 {
		return OK
	}
	t, et := TunnelVXLAN, uint16(etTransEth)
	inner := b[8:]
	if port == portGeneve {
		if b[0]>>6 != 0 {
			return OK // unknown version
		}
		n := 8 + int(b[0]&0x3f)<<2
		if n > len(b) {
			return OK
		}
		t, et, inner = TunnelGeneve, be16(b[2:]), b[n:]
	} else if b[0]&0x08 == 0 {
		return OK // VNI flag clear
	}
	saved := *h
	depth, seen := d.depth, d.ipSeen
	if !d.enterTunnel(t, be32(b[4:])>>8, true, h) {
		return Failed
	}
	var r Result
	if et == etTransEth {
		r = d.ether(inner, h)
	} else {
		r = d.ethertype(et, inner, h)
	}
	if r == Failed && d.kind != KindTooDeep && d.ipSeen == seen {
		*h = saved
		d.depth, d.kind = depth, KindNone
		return OK
	}
	return r
}

// gre peels GRE (RFC 2784/2890) and PPTP's enhanced GRE (RFC 2637).
func (d *Decoder) gre(b []byte, h *Headers) Result {
	if len(b) < 4 {
		return d.fail(KindTruncatedTransport)
	}
	flags, et := be16(b), be16(b[2:])
	n := 4
	var id uint32
	hasID := false
	switch flags & 7 {
	case 0:
		if flags&0x4000 != 0 {
			return d.fail(KindBadTunnel) // RFC 1701 source routing: obsolete
		}
		if flags&0x8000 != 0 {
			n += 4 // checksum + reserved
		}
		if flags&0x2000 != 0 {
			if len(b) < n+4 {
				return d.fail(KindTruncatedTransport)
			}
			id, hasID = be32(b[n:]), true
			n += 4
		}
		if flags&0x1000 != 0 {
			n += 4
		}
	case 1:
		// Key always present: payload length, then call ID, which is what
		// identifies the PPTP session.
		if flags&0x2000 == 0 || flags&0xc000 != 0 || et != etPPP {
			return d.fail(KindBadTunnel)
		}
		if len(b) < 8 {
			return d.fail(KindTruncatedTransport)
		}
		id, hasID = uint32(be16(b[6:])), true
		n = 8
		if flags&0x1000 != 0 {
			n += 4
		}
		if flags&0x0080 != 0 {
			n += 4 // acknowledgement number
		}
		if plen := int(be16(b[4:])); n+plen < len(b) {
			b = b[:n+plen]
		}
	default:
		return d.fail(KindBadTunnel)
	}
	if n > len(b) {
		return d.fail(KindTruncatedTransport)
	}
	if !d.enterTunnel(TunnelGRE, id, hasID, h) {
		return Failed
	}
	b = b[n:]
	if flags&7 == 1 && len(b) == 0 {
		return NonIP // PPTP acknowledgement without payload
	}
	if et == etTransEth {
		return d.ether(b, h)
	}
	return d.ethertype(et, b, h)
}
