package capture

// Test helpers: hand-built pcap and pcapng files that remember where each
// record starts and which packets a correct reader must return.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/big"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// rec is one record of a built file: the file header or SHB counts too.
type rec struct {
	start, end int
	pkt        int // index into capFile.want, or -1
}

type capFile struct {
	data  []byte
	recs  []rec
	want  []Packet
	names []string // expected InterfaceName by global index
}

// le/be writer.
type enc struct {
	be  bool
	buf []byte
}

func (e *enc) u16(v uint16) {
	if e.be {
		e.buf = binary.BigEndian.AppendUint16(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint16(e.buf, v)
	}
}

func (e *enc) u32(v uint32) {
	if e.be {
		e.buf = binary.BigEndian.AppendUint32(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, v)
	}
}

func (e *enc) u64(v uint64) {
	if e.be {
		e.buf = binary.BigEndian.AppendUint64(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint64(e.buf, v)
	}
}

func (e *enc) raw(b []byte) { e.buf = append(e.buf, b...) }

func (e *enc) pad() {
	for len(e.buf)%4 != 0 {
		e.buf = append(e.buf, 0)
	}
}

// frame builds an Ethernet/IPv4/UDP frame with payload bytes of payload.
func frame(tb testing.TB, i, payload int) []byte {
	tb.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	return serialize(tb, i, payload, eth)
}

// rawFrame builds an IPv4/UDP packet without a link header.
func rawFrame(tb testing.TB, i, payload int) []byte {
	tb.Helper()
	return serialize(tb, i, payload)
}

func serialize(tb testing.TB, i, payload int, head ...gopacket.SerializableLayer) []byte {
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 1, byte(i >> 8), byte(i)},
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(1000 + i%1000)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	ls := append(head, ip, udp, gopacket.Payload(bytes.Repeat([]byte{byte(i)}, payload)))
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// pcapRec is one record to write into a classic pcap file.
type pcapRec struct {
	sec, frac uint32
	data      []byte
	orig      uint32 // 0: len(data)
}

// buildPcap writes a pcap file by hand. Expected packets assume no FCS;
// callers with FCS bits in network fix want themselves.
func buildPcap(be, nano bool, network uint32, recs []pcapRec) capFile {
	e := &enc{be: be}
	magic := uint32(0xa1b2c3d4)
	mul := int64(1000)
	if nano {
		magic, mul = 0xa1b23c4d, 1
	}
	e.u32(magic)
	e.u16(2)
	e.u16(4)
	e.u32(0)
	e.u32(0)
	e.u32(65535)
	e.u32(network)
	f := capFile{recs: []rec{{0, len(e.buf), -1}}, names: []string{""}}
	for _, r := range recs {
		orig := r.orig
		if orig == 0 {
			orig = uint32(len(r.data))
		}
		start := len(e.buf)
		e.u32(r.sec)
		e.u32(r.frac)
		e.u32(uint32(len(r.data)))
		e.u32(orig)
		e.raw(r.data)
		f.recs = append(f.recs, rec{start, len(e.buf), len(f.want)})
		f.want = append(f.want, Packet{
			Timestamp: int64(r.sec)*1e9 + int64(r.frac)*mul,
			Data:      r.data,
			OrigLen:   int(orig),
			LinkType:  LinkType(network & 0xffff),
		})
	}
	f.data = e.buf
	return f
}

// ifSpec describes an interface to put in an IDB.
type ifSpec struct {
	link   LinkType
	snap   uint32
	name   string
	resol  int // if_tsresol; -1 leaves the option out (microseconds)
	offset int64
	fcsLen int // if_fcslen; 0 leaves it out
}

// ngBuilder writes pcapng by hand and tracks what a reader must return.
type ngBuilder struct {
	capFile
	e      *enc
	ifs    []ifSpec // current section
	base   int
	lastTS int64
}

func newNg() *ngBuilder { return &ngBuilder{e: &enc{}} }

func opt(e *enc, code uint16, val []byte) {
	e.u16(code)
	e.u16(uint16(len(val)))
	e.raw(val)
	e.pad()
}

// block writes one block with the given body (padded to 4 bytes).
func (b *ngBuilder) block(typ uint32, body func(e *enc), pkt int) {
	start := len(b.e.buf)
	b.e.u32(typ)
	b.e.u32(0) // length, patched below
	body(b.e)
	b.e.pad()
	n := uint32(len(b.e.buf) - start + 4)
	if b.e.be {
		binary.BigEndian.PutUint32(b.e.buf[start+4:], n)
	} else {
		binary.LittleEndian.PutUint32(b.e.buf[start+4:], n)
	}
	b.e.u32(n)
	b.recs = append(b.recs, rec{start, len(b.e.buf), pkt})
	b.data = b.e.buf
}

func (b *ngBuilder) shb(be bool) {
	b.e.be = be
	b.base += len(b.ifs)
	b.ifs = nil
	b.block(ngSHB, func(e *enc) {
		e.u32(0x1a2b3c4d)
		e.u16(1)
		e.u16(0)
		e.u64(^uint64(0))
		opt(e, 4, []byte("outflow test")) // shb_userappl
		opt(e, 0, nil)
	}, -1)
}

func (b *ngBuilder) idb(s ifSpec) {
	b.ifs = append(b.ifs, s)
	b.names = append(b.names, s.name)
	b.block(ngIDB, func(e *enc) {
		e.u16(uint16(s.link))
		e.u16(0)
		e.u32(s.snap)
		opt(e, 1, []byte("a comment before the name"))
		if s.name != "" {
			opt(e, 2, []byte(s.name))
		}
		if s.resol >= 0 {
			opt(e, 9, []byte{byte(s.resol)})
		}
		if s.offset != 0 {
			v := &enc{be: e.be}
			v.u64(uint64(s.offset))
			opt(e, 14, v.buf)
		}
		if s.fcsLen != 0 {
			opt(e, 13, []byte{byte(s.fcsLen)})
		}
		opt(e, 0, nil)
	}, -1)
}

// wantNS converts timestamp units to Unix ns with big integers, as an
// independent check of the reader's fixed-width arithmetic.
func wantNS(units uint64, s ifSpec) int64 {
	resol := s.resol
	if resol < 0 {
		resol = 6
	}
	v := new(big.Int).SetUint64(units)
	v.Mul(v, big.NewInt(1e9))
	base := big.NewInt(10)
	if resol&0x80 != 0 {
		base = big.NewInt(2)
	}
	div := new(big.Int).Exp(base, big.NewInt(int64(resol&0x7f)), nil)
	v.Quo(v, div)
	return int64(v.Uint64()) + s.offset*1e9
}

// epb writes an enhanced packet block (or, with obsolete, a type-2
// packet block). flags, if non-nil, adds an epb_flags option.
func (b *ngBuilder) epb(id int, units uint64, data []byte, orig int, flags *uint32, obsolete bool) {
	if orig == 0 {
		orig = len(data)
	}
	s := b.ifs[id]
	ts := wantNS(units, s)
	b.lastTS = ts
	typ := uint32(ngEPB)
	if obsolete {
		typ = ngPB
	}
	b.block(typ, func(e *enc) {
		if obsolete {
			e.u16(uint16(id))
			e.u16(0) // drops
		} else {
			e.u32(uint32(id))
		}
		e.u32(uint32(units >> 32))
		e.u32(uint32(units))
		e.u32(uint32(len(data)))
		e.u32(uint32(orig))
		e.raw(data)
		e.pad()
		opt(e, 1, []byte("packet comment"))
		if flags != nil {
			v := &enc{be: e.be}
			v.u32(*flags)
			opt(e, 2, v.buf)
		}
		opt(e, 0, nil)
	}, len(b.want))
	b.want = append(b.want, Packet{Timestamp: ts, Data: data, OrigLen: orig, LinkType: s.link, Interface: b.base + id})
}

// spb writes a simple packet block carrying data for a frame of orig bytes.
func (b *ngBuilder) spb(data []byte, orig int) {
	b.block(ngSPB, func(e *enc) {
		e.u32(uint32(orig))
		e.raw(data)
	}, len(b.want))
	b.want = append(b.want, Packet{Timestamp: b.lastTS, Data: data, OrigLen: orig, LinkType: b.ifs[0].link, Interface: b.base})
}

// other writes a block the reader must skip.
func (b *ngBuilder) other(typ uint32, body []byte) {
	b.block(typ, func(e *enc) { e.raw(body) }, -1)
}

// multiSection is a pcapng with three sections in alternating byte order,
// interfaces with different link types and timestamp resolutions, every
// packet block kind, and blocks the reader must skip.
func multiSection(tb testing.TB) capFile {
	b := newNg()
	b.shb(false)
	b.idb(ifSpec{link: LinkEthernet, name: "eth0", resol: -1})
	b.idb(ifSpec{link: LinkRaw, name: "tun0", resol: 9, snap: 9000})
	b.other(4, []byte{1, 0, 4, 0, 10, 0, 0, 1, 'h', 'o', 's', 't', 0, 0, 0, 0, 0, 0, 0, 0}) // NRB
	b.epb(0, 1_700_000_000_123_456, frame(tb, 1, 10), 0, nil, false)
	b.epb(1, 1_700_000_001_000_000_007, rawFrame(tb, 2, 33), 0, nil, false)
	b.other(5, make([]byte, 16))                              // ISB
	b.other(0x40000BAD, []byte{0x78, 0x56, 0x34, 0x12, 1, 2}) // custom, not to be copied
	b.other(0x12345, nil)                                     // unknown
	b.epb(0, 1_700_000_002_000_000, frame(tb, 3, 200), 1500, nil, false)

	b.shb(true)
	b.idb(ifSpec{link: LinkLinuxSLL, name: "any", resol: 0x80 | 20, offset: 3600})
	b.spb(frame(tb, 4, 0)[:40], 40) // timestamp carried from the last packet
	b.epb(0, 1_700_000_003<<20|0x12345, frame(tb, 5, 7), 0, nil, false)
	b.epb(0, 1_700_000_004<<20, frame(tb, 6, 1), 0, nil, true)
	b.spb(frame(tb, 7, 20), len(frame(tb, 7, 20)))
	b.other(10, make([]byte, 8)) // DSB

	b.shb(false)
	b.idb(ifSpec{link: LinkIPv4, resol: 12})
	b.idb(ifSpec{link: LinkEthernet, name: "veth1234", resol: 3, snap: 64})
	b.epb(1, 1_700_000_005_123, frame(tb, 8, 100)[:64], 142, nil, false)
	b.epb(0, 5_000_000_000_999 /* 5 s in ps: 2023 would overflow */, rawFrame(tb, 9, 3), 0, nil, false)
	return b.capFile
}

// smallPcap is a short classic pcap for the byte-by-byte truncation test.
func smallPcap(tb testing.TB, be, nano bool) capFile {
	return buildPcap(be, nano, uint32(LinkEthernet), []pcapRec{
		{sec: 1_700_000_000, frac: 1, data: frame(tb, 1, 5)},
		{sec: 1_700_000_001, frac: 999_999, data: frame(tb, 2, 0)[:20], orig: 300},
		{sec: 1_700_000_002, frac: 42, data: frame(tb, 3, 17)},
	})
}

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// drain reads src to its end, copying every packet.
func drain(tb testing.TB, src Source) ([]Packet, error) {
	tb.Helper()
	var out []Packet
	for {
		var p Packet
		err := src.Next(&p)
		if err != nil {
			return out, err
		}
		p.Data = bytes.Clone(p.Data)
		out = append(out, p)
		if len(out) > 1<<22 {
			tb.Fatal("source does not end")
		}
	}
}

func samePackets(tb testing.TB, got, want []Packet) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Timestamp != w.Timestamp || g.OrigLen != w.OrigLen || g.LinkType != w.LinkType ||
			g.Interface != w.Interface || !bytes.Equal(g.Data, w.Data) {
			tb.Fatalf("packet %d:\n got ts=%d orig=%d link=%v if=%d len=%d\nwant ts=%d orig=%d link=%v if=%d len=%d",
				i, g.Timestamp, g.OrigLen, g.LinkType, g.Interface, len(g.Data),
				w.Timestamp, w.OrigLen, w.LinkType, w.Interface, len(w.Data))
		}
	}
}
