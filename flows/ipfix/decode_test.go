package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A minimal IPFIX decoder, for tests only: it checks what the exporter
// sends by reading it back through the templates the messages carry,
// independently of the encoder's code paths (field by field, generic
// lengths, any field order).

type message struct {
	version    uint16
	length     uint16
	exportTime uint32
	seq        uint32
	domain     uint32
	templates  []uint16 // template IDs defined in this message
	records    []record
}

type decoder struct {
	pen       uint32 // enterprise number of outflow's elements
	templates map[uint16][]field
}

func newDecoder(pen uint32) *decoder {
	return &decoder{pen: pen, templates: map[uint16][]field{}}
}

var errShort = errors.New("truncated")

func (d *decoder) decode(b []byte) (message, error) {
	var m message
	if len(b) < headerLen {
		return m, fmt.Errorf("header: %w", errShort)
	}
	m.version = binary.BigEndian.Uint16(b)
	m.length = binary.BigEndian.Uint16(b[2:])
	m.exportTime = binary.BigEndian.Uint32(b[4:])
	m.seq = binary.BigEndian.Uint32(b[8:])
	m.domain = binary.BigEndian.Uint32(b[12:])
	if m.version != 10 {
		return m, fmt.Errorf("version %d", m.version)
	}
	if int(m.length) != len(b) {
		return m, fmt.Errorf("length %d, message has %d bytes", m.length, len(b))
	}
	for p := b[headerLen:]; len(p) > 0; {
		if len(p) < setHeaderLen {
			return m, fmt.Errorf("set header: %w", errShort)
		}
		id, n := binary.BigEndian.Uint16(p), int(binary.BigEndian.Uint16(p[2:]))
		if n < setHeaderLen || n > len(p) {
			return m, fmt.Errorf("set %d: length %d of %d", id, n, len(p))
		}
		body := p[setHeaderLen:n]
		p = p[n:]
		var err error
		switch {
		case id == setIDTemplate:
			err = d.templateSet(body, &m)
		case id >= 256:
			err = d.dataSet(id, body, &m)
		default:
			err = fmt.Errorf("unexpected set id %d", id)
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

func (d *decoder) templateSet(b []byte, m *message) error {
	for len(b) >= 4 {
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		if id < 256 {
			return fmt.Errorf("template id %d", id)
		}
		fs := make([]field, 0, min(count, len(b)/4))
		for i := 0; i < count; i++ {
			if len(b) < 4 {
				return fmt.Errorf("template %d field %d: %w", id, i, errShort)
			}
			f := field{id: binary.BigEndian.Uint16(b), length: binary.BigEndian.Uint16(b[2:])}
			b = b[4:]
			if f.id&0x8000 != 0 {
				if len(b) < 4 {
					return fmt.Errorf("template %d field %d PEN: %w", id, i, errShort)
				}
				f.id &^= 0x8000
				f.pen = binary.BigEndian.Uint32(b)
				b = b[4:]
			}
			if f.length == 0 {
				return fmt.Errorf("template %d field %d: zero length", id, i)
			}
			fs = append(fs, f)
		}
		if len(fs) == 0 {
			return fmt.Errorf("template %d: no fields", id)
		}
		d.templates[id] = fs
		m.templates = append(m.templates, id)
	}
	return nil
}

func (d *decoder) dataSet(id uint16, b []byte, m *message) error {
	fs, ok := d.templates[id]
	if !ok {
		return fmt.Errorf("data set %d: unknown template", id)
	}
	// Padding: fewer bytes than the smallest record.
	minLen := 0
	for _, f := range fs {
		if f.length == varLen {
			minLen++
		} else {
			minLen += int(f.length)
		}
	}
	for len(b) >= minLen {
		var r record
		for _, f := range fs {
			n := int(f.length)
			if f.length == varLen {
				if len(b) < 1 {
					return fmt.Errorf("data set %d: %w", id, errShort)
				}
				n, b = int(b[0]), b[1:]
				if n == 255 {
					if len(b) < 2 {
						return fmt.Errorf("data set %d: %w", id, errShort)
					}
					n, b = int(binary.BigEndian.Uint16(b)), b[2:]
				}
			}
			if len(b) < n {
				return fmt.Errorf("data set %d field %d: %w", id, f.id, errShort)
			}
			if err := d.setField(&r, f, b[:n]); err != nil {
				return fmt.Errorf("data set %d: %w", id, err)
			}
			b = b[n:]
		}
		m.records = append(m.records, r)
	}
	return nil
}

func uintOf(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%d-byte unsigned", len(b))
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func (d *decoder) setField(r *record, f field, b []byte) error {
	if f.pen == d.pen {
		switch f.id {
		case IEContainerName:
			r.container = string(b)
		case IEApplicationProtocol:
			r.app = string(b)
		}
		return nil
	}
	if f.pen != 0 && f.pen != ReversePEN {
		return nil // someone else's element
	}
	switch f.id {
	case ieSourceIPv4Address, ieDestinationIPv4Address, ieSourceIPv6Address, ieDestinationIPv6Address:
		if f.pen != 0 {
			return nil
		}
		a := &r.src
		if f.id == ieDestinationIPv4Address || f.id == ieDestinationIPv6Address {
			a = &r.dst
		}
		switch {
		case len(b) == 4 && (f.id == ieSourceIPv4Address || f.id == ieDestinationIPv4Address):
			*a = [16]byte{10: 0xff, 11: 0xff}
			copy(a[12:], b)
		case len(b) == 16:
			copy(a[:], b)
			r.v6 = true
		default:
			return fmt.Errorf("address of %d bytes", len(b))
		}
		return nil
	}
	v, err := uintOf(b)
	if err != nil {
		return err
	}
	dir := 0
	if f.pen == ReversePEN {
		dir = 1
	}
	switch f.id {
	case ieSourceTransportPort:
		r.sport = uint16(v)
	case ieDestinationTransportPort:
		r.dport = uint16(v)
	case ieProtocolIdentifier:
		r.proto = uint8(v)
	case ieICMPTypeCodeIPv4, ieICMPTypeCodeIPv6:
		r.icmp = uint16(v)
	case ieTCPControlBits:
		r.flags[dir] = uint8(v)
	case ieOctetDeltaCount:
		r.bytes[dir] = v
	case iePacketDeltaCount:
		r.packets[dir] = v
	case ieFlowStartMilliseconds:
		r.start = int64(v)
	case ieFlowEndMilliseconds:
		r.end = int64(v)
	case ieFlowEndReason:
		r.reason = uint8(v)
	}
	return nil
}
