package capture

import (
	"encoding/binary"
	"math/bits"
)

// pcapng block types this reader interprets; everything else is skipped.
const (
	ngSHB = 0x0a0d0d0a // section header
	ngIDB = 1          // interface description
	ngPB  = 2          // packet block (obsolete)
	ngSPB = 3          // simple packet block
	ngEPB = 6          // enhanced packet block
)

const (
	// maxInterfaces bounds the interface table over all sections, so that
	// a file of nothing but IDBs cannot grow memory without limit.
	maxInterfaces = 1 << 16
	// maxIfName bounds a kept interface name.
	maxIfName = 256
)

// ngIface is one interface described by an IDB.
type ngIface struct {
	name string
	link LinkType
	snap uint32
	fcs  int // FCS bytes per frame from if_fcslen
	ts   tsConv
}

// tsConv turns an interface's timestamp units into Unix nanoseconds.
type tsConv struct {
	kind uint8  // tsMul, tsDiv or tsBin
	k    uint64 // multiplier, divisor, or binary exponent
	off  int64  // if_tsoffset, in nanoseconds
}

const (
	tsMul = iota // ns = ts * k
	tsDiv        // ns = ts / k
	tsBin        // ns = ts * 1e9 / 2^k
)

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// newTSConv builds the conversion for an if_tsresol value: the low 7 bits
// are a negative exponent of 10, or of 2 when the top bit is set.
func newTSConv(resol uint8, offsetSec int64) tsConv {
	c := tsConv{off: offsetSec * 1e9}
	e := uint64(resol & 0x7f)
	switch {
	case resol&0x80 != 0:
		c.kind, c.k = tsBin, e
	case e <= 9:
		c.kind, c.k = tsMul, pow10[9-e]
	case e-9 < uint64(len(pow10)):
		c.kind, c.k = tsDiv, pow10[e-9]
	default: // units so fine that every representable count is under 1 ns
		c.kind, c.k = tsMul, 0
	}
	return c
}

func (c *tsConv) ns(ts uint64) int64 {
	var v uint64
	switch c.kind {
	case tsMul:
		v = ts * c.k
	case tsDiv:
		v = ts / c.k
	default:
		// 128-bit product so that fine binary resolutions do not overflow.
		hi, lo := bits.Mul64(ts, 1e9)
		switch {
		case c.k == 0:
			v = lo
		case c.k < 64:
			v = lo>>c.k | hi<<(64-c.k)
		default:
			v = hi >> (c.k - 64)
		}
	}
	return int64(v) + c.off
}

// ngReader reads pcapng: blocks grouped in sections, each section with its
// own byte order and interface list.
type ngReader struct {
	stream
	be     bool
	ifaces []ngIface // every interface of every section so far
	base   int       // index in ifaces of the current section's interface 0
	lastTS int64     // for simple packet blocks, which carry no timestamp
	// pending is the unread tail of a packet block too large for the
	// buffer; it is skipped on the next call so the packet's Data, which
	// points into the buffer, stays valid until then.
	pending    int64
	pendingOff int64
}

func newNgReader(s stream) (Source, error) {
	r := &ngReader{stream: s}
	if err := r.section(true); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ngReader) u16(b []byte) uint16 {
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *ngReader) u64(b []byte) uint64 {
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

func (r *ngReader) InterfaceName(i int) string {
	if i < 0 || i >= len(r.ifaces) {
		return ""
	}
	return r.ifaces[i].name
}

// section reads a section header block at the current offset: it sets the
// byte order and starts a new interface list.
func (r *ngReader) section(first bool) error {
	h, err := r.peek(12)
	if err != nil {
		return err
	}
	switch {
	case h[8] == 0x1a && h[9] == 0x2b && h[10] == 0x3c && h[11] == 0x4d:
		r.be = true
	case h[8] == 0x4d && h[9] == 0x3c && h[10] == 0x2b && h[11] == 0x1a:
		r.be = false
	default:
		if first {
			return r.fail(ErrNotCapture)
		}
		return r.corrupt("section header byte-order magic % x", h[8:12])
	}
	blen := r.u32(h[4:])
	if blen < 28 || blen%4 != 0 || blen > bufSize {
		return r.corrupt("section header length %d", blen)
	}
	b, err := r.peek(int(blen))
	if err != nil {
		return err
	}
	if t := r.u32(b[blen-4:]); t != blen {
		return r.corrupt("section header length %d, trailer says %d", blen, t)
	}
	if major := r.u16(b[12:]); major != 1 {
		return r.corrupt("pcapng version %d.%d", major, r.u16(b[14:]))
	}
	r.base = len(r.ifaces)
	r.advance(int(blen))
	return nil
}

// options walks a block's options, calling fn for each until the end
// marker. A malformed option list ends the walk: options are extras, the
// block itself is still usable.
func (r *ngReader) options(b []byte, fn func(code uint16, val []byte)) {
	for len(b) >= 4 {
		code, n := r.u16(b), int(r.u16(b[2:]))
		if code == 0 {
			return
		}
		padded := 4 + (n+3)&^3
		if padded > len(b) {
			return
		}
		fn(code, b[4:4+n])
		b = b[padded:]
	}
}

func (r *ngReader) iface(b []byte) error {
	if len(r.ifaces) >= maxInterfaces {
		return r.corrupt("more than %d interfaces", maxInterfaces)
	}
	ifc := ngIface{link: LinkType(r.u16(b[8:])), snap: r.u32(b[12:])}
	resol, offset := uint8(6), int64(0)
	r.options(b[16:len(b)-4], func(code uint16, val []byte) {
		switch {
		case code == 2: // if_name
			if len(val) > maxIfName {
				val = val[:maxIfName]
			}
			ifc.name = string(val)
		case code == 9 && len(val) == 1: // if_tsresol
			resol = val[0]
		case code == 13 && len(val) == 1: // if_fcslen, in bytes
			ifc.fcs = int(val[0])
		case code == 14 && len(val) == 8: // if_tsoffset, seconds
			offset = int64(r.u64(val))
		}
	})
	ifc.ts = newTSConv(resol, offset)
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

func (r *ngReader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	if r.pending > 0 {
		n := r.pending
		r.pending = 0
		r.off = r.pendingOff
		if err := r.skip(n); err != nil {
			return err
		}
	}
	// Every pass consumes a block of at least 12 bytes or ends the source.
	for {
		h, err := r.peek(8)
		if err != nil {
			return err
		}
		if r.u32(h) == ngSHB { // same bytes in either order
			if err := r.section(false); err != nil {
				return err
			}
			continue
		}
		typ, blen := r.u32(h), r.u32(h[4:])
		if blen < 12 || blen%4 != 0 {
			return r.corrupt("block type %#x length %d", typ, blen)
		}
		switch typ {
		case ngEPB, ngPB:
			return r.packet(p, typ, blen)
		case ngSPB:
			return r.simple(p, blen)
		case ngIDB:
			if blen < 20 || blen > bufSize {
				return r.corrupt("interface block length %d", blen)
			}
			b, err := r.whole(blen)
			if err != nil {
				return err
			}
			if err := r.iface(b); err != nil {
				return err
			}
			r.advance(int(blen))
		default: // NRB, ISB, DSB, custom, and types we do not know
			if blen > bufSize {
				if err := r.skip(int64(blen)); err != nil {
					return err
				}
				continue
			}
			if _, err := r.whole(blen); err != nil {
				return err
			}
			r.advance(int(blen))
		}
	}
}

// whole peeks a block of blen <= bufSize bytes and checks its trailing
// length copy.
func (r *ngReader) whole(blen uint32) ([]byte, error) {
	b, err := r.peek(int(blen))
	if err != nil {
		return nil, err
	}
	if t := r.u32(b[blen-4:]); t != blen {
		return nil, r.corrupt("block length %d, trailer says %d", blen, t)
	}
	return b, nil
}

// packet reads an enhanced packet block or an obsolete packet block; both
// have 28 bytes of fixed fields, differing only in the interface field.
func (r *ngReader) packet(p *Packet, typ, blen uint32) error {
	const fixed = 28
	if blen < fixed+4 {
		return r.corrupt("packet block length %d", blen)
	}
	h, err := r.peek(fixed)
	if err != nil {
		return err
	}
	capLen := r.u32(h[20:])
	if capLen > maxCapLen || fixed+(capLen+3)&^3+4 > blen {
		return r.corrupt("captured length %d in block of %d", capLen, blen)
	}
	var id uint32
	if typ == ngEPB {
		id = r.u32(h[8:])
	} else {
		id = uint32(r.u16(h[8:]))
	}
	if id >= uint32(len(r.ifaces)-r.base) {
		return r.corrupt("packet on undeclared interface %d", id)
	}
	ifc := &r.ifaces[r.base+int(id)]
	end := fixed + int(capLen)
	var b []byte
	fcs := ifc.fcs
	if blen <= bufSize {
		if b, err = r.whole(blen); err != nil {
			return err
		}
		r.options(b[fixed+(capLen+3)&^3:blen-4], func(code uint16, val []byte) {
			// epb_flags / pack_flags bits 5-8: FCS length in bytes,
			// overriding if_fcslen when given.
			if code == 2 && len(val) == 4 {
				if n := int(r.u32(val)>>5) & 0xf; n != 0 {
					fcs = n
				}
			}
		})
		r.advance(int(blen))
	} else {
		if b, err = r.peek(end); err != nil {
			return err
		}
		r.pendingOff = r.off
		r.pending = int64(blen)
	}
	// b, not h: the second peek may have moved the buffered bytes.
	ts := ifc.ts.ns(uint64(r.u32(b[12:]))<<32 | uint64(r.u32(b[16:])))
	orig := int(r.u32(b[24:]))
	data, orig := stripFCS(b[fixed:end:end], orig, fcs)
	if orig < len(data) {
		orig = len(data)
	}
	r.lastTS = ts
	p.Timestamp = ts
	p.Data = data
	p.OrigLen = orig
	p.LinkType = ifc.link
	p.Interface = r.base + int(id)
	return nil
}

// simple reads a simple packet block: interface 0 of the section, no
// timestamp, captured length implied by the block length and snap length.
func (r *ngReader) simple(p *Packet, blen uint32) error {
	const fixed = 12
	if blen < fixed+4 {
		return r.corrupt("simple packet block length %d", blen)
	}
	if len(r.ifaces) == r.base {
		return r.corrupt("simple packet block before any interface")
	}
	ifc := &r.ifaces[r.base]
	h, err := r.peek(fixed)
	if err != nil {
		return err
	}
	orig := r.u32(h[8:])
	capLen := min(orig, blen-fixed-4)
	if ifc.snap > 0 {
		capLen = min(capLen, ifc.snap)
	}
	if capLen > maxCapLen {
		return r.corrupt("captured length %d", capLen)
	}
	end := fixed + int(capLen)
	var b []byte
	if blen <= bufSize {
		if b, err = r.whole(blen); err != nil {
			return err
		}
		r.advance(int(blen))
	} else {
		if b, err = r.peek(end); err != nil {
			return err
		}
		r.pendingOff = r.off
		r.pending = int64(blen)
	}
	data, o := stripFCS(b[fixed:end:end], int(orig), ifc.fcs)
	if o < len(data) {
		o = len(data)
	}
	p.Timestamp = r.lastTS
	p.Data = data
	p.OrigLen = o
	p.LinkType = ifc.link
	p.Interface = r.base
	return nil
}
