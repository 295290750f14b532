package ipfix

import (
	"encoding/binary"
	"unicode/utf8"

	"outflow/flows"
	"outflow/flows/decode"
)

// record is one flow record as queued for the sender: a copy of what the
// *flows.Flow held at EventEnd (the flow is reused once the event returns).
// Strings are shared, never copied: they are immutable.
type record struct {
	src, dst     decode.Addr
	sport, dport uint16
	icmp         uint16 // type<<8 | code, ICMP only
	proto        uint8
	v6           bool
	reason       uint8
	flags        [2]uint8
	packets      [2]uint64
	bytes        [2]uint64
	start, end   int64 // Unix ms
	container    string
	app          string
}

// fill copies f into r; container is the owner's name ("" unknown).
func (r *record) fill(f *flows.Flow, container string) {
	r.src, r.sport = f.Src()
	r.dst, r.dport = f.Dst()
	r.proto = f.Proto
	r.v6 = f.IPv6
	r.icmp = 0
	if f.Proto == decode.ProtoICMP || f.Proto == decode.ProtoICMPv6 {
		r.icmp = uint16(f.ICMPType)<<8 | uint16(f.ICMPCode)
	}
	r.flags = f.Flags
	r.packets = f.Packets
	r.bytes = f.Bytes
	r.start = f.First / 1e6
	r.end = f.Last / 1e6
	r.reason = endReason(f.Reason)
	r.container = container
	r.app = ""
	if f.App != nil {
		r.app = f.App.Protocol()
	}
}

func endReason(r flows.EndReason) uint8 {
	switch r {
	case flows.EndIdle:
		return endIdleTimeout
	case flows.EndActive:
		return endActiveTimeout
	case flows.EndFIN, flows.EndRST:
		return endOfFlow
	case flows.EndEvicted:
		return endLackResources
	}
	return endForced
}

// truncate cuts s to at most maxString bytes without splitting a UTF-8
// sequence (IPFIX strings are UTF-8, RFC 7011 6.1.6).
func truncate(s string) string {
	if len(s) <= maxString {
		return s
	}
	n := maxString
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// size is the encoded length of r.
func (r *record) size() int {
	return fixedLen(r.v6) + len(truncate(r.container)) + len(truncate(r.app))
}

// appendTemplateSet appends a template set holding both data templates.
func appendTemplateSet(b []byte, pen uint32) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, setIDTemplate)
	b = binary.BigEndian.AppendUint16(b, 0) // length, patched below
	for _, v6 := range [2]bool{false, true} {
		id := uint16(TemplateIPv4)
		if v6 {
			id = TemplateIPv6
		}
		fs := templateFields(v6, pen)
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
		for _, f := range fs {
			id := f.id
			if f.pen != 0 {
				id |= 0x8000 // enterprise bit
			}
			b = binary.BigEndian.AppendUint16(b, id)
			b = binary.BigEndian.AppendUint16(b, f.length)
			if f.pen != 0 {
				b = binary.BigEndian.AppendUint32(b, f.pen)
			}
		}
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

// appendRecord appends r encoded per templateFields(r.v6).
func appendRecord(b []byte, r *record) []byte {
	if r.v6 {
		b = append(b, r.src[:]...)
		b = append(b, r.dst[:]...)
	} else {
		b = append(b, r.src[12:]...)
		b = append(b, r.dst[12:]...)
	}
	b = binary.BigEndian.AppendUint16(b, r.sport)
	b = binary.BigEndian.AppendUint16(b, r.dport)
	b = append(b, r.proto)
	b = binary.BigEndian.AppendUint16(b, r.icmp)
	b = append(b, r.flags[1], r.flags[0])
	b = binary.BigEndian.AppendUint64(b, r.bytes[0])
	b = binary.BigEndian.AppendUint64(b, r.packets[0])
	b = binary.BigEndian.AppendUint64(b, r.bytes[1])
	b = binary.BigEndian.AppendUint64(b, r.packets[1])
	b = binary.BigEndian.AppendUint64(b, uint64(r.start))
	b = binary.BigEndian.AppendUint64(b, uint64(r.end))
	b = append(b, r.reason)
	for _, s := range [2]string{r.container, r.app} {
		s = truncate(s)
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// encoder builds one IPFIX message at a time in a fixed buffer.
type encoder struct {
	buf      []byte
	max      int    // message size limit
	pen      uint32 // enterprise number of outflow's elements
	domain   uint32
	seq      uint32 // data records sent before the current message (RFC 7011 3.1)
	set      int    // offset of the open data set's header, -1: none
	setID    uint16
	records  int // data records in the current message
	template bool
}

func newEncoder(maxMsg int, pen, domain uint32) *encoder {
	return &encoder{buf: make([]byte, 0, maxMsg), max: maxMsg, pen: pen, domain: domain, set: -1}
}

// empty reports whether the message holds nothing worth sending.
func (e *encoder) empty() bool { return e.records == 0 && !e.template }

func (e *encoder) begin() {
	e.buf = e.buf[:headerLen]
	e.set = -1
	e.records = 0
	e.template = false
}

// addTemplates puts the template set into the current message; it must
// come first.
func (e *encoder) addTemplates() {
	e.buf = appendTemplateSet(e.buf, e.pen)
	e.template = true
}

// add appends r to the current message, opening a data set for its
// template when needed. It returns false, leaving the message as it was,
// when r does not fit.
func (e *encoder) add(r *record) bool {
	id := uint16(TemplateIPv4)
	if r.v6 {
		id = TemplateIPv6
	}
	need := r.size()
	if e.set < 0 || e.setID != id {
		need += setHeaderLen
	}
	if len(e.buf)+need > e.max {
		return false
	}
	if e.set < 0 || e.setID != id {
		e.closeSet()
		e.set, e.setID = len(e.buf), id
		e.buf = binary.BigEndian.AppendUint16(e.buf, id)
		e.buf = binary.BigEndian.AppendUint16(e.buf, 0)
	}
	e.buf = appendRecord(e.buf, r)
	e.records++
	return true
}

func (e *encoder) closeSet() {
	if e.set >= 0 {
		binary.BigEndian.PutUint16(e.buf[e.set+2:], uint16(len(e.buf)-e.set))
		e.set = -1
	}
}

// finish completes the message header and returns the message, valid
// until the next begin. The sequence number advances by the records in it.
func (e *encoder) finish(exportTime uint32) []byte {
	e.closeSet()
	b := e.buf
	binary.BigEndian.PutUint16(b[0:], 10)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint32(b[4:], exportTime)
	binary.BigEndian.PutUint32(b[8:], e.seq)
	binary.BigEndian.PutUint32(b[12:], e.domain)
	e.seq += uint32(e.records)
	return b
}

// minMessage is the smallest message size limit that always fits the
// templates and one record of the largest size.
func minMessage() int {
	return headerLen + len(appendTemplateSet(nil, 1)) + setHeaderLen + fixedLen(true) + 2*maxString
}
