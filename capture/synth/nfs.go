package synth

import (
	"encoding/binary"
	"strconv"
	"time"
)

// ONC RPC / NFSv3 constants (RFC 5531, RFC 1813).
const (
	rpcCall        = 0
	rpcReply       = 1
	rpcVersion     = 2
	nfsProgram     = 100003
	nfsVersion     = 3
	nfsProcRead    = 6
	nfsProcWrite   = 7
	authNone       = 0
	authUnix       = 1
	nfsFileSync    = 2
	rpcLastFrag    = 1 << 31
	nfsMaxTransfer = 32768 // per READ/WRITE, as a typical rsize/wsize
)

// NFSConn builds NFSv3 calls and replies over TCP. Each RPC message is one
// record-marking fragment: a 4-byte big-endian header with the last-fragment
// bit and the length, then the XDR-encoded message. Calls carry AUTH_UNIX
// credentials; transaction ids count up from XID. File handles are at most
// 64 bytes in NFSv3.
type NFSConn struct {
	XID      uint32
	Machine  string // AUTH_UNIX machine name; default "worker"
	UID, GID uint32
	Verifier [8]byte // write verifier the server returns
}

// Write is a FILE_SYNC WRITE of data at off to the file handle fh, and
// its successful reply.
func (c *NFSConn) Write(fh []byte, off uint64, data Payload) (call, reply Payload) {
	n := data.Len()
	a := xdrOpaque(nil, fh)
	a = binary.BigEndian.AppendUint64(a, off)
	a = be32(a, uint32(n), nfsFileSync, uint32(n)) // count, stable, data length
	call = Concat(Bytes(c.call(nfsProcWrite, a, n+xdrPad(n))), data, Bytes(make([]byte, xdrPad(n))))

	r := be32(nil, 0, 0, 0)             // NFS3_OK, wcc_data: no pre-op and no post-op attributes
	r = be32(r, uint32(n), nfsFileSync) // count, committed
	r = append(r, c.Verifier[:]...)
	reply = Bytes(c.reply(r, 0))
	c.XID++
	return call, reply
}

// Read is a READ of data.Len() bytes at off, and the reply returning data
// (eof when the read reaches the end of the file).
func (c *NFSConn) Read(fh []byte, off uint64, data Payload, eof bool) (call, reply Payload) {
	n := data.Len()
	a := xdrOpaque(nil, fh)
	a = binary.BigEndian.AppendUint64(a, off)
	a = be32(a, uint32(n))
	call = Bytes(c.call(nfsProcRead, a, 0))

	e := uint32(0)
	if eof {
		e = 1
	}
	r := be32(nil, 0, 0, uint32(n), e, uint32(n)) // NFS3_OK, no post-op attributes, count, eof, data length
	reply = Concat(Bytes(c.reply(r, n+xdrPad(n))), data, Bytes(make([]byte, xdrPad(n))))
	c.XID++
	return call, reply
}

// call renders the record mark and RPC call header for proc with args; more
// is the number of bytes the caller appends after args.
func (c *NFSConn) call(proc uint32, args []byte, more int) []byte {
	m := c.Machine
	if m == "" {
		m = "worker"
	}
	cred := be32(nil, 0) // stamp
	cred = xdrOpaque(cred, []byte(m))
	cred = be32(cred, c.UID, c.GID, 1, c.GID) // uid, gid, one auxiliary gid
	b := be32(make([]byte, 4, 64+len(args)), c.XID, rpcCall, rpcVersion, nfsProgram, nfsVersion, proc)
	b = be32(b, authUnix)
	b = xdrOpaque(b, cred)
	b = be32(b, authNone, 0) // verifier
	b = append(b, args...)
	binary.BigEndian.PutUint32(b, rpcLastFrag|uint32(len(b)-4+more))
	return b
}

// reply renders the record mark and an accepted, successful RPC reply
// header followed by res; more bytes follow as in call.
func (c *NFSConn) reply(res []byte, more int) []byte {
	b := be32(make([]byte, 4, 32+len(res)), c.XID, rpcReply, 0, authNone, 0, 0) // MSG_ACCEPTED, null verifier, SUCCESS
	b = append(b, res...)
	binary.BigEndian.PutUint32(b, rpcLastFrag|uint32(len(b)-4+more))
	return b
}

func xdrPad(n int) int { return (4 - n%4) % 4 }

// xdrOpaque appends variable-length opaque data: length, bytes, padding.
func xdrOpaque(b, v []byte) []byte {
	b = be32(b, uint32(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, xdrPad(len(v)))...)
}

func be32(b []byte, vs ...uint32) []byte {
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// NFSSession describes a client writing a file and reading it back, for
// Scenario.NFS.
type NFSSession struct {
	Handle []byte // file handle; default 32 derived bytes
	Write  Payload
	Read   int // bytes read back from offset 0 (at most Write.Len())
}

// NFS plans an NFSv3-over-TCP connection (ep.ServerPort 2049 when zero)
// with WRITE calls of at most 32 KiB, then READs. The connection stays open,
// as NFS mounts do.
func (s *Scenario) NFS(ep Endpoints, at time.Duration, sess NFSSession, opt TCPOptions) *TCP {
	if ep.ServerPort == 0 {
		ep.ServerPort = 2049
	}
	c := s.TCP(ep, at, "nfs", opt)
	conn := NFSConn{XID: s.rng.Uint32(), UID: 1000, GID: 1000}
	fh := sess.Handle
	if fh == nil {
		fh = make([]byte, 32)
		fillBytes(s.rng.Uint64(), fh, conn.Verifier[:])
	}
	ex := func(call, reply Payload) {
		c.Send(ToServer, call, 100*time.Microsecond)
		c.Send(ToClient, reply, 500*time.Microsecond)
	}
	w := sess.Write
	for off := 0; off < w.Len(); off += nfsMaxTransfer {
		ex(conn.Write(fh, uint64(off), w.Slice(off, nfsMaxTransfer)))
	}
	rd := min(sess.Read, w.Len())
	for off := 0; off < rd; off += nfsMaxTransfer {
		n := min(nfsMaxTransfer, rd-off)
		ex(conn.Read(fh, uint64(off), w.Slice(off, n), off+n >= w.Len()))
	}
	c.Note("written", strconv.Itoa(w.Len()))
	c.Note("read", strconv.Itoa(rd))
	return c
}
