package decode

import (
	"encoding/binary"
	"fmt"

	"outflow/capture"
)

// Config bounds the decoder's state. Zero fields take the defaults.
type Config struct {
	MaxFragDatagrams int   // datagrams being reassembled at once (default 4096)
	MaxFragBytes     int   // bytes of fragment buffers held across all of them (default 16 MiB, at least 64 KiB)
	FragTimeout      int64 // ns of packet time before an incomplete datagram is dropped (default 30s)
	MaxDepth         int   // encapsulation layers followed (default 8)
}

const (
	defaultMaxFragDatagrams = 4096
	defaultMaxFragBytes     = 16 << 20
	defaultFragTimeout      = 30e9
	defaultMaxDepth         = 8
)

// Result is what Decode made of a frame.
type Result uint8

const (
	// OK: h holds the innermost IP and transport headers.
	OK Result = iota
	// NonIP: a well-formed frame that carries no IP flow (ARP, LLDP, STP,
	// PPP control...). Counted, not an error.
	NonIP
	// Held: an IP fragment kept for reassembly; h is not usable yet.
	Held
	// Failed: the frame is malformed or cut short; LastFailure says why.
	Failed
)

func (r Result) String() string {
	switch r {
	case OK:
		return "ok"
	case NonIP:
		return "non-ip"
	case Held:
		return "held"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("result-%d", uint8(r))
}

// Kind is why a frame failed to decode.
type Kind uint8

// Failure kinds. The truncated-* kinds mean the bytes ran out; the bad-*
// kinds mean a header contradicts itself.
const (
	KindNone               Kind = iota
	KindTruncatedLink           // link, VLAN, MPLS or PPP header cut short
	KindUnsupportedLink         // capture link type this decoder does not know
	KindTruncatedIP             // IP header or IPv6 extension header cut short
	KindBadIPVersion            // IP version nibble does not match the link's claim
	KindBadIPv4Header           // IHL < 5 or total length < header length
	KindBadIPv6Header           // extension header longer than the payload length
	KindTruncatedTransport      // TCP/UDP/SCTP/ICMP/GRE header cut short
	KindBadTransport            // TCP data offset < 5 or beyond the segment
	KindBadTunnel               // GRE version/flags this decoder cannot follow
	KindTooDeep                 // more encapsulation layers than Config.MaxDepth
	KindFragOverlap             // fragment entirely covered by data already held
	KindFragTooBig              // fragment ends beyond 65535 bytes
	KindBadFragment             // fragment contradicts the datagram's known length
	KindFragTruncated           // fragment cut by the snap length: cannot be reassembled
	KindFragNoRoom              // datagram dropped: too many holes or no buffer space
	NumKinds
)

var kindNames = [NumKinds]string{
	KindNone:               "none",
	KindTruncatedLink:      "truncated-link",
	KindUnsupportedLink:    "unsupported-link",
	KindTruncatedIP:        "truncated-ip",
	KindBadIPVersion:       "bad-ip-version",
	KindBadIPv4Header:      "bad-ipv4-header",
	KindBadIPv6Header:      "bad-ipv6-header",
	KindTruncatedTransport: "truncated-transport",
	KindBadTransport:       "bad-transport-header",
	KindBadTunnel:          "bad-tunnel",
	KindTooDeep:            "too-deep",
	KindFragOverlap:        "frag-overlap",
	KindFragTooBig:         "frag-too-big",
	KindBadFragment:        "bad-fragment",
	KindFragTruncated:      "frag-truncated",
	KindFragNoRoom:         "frag-no-room",
}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Stats counts what the decoder has seen since New.
type Stats struct {
	Frames       uint64 // calls to Decode
	NonIP        uint64 // frames that returned NonIP
	Snapped      uint64 // frames cut by the snap length (Packet.Truncated)
	Fragments    uint64 // IPv4/IPv6 fragments seen (atomic IPv6 fragments excluded)
	Reassembled  uint64 // datagrams completed
	FragExpired  uint64 // incomplete datagrams dropped by FragTimeout
	FragEvicted  uint64 // incomplete datagrams dropped to make room
	FragOverlaps uint64 // fragments that overlapped data already held (first copy wins)
	Failures     [NumKinds]uint64
}

// Decoder decodes frames down to their innermost IP flow. It keeps
// reassembly state between calls and is not safe for concurrent use.
type Decoder struct {
	maxDepth int
	stats    Stats
	last     Kind

	// Per-call state.
	kind    Kind   // failure kind of the decode in progress
	snapped bool   // the snap length cut this frame
	depth   int    // encapsulation layers entered so far
	ipSeen  uint32 // IP headers accepted so far; tells a real tunnel from a lookalike
	now     int64

	frag fragTable
	// out holds completed datagrams; one per nesting level, since a
	// reassembled outer datagram can carry an inner one that completes too.
	out     [][]byte
	outUsed int
}

// New returns a decoder with cfg's limits.
func New(cfg Config) *Decoder {
	if cfg.MaxFragDatagrams <= 0 {
		cfg.MaxFragDatagrams = defaultMaxFragDatagrams
	}
	if cfg.MaxFragBytes <= 0 {
		cfg.MaxFragBytes = defaultMaxFragBytes
	}
	if cfg.FragTimeout <= 0 {
		cfg.FragTimeout = defaultFragTimeout
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = defaultMaxDepth
	}
	d := &Decoder{maxDepth: cfg.MaxDepth}
	d.frag.init(cfg, &d.stats)
	return d
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats { return d.stats }

// LastFailure is why the last Decode returned Failed, or KindNone if it did not.
func (d *Decoder) LastFailure() Kind { return d.last }

// Expire drops incomplete datagrams whose first fragment is older than
// FragTimeout at packet time now. Decode does this lazily too; call it when
// the input goes quiet.
func (d *Decoder) Expire(now int64) {
	d.frag.expire(now)
}

// Decode fills h with p's innermost IP and transport headers. h is reset
// first. h.Payload aliases p.Data or the decoder's reassembly buffer and is
// valid until the next call.
func (d *Decoder) Decode(p *capture.Packet, h *Headers) Result {
	*h = Headers{Packets: 1}
	d.stats.Frames++
	d.snapped = p.OrigLen > len(p.Data)
	if d.snapped {
		d.stats.Snapped++
	}
	d.kind = KindNone
	d.depth = 0
	d.outUsed = 0
	d.now = p.Timestamp
	if d.frag.head >= 0 && d.now-d.frag.dg[d.frag.head].first > d.frag.timeout {
		d.frag.expire(d.now)
	}

	var r Result
	b := p.Data
	switch p.LinkType {
	case capture.LinkEthernet:
		r = d.ether(b, h)
	case capture.LinkRaw, capture.LinkRawBSD, capture.LinkRawOpen:
		r = d.ipAny(b, h)
	case capture.LinkIPv4:
		r = d.ip4(b, h)
	case capture.LinkIPv6:
		r = d.ip6(b, h)
	case capture.LinkNull, capture.LinkLoop:
		r = d.null(b, h)
	case capture.LinkLinuxSLL:
		if len(b) < 16 {
			r = d.fail(KindTruncatedLink)
		} else {
			r = d.cooked(be16(b[14:]), b[16:], h)
		}
	case capture.LinkLinuxSLL2:
		if len(b) < 20 {
			r = d.fail(KindTruncatedLink)
		} else {
			r = d.cooked(be16(b), b[20:], h)
		}
	default:
		r = d.fail(KindUnsupportedLink)
	}

	d.last = KindNone
	switch r {
	case NonIP:
		d.stats.NonIP++
	case Failed:
		d.stats.Failures[d.kind]++
		d.last = d.kind
	}
	return r
}

func (d *Decoder) fail(k Kind) Result {
	d.kind = k
	return Failed
}

// deeper enters one more encapsulation layer, refusing past MaxDepth so
// that nested tunnels cannot recurse without bound.
func (d *Decoder) deeper() bool {
	if d.depth >= d.maxDepth {
		d.kind = KindTooDeep
		return false
	}
	d.depth++
	return true
}

// enterTunnel records the outermost tunnel, whose endpoints are the IP
// header decoded just before it.
func (d *Decoder) enterTunnel(t TunnelType, id uint32, hasID bool, h *Headers) bool {
	if !d.deeper() {
		return false
	}
	if h.Tunnel.Type == TunnelNone {
		h.Tunnel.Type, h.Tunnel.ID, h.Tunnel.HasID = t, id, hasID
		h.Tunnel.Src, h.Tunnel.Dst = h.Src, h.Dst
	}
	if h.Tunnel.Depth < 255 {
		h.Tunnel.Depth++
	}
	return true
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// Ethertypes the decoder follows.
const (
	etIPv4     = 0x0800
	etIPv6     = 0x86DD
	etVLAN     = 0x8100
	etQinQ     = 0x88A8
	etQinQOld  = 0x9100
	etMPLS     = 0x8847
	etMPLSMC   = 0x8848
	etPPPoE    = 0x8864
	etPPP      = 0x880B
	etTransEth = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
)

func (d *Decoder) ether(b []byte, h *Headers) Result {
	if len(b) < 14 {
		return d.fail(KindTruncatedLink)
	}
	et := be16(b[12:])
	if et == etIPv4 {
		return d.ip4(b[14:], h)
	}
	return d.ethertype(et, b[14:], h)
}

// ethertype dispatches on an Ethernet-style protocol number. Types up to
// 1500 are 802.3 lengths (LLC frames such as STP) and land in NonIP.
func (d *Decoder) ethertype(et uint16, b []byte, h *Headers) Result {
	for {
		switch et {
		case etIPv4:
			return d.ip4(b, h)
		case etIPv6:
			return d.ip6(b, h)
		case etVLAN, etQinQ, etQinQOld:
			// Iterative: each tag consumes 4 bytes, so any depth terminates.
			if len(b) < 4 {
				return d.fail(KindTruncatedLink)
			}
			if h.NVLANs < 2 {
				h.VLANs[h.NVLANs] = be16(b) & 0x0fff
			}
			if h.NVLANs < 255 {
				h.NVLANs++
			}
			et = be16(b[2:])
			b = b[4:]
		case etMPLS, etMPLSMC:
			return d.mpls(b, h)
		case etPPPoE:
			return d.pppoe(b, h)
		case etPPP:
			return d.ppp(b, h)
		default:
			return NonIP
		}
	}
}

// cooked handles the protocol field of Linux cooked captures, which on
// GRE devices is the GRE protocol and may be transparent Ethernet.
func (d *Decoder) cooked(et uint16, b []byte, h *Headers) Result {
	if et == etTransEth {
		return d.ether(b, h)
	}
	return d.ethertype(et, b, h)
}

// null handles BSD loopback headers: an address family in host order for
// LinkNull (the writer's, so either) and network order for LinkLoop. The
// IPv6 family differs between BSDs.
func (d *Decoder) null(b []byte, h *Headers) Result {
	if len(b) < 4 {
		return d.fail(KindTruncatedLink)
	}
	fam := binary.LittleEndian.Uint32(b)
	if fam > 0xffff {
		fam = be32(b)
	}
	switch fam {
	case 2:
		return d.ip4(b[4:], h)
	case 24, 28, 30:
		return d.ip6(b[4:], h)
	}
	return NonIP
}

func (d *Decoder) ipAny(b []byte, h *Headers) Result {
	if len(b) == 0 {
		return d.fail(KindTruncatedIP)
	}
	switch b[0] >> 4 {
	case 4:
		return d.ip4(b, h)
	case 6:
		return d.ip6(b, h)
	}
	return d.fail(KindBadIPVersion)
}

// mpls skips a label stack and guesses the payload from its first nibble,
// as the stack does not say what it carries.
func (d *Decoder) mpls(b []byte, h *Headers) Result {
	for {
		if len(b) < 4 {
			return d.fail(KindTruncatedLink)
		}
		lse := be32(b)
		if !h.HasMPLS {
			h.MPLS, h.HasMPLS = lse>>12, true
		}
		b = b[4:]
		if lse&0x100 != 0 {
			break
		}
	}
	if len(b) == 0 {
		return d.fail(KindTruncatedLink)
	}
	switch b[0] >> 4 {
	case 4:
		return d.ip4(b, h)
	case 6:
		return d.ip6(b, h)
	case 0:
		// Ethernet pseudowire behind a control word (RFC 4385).
		if len(b) < 4 {
			return d.fail(KindTruncatedLink)
		}
		if !d.deeper() {
			return Failed
		}
		return d.ether(b[4:], h)
	}
	return NonIP
}

func (d *Decoder) pppoe(b []byte, h *Headers) Result {
	if len(b) < 6 {
		return d.fail(KindTruncatedLink)
	}
	if b[0] != 0x11 || b[1] != 0 {
		return NonIP
	}
	n := int(be16(b[4:]))
	b = b[6:]
	if n < len(b) {
		b = b[:n]
	}
	return d.ppp(b, h)
}

// ppp handles PPP inside PPPoE or PPTP GRE: optional address/control bytes,
// then a protocol field that may be compressed to one byte (RFC 1661 PFC:
// a one-byte field is odd, the first byte of a two-byte field even).
func (d *Decoder) ppp(b []byte, h *Headers) Result {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) == 0 {
		return d.fail(KindTruncatedLink)
	}
	var proto uint16
	if b[0]&1 != 0 {
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			return d.fail(KindTruncatedLink)
		}
		proto, b = be16(b), b[2:]
	}
	switch proto {
	case 0x21:
		return d.ip4(b, h)
	case 0x57:
		return d.ip6(b, h)
	case 0x281:
		return d.mpls(b, h)
	}
	return NonIP
}
