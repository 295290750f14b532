package synth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DNS record types the builders answer with.
const (
	DNSTypeA    uint16 = 1
	DNSTypeAAAA uint16 = 28
)

// DNSQuery builds a recursive query (RD set) for name and qtype.
func DNSQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	return appendQuestion(b, name, qtype)
}

// DNSResponse builds the answer to DNSQuery(id, name, qtype): the question
// again, then one record per address of the queried family, each naming the
// question by a compression pointer. No matching address gives an empty
// NOERROR answer.
func DNSResponse(id uint16, name string, qtype uint16, ttl uint32, addrs []netip.Addr) ([]byte, error) {
	b := make([]byte, 12, 64+len(name)+28*len(addrs))
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x8180) // QR, RD, RA, NOERROR
	binary.BigEndian.PutUint16(b[4:], 1)
	b, err := appendQuestion(b, name, qtype)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, a := range addrs {
		a = a.Unmap()
		var rdata []byte
		switch {
		case qtype == DNSTypeA && a.Is4():
			v := a.As4()
			rdata = v[:]
		case qtype == DNSTypeAAAA && a.Is6():
			v := a.As16()
			rdata = v[:]
		default:
			continue
		}
		b = binary.BigEndian.AppendUint16(b, 0xc00c) // pointer to the question name at offset 12
		b = binary.BigEndian.AppendUint16(b, qtype)
		b = binary.BigEndian.AppendUint16(b, 1) // IN
		b = binary.BigEndian.AppendUint32(b, ttl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
		b = append(b, rdata...)
		n++
	}
	binary.BigEndian.PutUint16(b[6:], uint16(n)) // ANCOUNT
	return b, nil
}

func appendQuestion(b []byte, name string, qtype uint16) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return nil, fmt.Errorf("dns: bad name length %d", len(name))
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return nil, errors.New("dns: empty or over-long label in " + name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	return b, nil
}

// DNS plans one lookup over UDP: the query, and rtt later (UDPOptions.RTT)
// the answer. The manifest notes query, qtype and the answers.
func (s *Scenario) DNS(ep Endpoints, at time.Duration, name string, qtype uint16, ttl uint32, addrs []netip.Addr, opt UDPOptions) *UDP {
	u := s.UDP(ep, at, "dns", opt)
	id := uint16(s.rng.Uint32())
	q, err := DNSQuery(id, name, qtype)
	if err == nil {
		var r []byte
		if r, err = DNSResponse(id, name, qtype, ttl, addrs); err == nil {
			u.Send(ToServer, Bytes(q), 0)
			u.Send(ToClient, Bytes(r), 300*time.Microsecond)
		}
	}
	if err != nil {
		u.setErr(fmt.Errorf("dns flow %d: %w", u.id, err))
	}
	u.Note("query", strings.TrimSuffix(name, "."))
	var as []string
	for _, a := range addrs {
		if a = a.Unmap(); (qtype == DNSTypeA && a.Is4()) || (qtype == DNSTypeAAAA && a.Is6()) {
			as = append(as, a.String())
		}
	}
	switch qtype {
	case DNSTypeA:
		u.Note("qtype", "A")
	case DNSTypeAAAA:
		u.Note("qtype", "AAAA")
	default:
		u.Note("qtype", strconv.Itoa(int(qtype)))
	}
	u.Note("answers", strings.Join(as, ","))
	return u
}
