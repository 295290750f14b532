package decode

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

// frag4 builds one Ethernet/IPv4 fragment of datagram id carrying data at
// payload offset off, between src and dst.
func frag4(tb testing.TB, src, dst string, id uint16, proto layers.IPProtocol, off int, more bool, data []byte, outer ...gopacket.SerializableLayer) []byte {
	ip := ip4L(src, dst, proto)
	ip.Id, ip.FragOffset = id, uint16(off/8)
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	if outer == nil {
		outer = layerList{ethL(layers.EthernetTypeIPv4)}
	}
	return build(tb, cat(outer, layerList{ip, gopacket.Payload(data)})...)
}

type step struct {
	frame []byte
	at    int64 // packet time, ns
	orig  int   // length on the wire, when the snap length cut the frame
	res   Result
	kind  Kind
}

// steps pairs frames with results; Failed here always means a duplicate.
func steps(frames [][]byte, results ...Result) []step {
	s := make([]step, len(frames))
	for i, f := range frames {
		s[i] = step{frame: f, res: results[i]}
		if results[i] == Failed {
			s[i].kind = KindFragOverlap
		}
	}
	return s
}

func reversed(fs [][]byte) [][]byte {
	r := slices.Clone(fs)
	slices.Reverse(r)
	return r
}

// ipLens sums the IP lengths of Ethernet frames carrying IPv4 or IPv6.
func ipLens(fs ...[]byte) int {
	n := 0
	for _, f := range fs {
		if f[12] == 0x86 {
			n += 40 + int(f[18])<<8 + int(f[19])
		} else {
			n += int(f[16])<<8 + int(f[17])
		}
	}
	return n
}

func TestFragments(t *testing.T) {
	dg := udpDatagram(3000) // 3008 bytes: fragments of 1480, 1480, 48
	f4 := fragments4(t, 9, layers.IPProtocolUDP, dg, 1480)
	f6 := fragments6(t, 0x01020304, ProtoUDP, dg, 1448)
	// Fragmentable part starting with a destination options header.
	f6dst := fragments6(t, 5, protoDstOpts, append(dstOpts(ProtoUDP), dg...), 1448)
	// Overlap: a's last 8 bytes overlap b's first 8, with different contents.
	alt := slices.Clone(dg)
	for i := 1480; i < 1488; i++ {
		alt[i] ^= 0xff
	}
	a := frag4(t, in4a, in4b, 11, layers.IPProtocolUDP, 0, true, dg[:1488])
	b := frag4(t, in4a, in4b, 11, layers.IPProtocolUDP, 1480, false, alt[1480:])
	// Inner fragments inside VXLAN.
	vxOuter := layerList{ethL(layers.EthernetTypeIPv4), ip4L(out4a, out4b, layers.IPProtocolUDP), udpL(50000, 4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 42}, ethL(layers.EthernetTypeIPv4)}
	fvx := fragments4(t, 12, layers.IPProtocolUDP, dg, 1400, vxOuter...)
	// A VXLAN packet whose outer IP datagram is fragmented.
	big := cat(layerList{ethL(layers.EthernetTypeIPv4)}, layerList{ip4L(in4a, in4b, layers.IPProtocolTCP), tcpL(40000, 443), gopacket.Payload(dg)})
	vxPayload := build(t, cat(layerList{udpL(50000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 42}}, big)...)
	var fout [][]byte
	for off := 0; off < len(vxPayload); off += 1480 {
		end := min(off+1480, len(vxPayload))
		fout = append(fout, frag4(t, out4a, out4b, 13, layers.IPProtocolUDP, off, end < len(vxPayload), vxPayload[off:end]))
	}
	// Nested fragment header inside a reassembled IPv6 datagram.
	nested := fragments6(t, 6, protoFrag, append([]byte{ProtoUDP, 0, 0, 1, 0, 0, 0, 9}, dg...), 1448)

	wantUDP4 := Headers{Src: addr(in4a), Dst: addr(in4b), Proto: ProtoUDP, SrcPort: 5353, DstPort: 53,
		PayloadLen: 3000, Reassembled: true}
	wantUDP6 := with(wantUDP4, func(h *Headers) { h.Src, h.Dst, h.IPv6 = addr(in6a), addr(in6b), true })

	cases := []struct {
		name    string
		cfg     Config
		steps   []step
		want    Headers // of the last step, when OK; IPBytes/Packets filled below if zero
		payload []byte
		check   func(t *testing.T, st Stats)
	}{
		{name: "v4-in-order", steps: steps(f4, Held, Held, OK), want: wantUDP4, payload: dg[8:]},
		{name: "v4-reverse", steps: steps(reversed(f4), Held, Held, OK), want: wantUDP4, payload: dg[8:]},
		{name: "v4-middle-first", steps: steps([][]byte{f4[1], f4[0], f4[2]}, Held, Held, OK), want: wantUDP4, payload: dg[8:]},
		{name: "v4-duplicate", steps: append(steps([][]byte{f4[0], f4[0], f4[1]}, Held, Failed, Held),
			step{frame: f4[2], res: OK}), want: with(wantUDP4, func(h *Headers) { h.Packets, h.IPBytes = 3, ipLens(f4...) }), payload: dg[8:],
			check: func(t *testing.T, st Stats) {
				if st.Failures[KindFragOverlap] != 1 || st.FragOverlaps != 1 {
					t.Errorf("stats %+v", st)
				}
			}},
		{name: "v4-duplicate-last", steps: steps([][]byte{f4[2], f4[2], f4[0], f4[1]}, Held, Failed, Held, OK),
			want: with(wantUDP4, func(h *Headers) { h.Packets, h.IPBytes = 3, ipLens(f4...) }), payload: dg[8:]},
		{name: "v4-overlap-first-copy-wins", steps: steps([][]byte{a, b}, Held, OK), want: wantUDP4, payload: dg[8:],
			check: func(t *testing.T, st Stats) {
				if st.FragOverlaps != 1 {
					t.Errorf("overlaps %d", st.FragOverlaps)
				}
			}},
		{name: "v4-overlap-other-order", steps: steps([][]byte{b, a}, Held, OK), want: wantUDP4, payload: alt[8:]},
		{name: "v6-in-order", steps: steps(f6, Held, Held, OK), want: wantUDP6, payload: dg[8:]},
		{name: "v6-reverse", steps: steps(reversed(f6), Held, Held, OK), want: wantUDP6, payload: dg[8:]},
		{name: "v6-dstopts-in-fragmentable-part", steps: steps(f6dst, Held, Held, OK), want: wantUDP6, payload: dg[8:]},
		{name: "v6-fragment-inside-fragment", steps: append(steps(nested[:2], Held, Held), step{frame: nested[2], res: Failed, kind: KindBadFragment})},
		{name: "vxlan-inner-fragments", steps: steps(reversed(fvx), Held, Held, OK),
			want: with(wantUDP4, func(h *Headers) {
				h.Tunnel, h.Packets, h.IPBytes = tunnel(TunnelVXLAN, 42, true, out4a, out4b, 1), 3, 3*20+len(dg)
			}), payload: dg[8:]},
		{name: "vxlan-outer-fragments", steps: steps(fout, Held, Held, OK),
			want: with(wantTCP4(), func(h *Headers) {
				h.Tunnel, h.Reassembled, h.Packets, h.IPBytes = tunnel(TunnelVXLAN, 42, true, out4a, out4b, 1), true, 3, 20+20+len(dg)
				h.PayloadLen = len(dg)
			}), payload: dg},
		{name: "v4-and-v6-interleaved", steps: steps([][]byte{f4[0], f6[2], f4[2], f6[0], f6[1], f4[1]}, Held, Held, Held, Held, OK, OK),
			want: with(wantUDP4, func(h *Headers) { h.Packets, h.IPBytes = 3, ipLens(f4...) }), payload: dg[8:]},
		{name: "timeout", cfg: Config{FragTimeout: 1e9}, steps: []step{
			{frame: f4[0], at: 0, res: Held},
			{frame: f4[1], at: 2e9, res: Held}, // f4[0] expires first
			{frame: f4[2], at: 2.5e9, res: Held},
			{frame: f4[0], at: 2.6e9, res: OK},
		}, want: with(wantUDP4, func(h *Headers) { h.Packets, h.IPBytes = 3, ipLens(f4...) }), payload: dg[8:],
			check: func(t *testing.T, st Stats) {
				if st.FragExpired != 1 || st.Reassembled != 1 {
					t.Errorf("stats %+v", st)
				}
			}},
		{name: "evict-by-count", cfg: Config{MaxFragDatagrams: 2}, steps: []step{
			{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, 0, true, dg[:1480]), res: Held},
			{frame: frag4(t, in4a, in4b, 2, layers.IPProtocolUDP, 0, true, dg[:1480]), res: Held},
			{frame: frag4(t, in4a, in4b, 3, layers.IPProtocolUDP, 0, true, dg[:1480]), res: Held},     // evicts 1
			{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, 1480, false, dg[1480:]), res: Held}, // evicts 2
			{frame: frag4(t, in4a, in4b, 3, layers.IPProtocolUDP, 1480, false, dg[1480:]), res: OK},
		}, want: with(wantUDP4, func(h *Headers) {
			h.Packets, h.IPBytes, h.PayloadLen = 2, 40+len(dg), 3000
		}), payload: dg[8:],
			check: func(t *testing.T, st Stats) {
				if st.FragEvicted != 2 {
					t.Errorf("evicted %d", st.FragEvicted)
				}
			}},
		{name: "evict-by-bytes", cfg: Config{MaxFragBytes: 64 << 10}, steps: []step{
			{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, 0, true, udpDatagram(40000)[:39000]), res: Held},
			{frame: frag4(t, in4a, in4b, 2, layers.IPProtocolUDP, 0, true, udpDatagram(40000)[:39000]), res: Held}, // evicts 1
			{frame: frag4(t, in4a, in4b, 2, layers.IPProtocolUDP, 39000, false, udpDatagram(40000)[39000:]), res: OK},
		}, want: with(wantUDP4, func(h *Headers) { h.Packets, h.IPBytes, h.PayloadLen = 2, 40+40008, 40000 }),
			payload: udpDatagram(40000)[8:],
			check: func(t *testing.T, st Stats) {
				if st.FragEvicted != 1 {
					t.Errorf("evicted %d", st.FragEvicted)
				}
			}},
		{name: "too-big", steps: []step{{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, 65528, false, make([]byte, 16)), res: Failed, kind: KindFragTooBig}}},
		{name: "inconsistent-end", steps: []step{
			{frame: f4[2], res: Held},
			{frame: frag4(t, in4a, in4b, 9, layers.IPProtocolUDP, 2960, false, make([]byte, 80)), res: Failed, kind: KindBadFragment},
			{frame: frag4(t, in4a, in4b, 9, layers.IPProtocolUDP, 2960, true, make([]byte, 80)), res: Failed, kind: KindBadFragment},
		}},
		{name: "empty-middle-fragment", steps: []step{{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, 8, true, nil), res: Failed, kind: KindBadFragment}}},
		{name: "snapped", steps: []step{{frame: f4[0][:200], orig: len(f4[0]), res: Failed, kind: KindFragTruncated}}},
		{name: "too-many-holes", steps: func() []step {
			var s []step
			for i := 0; i < maxExtents; i++ {
				s = append(s, step{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, i*16, true, make([]byte, 8)), res: Held})
			}
			return append(s, step{frame: frag4(t, in4a, in4b, 1, layers.IPProtocolUDP, maxExtents*16, true, make([]byte, 8)), res: Failed, kind: KindFragNoRoom})
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := New(c.cfg)
			var h Headers
			for i, s := range c.steps {
				r := d.Decode(&capture.Packet{Data: s.frame, OrigLen: max(len(s.frame), s.orig), LinkType: capture.LinkEthernet, Timestamp: s.at}, &h)
				if r != s.res || (r == Failed && d.LastFailure() != s.kind) {
					t.Fatalf("step %d: %v (%v), want %v (%v)", i, r, d.LastFailure(), s.res, s.kind)
				}
			}
			if c.check != nil {
				c.check(t, d.Stats())
			}
			if c.steps[len(c.steps)-1].res != OK {
				return
			}
			want := c.want
			if want.Packets == 0 {
				want.Packets = len(c.steps)
				var fs [][]byte
				for _, s := range c.steps {
					fs = append(fs, s.frame)
				}
				want.IPBytes = ipLens(fs...)
			}
			checkHeaders(t, &h, nil)
			if !bytes.Equal(h.Payload, c.payload) {
				t.Errorf("payload differs (%d bytes, want %d)", len(h.Payload), len(c.payload))
			}
			h.Payload = nil
			if !reflect.DeepEqual(h, want) {
				t.Errorf("got  %+v\nwant %+v", h, want)
			}
			if st := d.Stats(); st.Reassembled == 0 {
				t.Errorf("not counted: %+v", st)
			}
		})
	}
}

// TestFragmentsShuffled feeds a datagram's fragments in random order with
// random duplicates and overlapping re-sends of the same bytes: the
// datagram must come out whole exactly when its last hole is filled.
func TestFragmentsShuffled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dg := udpDatagram(5000)
	d := New(Config{})
	var h Headers
	for iter := 0; iter < 300; iter++ {
		id := uint16(iter)
		var pieces [][2]int
		for off := 0; off < len(dg); {
			end := min(off+8*(1+rng.IntN(200)), len(dg))
			pieces = append(pieces, [2]int{off, end})
			off = end
		}
		for n := rng.IntN(4); n > 0; n-- { // overlapping re-sends
			s := 8 * rng.IntN(len(dg)/8)
			pieces = append(pieces, [2]int{s, min(s+8*(1+rng.IntN(100)), len(dg))})
		}
		rng.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
		covered := make([]bool, len(dg))
		left := len(dg)
		for i, pc := range pieces {
			f := frag4(t, in4a, in4b, id, layers.IPProtocolUDP, pc[0], pc[1] < len(dg), dg[pc[0]:pc[1]])
			r := d.Decode(&capture.Packet{Data: f, OrigLen: len(f), LinkType: capture.LinkEthernet}, &h)
			for j := pc[0]; j < pc[1]; j++ {
				if !covered[j] {
					covered[j] = true
					left--
				}
			}
			if left == 0 {
				if r != OK || !bytes.Equal(h.Payload, dg[8:]) || h.SrcPort != 5353 {
					t.Fatalf("iter %d piece %d: %v (%v)", iter, i, r, d.LastFailure())
				}
				break
			}
			if r == OK {
				t.Fatalf("iter %d piece %d: OK with %d bytes missing", iter, i, left)
			}
		}
	}
	if st := d.Stats(); st.Reassembled != 300 || st.FragEvicted != 0 || st.FragExpired != 0 {
		t.Errorf("stats %+v", st)
	}
	if d.frag.live != 0 || len(d.frag.freeChunks) != len(d.frag.pool) {
		t.Errorf("state leaked: %d datagrams, %d/%d chunks free", d.frag.live, len(d.frag.freeChunks), len(d.frag.pool))
	}
}

// TestFragTableChurn drives the hash table through many inserts and
// removals in a small table, checking every live datagram stays findable.
func TestFragTableChurn(t *testing.T) {
	d := New(Config{MaxFragDatagrams: 8})
	rng := rand.New(rand.NewPCG(3, 4))
	var h Headers
	for i := 0; i < 5000; i++ {
		id := uint16(rng.IntN(40))
		more := rng.IntN(3) != 0
		off := 0
		if !more {
			off = 8
		}
		f := frag4(t, in4a, in4b, id, layers.IPProtocolUDP, off, more, make([]byte, 8))
		r := d.Decode(&capture.Packet{Data: f, OrigLen: len(f), LinkType: capture.LinkEthernet, Timestamp: int64(i)}, &h)
		if r == Failed && d.LastFailure() != KindFragOverlap || r == NonIP {
			t.Fatalf("step %d: %v %v", i, r, d.LastFailure())
		}
		// Count what the table can still find.
		found := 0
		for k := uint16(0); k < 40; k++ {
			key := fragKey{src: addr(in4a), dst: addr(in4b), id: uint32(k), proto: ProtoUDP}
			if j, _ := d.frag.lookup(&key, d.frag.hash(&key)); j >= 0 {
				found++
			}
		}
		if found != d.frag.live || d.frag.live > 8 {
			t.Fatalf("step %d: %d findable, %d live", i, found, d.frag.live)
		}
	}
	if d.Stats().FragEvicted == 0 || d.Stats().Reassembled == 0 {
		t.Errorf("churn did not exercise eviction and completion: %+v", d.Stats())
	}
}

func TestExpire(t *testing.T) {
	d := New(Config{FragTimeout: 5})
	var h Headers
	f := fragments4(t, 1, layers.IPProtocolUDP, udpDatagram(100), 64)
	d.Decode(&capture.Packet{Data: f[0], OrigLen: len(f[0]), LinkType: capture.LinkEthernet, Timestamp: 10}, &h)
	d.Expire(15)
	if d.Stats().FragExpired != 0 {
		t.Fatal("expired at exactly the timeout")
	}
	d.Expire(16)
	if d.Stats().FragExpired != 1 || d.frag.live != 0 {
		t.Fatalf("not expired: %+v", d.Stats())
	}
	if r := d.Decode(&capture.Packet{Data: f[1], OrigLen: len(f[1]), LinkType: capture.LinkEthernet, Timestamp: 17}, &h); r != Held {
		t.Fatalf("late fragment: %v", r)
	}
}
