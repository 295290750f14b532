package ipfix

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// sampleMessage is a message as the exporter sends it: templates and both
// kinds of data sets.
func sampleMessage() []byte {
	enc := newEncoder(DefaultMaxMessage, DefaultPEN, 1)
	enc.begin()
	enc.addTemplates()
	for _, name := range []string{"tcp4", "udp6", "icmp4"} {
		f := testFlows()[name]
		var r record
		r.fill(&f, "web-1")
		enc.add(&r)
	}
	return bytes.Clone(enc.finish(1_709_294_400))
}

// FuzzDecode: the test decoder must survive any bytes (it reads what the
// exporter sends; a decoder that panics or loops hides encoder bugs), and
// whatever it accepts must have sane framing.
func FuzzDecode(f *testing.F) {
	f.Add(sampleMessage())
	f.Add([]byte{0, 10, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := newDecoder(DefaultPEN)
		m, err := d.decode(b)
		if err != nil {
			return
		}
		if m.version != 10 || int(m.length) != len(b) {
			t.Fatalf("accepted a message with version %d, length %d of %d", m.version, m.length, len(b))
		}
		// A record takes at least one byte.
		if len(m.records) > len(b) {
			t.Fatalf("%d records from %d bytes", len(m.records), len(b))
		}
		// The same decoder state decodes it again the same way (templates
		// are kept across messages).
		m2, err := d.decode(b)
		if err != nil || len(m2.records) != len(m.records) {
			t.Fatalf("second decode: %v, %d records, first %d", err, len(m2.records), len(m.records))
		}
	})
}

// FuzzRoundTrip: any record the exporter can build decodes back to itself
// (strings cut to maxString bytes on a rune boundary).
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("172.17.0.2\x00\x00\x00\x00203.0.113.10"), uint16(40000), uint16(443), uint8(6), false, uint64(10), uint64(8000), int64(1_709_294_400_123), "web-1", "tls")
	f.Add(bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 8), uint16(0), uint16(0), uint8(58), true, uint64(1<<63), uint64(0), int64(-1), "", "")
	f.Add(make([]byte, 32), uint16(65535), uint16(1), uint8(17), false, uint64(1), uint64(1), int64(0), string(bytes.Repeat([]byte("é"), 200)), "\xff\xfe")
	f.Fuzz(func(t *testing.T, addrs []byte, sport, dport uint16, proto uint8, v6 bool, pkts, bytes_ uint64, start int64, container, app string) {
		var r record
		copy(r.src[:], addrs)
		if len(addrs) > 16 {
			copy(r.dst[:], addrs[16:])
		}
		if !v6 {
			// IPv4 records carry the low 4 bytes; the flow table keeps
			// IPv4 in v4-mapped form.
			r.src = [16]byte{10: 0xff, 11: 0xff, 12: r.src[12], 13: r.src[13], 14: r.src[14], 15: r.src[15]}
			r.dst = [16]byte{10: 0xff, 11: 0xff, 12: r.dst[12], 13: r.dst[13], 14: r.dst[14], 15: r.dst[15]}
		}
		r.sport, r.dport, r.proto, r.v6 = sport, dport, proto, v6
		r.icmp = sport ^ dport
		r.flags = [2]uint8{uint8(sport), uint8(dport)}
		r.packets = [2]uint64{pkts, pkts ^ 0xffff}
		r.bytes = [2]uint64{bytes_, bytes_ >> 3}
		r.start, r.end = start, start+int64(sport)
		r.reason = proto % 6
		r.container, r.app = container, app

		enc := newEncoder(minMessage(), DefaultPEN, binary.BigEndian.Uint32(append(addrs, 0, 0, 0, 0)))
		enc.begin()
		enc.addTemplates()
		if !enc.add(&r) {
			t.Fatalf("record of %d bytes does not fit an empty message of %d", r.size(), minMessage())
		}
		msg := enc.finish(1)
		m, err := newDecoder(DefaultPEN).decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.records) != 1 {
			t.Fatalf("%d records", len(m.records))
		}
		want := r
		want.container, want.app = truncate(container), truncate(app)
		if len(want.container) > maxString || len(want.app) > maxString {
			t.Fatalf("truncate left %d/%d bytes", len(want.container), len(want.app))
		}
		if got := m.records[0]; got != want {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
		}
	})
}
