// Package dhcp identifies DHCPv4 (BOOTP with the DHCP magic cookie) over
// UDP and reads the first message: its type (option 53), the client's host
// name (option 12), vendor class (option 60), hardware address and the
// addresses asked for or given. The session stops after that message.
package dhcp

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	fixedLen   = 236 // BOOTP header up to the options
	cookie     = 0x63825363
	optionsOff = fixedLen + 4
	maxHops    = 16
	maxString  = 255
)

type parser struct{}

// New returns the DHCP parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string                       { return "dhcp" }
func (parser) Transports() l7.Transport           { return l7.UDP }
func (parser) Ports() []uint16                    { return []uint16{67, 68} }
func (parser) NewSession(*l7.FlowInfo) l7.Session { return &session{} }

// Probe wants a BOOTP request or reply with a sane hardware address length
// and hop count, carrying the DHCP magic cookie.
func (parser) Probe(_ *l7.FlowInfo, _ l7.Dir, d []byte) l7.Verdict {
	if len(d) < optionsOff+1 {
		return l7.VerdictNo
	}
	op, htype, hlen, hops := d[0], d[1], d[2], d[3]
	if op != 1 && op != 2 || htype == 0 || hlen > 16 || hops > maxHops {
		return l7.VerdictNo
	}
	if binary.BigEndian.Uint32(d[fixedLen:]) != cookie {
		return l7.VerdictNo
	}
	return l7.VerdictYes
}

type session struct {
	have      bool
	op        uint8
	msgType   uint8
	xid       uint32
	mac       [16]byte
	macLen    int
	hostname  string
	vendor    string
	requested netip.Addr // option 50
	assigned  netip.Addr // yiaddr
}

func (s *session) Feed(ctx *l7.Context, _ l7.Dir, d []byte) bool {
	if len(d) < optionsOff || binary.BigEndian.Uint32(d[fixedLen:]) != cookie {
		ctx.Malformed("dhcp")
		return false
	}
	s.have = true
	s.op = d[0]
	s.xid = binary.BigEndian.Uint32(d[4:])
	if hlen := int(d[2]); hlen > 0 && hlen <= 16 {
		s.macLen = copy(s.mac[:], d[28:28+hlen])
	}
	if y := netip.AddrFrom4([4]byte(d[16:20])); !y.IsUnspecified() {
		s.assigned = y
	}
	opts := d[optionsOff:]
	for len(opts) > 0 {
		code := opts[0]
		if code == 0 { // pad
			opts = opts[1:]
			continue
		}
		if code == 255 { // end
			break
		}
		if len(opts) < 2 || 2+int(opts[1]) > len(opts) {
			ctx.Malformed("dhcp") // options run past the datagram
			break
		}
		v := opts[2 : 2+int(opts[1])]
		opts = opts[2+len(v):]
		switch code {
		case 53:
			if len(v) == 1 {
				s.msgType = v[0]
			}
		case 12:
			s.hostname = string(v[:min(len(v), maxString)])
		case 60:
			s.vendor = string(v[:min(len(v), maxString)])
		case 50:
			if len(v) == 4 {
				s.requested = netip.AddrFrom4([4]byte(v))
			}
		}
	}
	return false
}

func (s *session) Gap(*l7.Context, l7.Dir, int) bool { return false }

var msgTypes = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM",
	"FORCERENEW", "LEASEQUERY", "LEASEUNASSIGNED", "LEASEUNKNOWN", "LEASEACTIVE", "BULKLEASEQUERY",
	"LEASEQUERYDONE", "ACTIVELEASEQUERY", "LEASEQUERYSTATUS", "TLS"}

func msgTypeName(t uint8) string {
	if int(t) < len(msgTypes) && t > 0 {
		return msgTypes[t]
	}
	return strconv.Itoa(int(t))
}

func (s *session) Fields(d *ecs.Doc) {
	if !s.have {
		return
	}
	if s.msgType != 0 {
		d.Str("outflow.dhcp.message_type", msgTypeName(s.msgType))
	} else if s.op == 1 {
		d.Str("outflow.dhcp.message_type", "BOOTREQUEST")
	} else {
		d.Str("outflow.dhcp.message_type", "BOOTREPLY")
	}
	d.Uint("outflow.dhcp.transaction_id", uint64(s.xid))
	d.Str("outflow.dhcp.hostname", s.hostname)
	d.Str("outflow.dhcp.vendor_class", s.vendor)
	if s.macLen > 0 {
		b := make([]byte, 0, 3*s.macLen)
		for i, c := range s.mac[:s.macLen] {
			if i > 0 {
				b = append(b, ':')
			}
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		d.Bytes("outflow.dhcp.client_mac", b)
	}
	if s.requested.IsValid() {
		d.Str("outflow.dhcp.requested_ip", s.requested.String())
	}
	if s.assigned.IsValid() {
		d.Str("outflow.dhcp.assigned_ip", s.assigned.String())
	}
}

const hexDigits = "0123456789abcdef"

func (s *session) Summary(sum *l7.Summary) { sum.Protocol = "dhcp" }
