package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

var fuzzLinks = []capture.LinkType{
	capture.LinkEthernet, capture.LinkRaw, capture.LinkRawBSD, capture.LinkRawOpen, capture.LinkIPv4,
	capture.LinkIPv6, capture.LinkNull, capture.LinkLoop, capture.LinkLinuxSLL, capture.LinkLinuxSLL2, 105,
}

// fuzzInput encodes frames for FuzzDecode: a link type index, then each
// frame as a 2-byte big-endian length and its bytes.
func fuzzInput(link capture.LinkType, frames ...[]byte) []byte {
	i := 0
	for i < len(fuzzLinks) && fuzzLinks[i] != link {
		i++
	}
	b := []byte{byte(i)}
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// FuzzDecode feeds one or more frames to a decoder with small limits, so
// that reassembly, eviction and expiry are reachable, and checks that
// every OK decode is self-consistent.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases(f) {
		f.Add(fuzzInput(c.link, c.frame))
	}
	dg := udpDatagram(600)
	fr := fragments4(f, 3, layers.IPProtocolUDP, dg, 256)
	f.Add(fuzzInput(capture.LinkEthernet, fr[2], fr[0], fr[1]))
	f6 := fragments6(f, 3, ProtoUDP, dg, 256)
	f.Add(fuzzInput(capture.LinkEthernet, f6[1], f6[0], f6[0], f6[2]))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		link := fuzzLinks[int(data[0])%len(fuzzLinks)]
		data = data[1:]
		d := New(Config{MaxFragDatagrams: 4, MaxFragBytes: 64 << 10, FragTimeout: 3, MaxDepth: 4})
		var h Headers
		for ts := int64(0); len(data) > 0; ts++ {
			n := len(data)
			if n >= 2 {
				n = min(int(binary.BigEndian.Uint16(data)), n-2)
				data = data[2:]
			}
			frame := data[:n]
			data = data[n:]
			p := capture.Packet{Data: frame, OrigLen: len(frame) + int(ts&1)*100, LinkType: link, Timestamp: ts}
			r := d.Decode(&p, &h)
			switch r {
			case OK:
				checkHeaders(t, &h, frame)
				if h.Reassembled && h.Packets < 1 {
					t.Fatalf("reassembled from %d fragments", h.Packets)
				}
			case Failed:
				if d.LastFailure() == KindNone || d.LastFailure() >= NumKinds {
					t.Fatalf("failed without a kind")
				}
			case NonIP, Held:
			default:
				t.Fatalf("result %v", r)
			}
			if d.frag.live > 4 || len(d.frag.pool) > 32 {
				t.Fatalf("limits exceeded: %d datagrams, %d chunks", d.frag.live, len(d.frag.pool))
			}
		}
		st := d.Stats()
		var sum uint64
		for _, n := range st.Failures {
			sum += n
		}
		if sum+st.NonIP > st.Frames {
			t.Fatalf("stats do not add up: %+v", st)
		}
	})
}
