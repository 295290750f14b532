package rpc

import "encoding/binary"

// xdr reads XDR (RFC 4506) from a buffer that may hold only the start of a
// message. A read past the end marks the reader short and records how many
// bytes would have been needed, so the caller can buffer more and retry; a
// value that breaks a protocol limit marks it bad.
type xdr struct {
	b     []byte
	off   int
	short bool // ran out of buffered bytes
	bad   bool // malformed
	need  int  // bytes needed from the start of b when short
}

func (x *xdr) ok() bool { return !x.short && !x.bad }

func (x *xdr) want(n int) bool {
	if !x.ok() {
		return false
	}
	if n < 0 || x.off+n > len(x.b) {
		x.short = true
		x.need = x.off + n
		if n < 0 {
			x.bad = true
		}
		return false
	}
	return true
}

func (x *xdr) u32() uint32 {
	if !x.want(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(x.b[x.off:])
	x.off += 4
	return v
}

func (x *xdr) u64() uint64 {
	if !x.want(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(x.b[x.off:])
	x.off += 8
	return v
}

func (x *xdr) bool() bool { return x.u32() != 0 }

// skip drops n bytes that must be buffered (fixed-size fields).
func (x *xdr) skip(n int) {
	if x.want(n) {
		x.off += n
	}
}

func pad4(n uint32) int { return int((uint64(n) + 3) &^ 3) }

// fixed reads n bytes of fixed-length opaque data.
func (x *xdr) fixed(n int) []byte {
	if !x.want(pad4(uint32(n))) {
		return nil
	}
	v := x.b[x.off : x.off+n]
	x.off += pad4(uint32(n))
	return v
}

// opaque reads variable-length opaque data of at most max bytes.
func (x *xdr) opaque(max uint32) []byte {
	n := x.u32()
	if !x.ok() {
		return nil
	}
	if n > max {
		x.bad = true
		return nil
	}
	if !x.want(pad4(n)) {
		return nil
	}
	v := x.b[x.off : x.off+int(n)]
	x.off += pad4(n)
	return v
}

// opaqueLen reads the length of trailing opaque data (file contents) whose
// bytes are not needed; the reader ends there.
func (x *xdr) opaqueLen(max uint32) uint32 {
	n := x.u32()
	if x.ok() && n > max {
		x.bad = true
	}
	return n
}

// bitmap4 skips an NFSv4 bitmap (RFC 7530 section 3.3.7).
func (x *xdr) bitmap4() {
	n := x.u32()
	if n > 64 {
		x.bad = true
		return
	}
	x.skip(4 * int(n))
}

// fattr4 skips NFSv4 attributes: a bitmap and an opaque attribute list.
func (x *xdr) fattr4() {
	x.bitmap4()
	x.opaque(maxAttr)
}

const (
	maxAuth   = 400     // RFC 5531 section 8.2
	maxFH2    = 32      // NFSv2 fhandle (RFC 1094 section 2.3.3)
	maxFH3    = 64      // NFS3_FHSIZE (RFC 1813 section 2.4)
	maxFH4    = 128     // NFS4_FHSIZE (RFC 7530 section 2.2)
	maxName   = 1024    // component names; NFS limits are 255 in practice
	maxPath   = 1024    // MNTPATHLEN
	maxData   = 1 << 26 // file data in one READ or WRITE
	maxAttr   = 1 << 16
	maxOpaque = 1024 // owners, tags, client ids
)
