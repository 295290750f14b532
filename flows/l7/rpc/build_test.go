package rpc

import "encoding/binary"

// Builders for hand-made ONC RPC traffic. XDR encoding follows RFC 4506:
// big-endian 32-bit words, opaque data padded to 4 bytes.

type enc []byte

func (e enc) u32(v uint32) enc { return binary.BigEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.BigEndian.AppendUint64(e, v) }

func (e enc) opaque(b []byte) enc {
	e = e.u32(uint32(len(b)))
	e = append(e, b...)
	for len(e)%4 != 0 {
		e = append(e, 0)
	}
	return e
}

func (e enc) str(s string) enc { return e.opaque([]byte(s)) }
func (e enc) raw(b []byte) enc { return append(e, b...) }
func (e enc) zeros(n int) enc  { return append(e, make([]byte, n)...) }
func (e enc) fill(n int) enc   { return append(e, data(n)...) }
func (e enc) dataOp(n int) enc { return e.opaque(data(n)) }
func (e enc) words(n int) enc  { return e.zeros(4 * n) }
func (e enc) bool(b bool) enc {
	if b {
		return e.u32(1)
	}
	return e.u32(0)
}
func (e enc) stateid() enc { return e.zeros(16) }
func (e enc) bitmap(w ...uint32) enc {
	e = e.u32(uint32(len(w)))
	for _, v := range w {
		e = e.u32(v)
	}
	return e
}

// data is file content that the parser must never interpret.
func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// record frames msg as one last fragment (RFC 5531 section 11).
func record(msg []byte) []byte {
	return append(enc(nil).u32(1<<31|uint32(len(msg))), msg...)
}

// fragments frames msg as several fragments cut at the given sizes.
func fragments(msg []byte, sizes ...int) []byte {
	var out []byte
	for _, n := range sizes {
		out = append(enc(out).u32(uint32(n)), msg[:n]...)
		msg = msg[n:]
	}
	return append(out, record(msg)...)
}

type cred struct {
	flavor uint32
	body   []byte
}

var authNone = cred{}

// authSys is an AUTH_SYS credential (RFC 5531 appendix A).
func authSys(machine string, uid, gid uint32) cred {
	return cred{flavorSys, enc(nil).u32(0x5f5e100).str(machine).u32(uid).u32(gid).u32(2).u32(gid).u32(10)}
}

// authGSS is an RPCSEC_GSS credential (RFC 2203 section 5.3.1).
func authGSS(proc, svc uint32) cred {
	return cred{flavorGSS, enc(nil).u32(1).u32(proc).u32(7).u32(svc).str("handle")}
}

// callMsg is a CALL header (RFC 5531 section 9) followed by args.
func callMsg(xid, prog, vers, proc uint32, c cred, args []byte) []byte {
	e := enc(nil).u32(xid).u32(msgCall).u32(rpcVers).u32(prog).u32(vers).u32(proc)
	e = e.u32(c.flavor).opaque(c.body)
	e = e.u32(0).opaque(nil) // AUTH_NONE verifier
	return e.raw(args)
}

// replyMsg is an accepted, successful REPLY followed by results.
func replyMsg(xid uint32, results []byte) []byte {
	return enc(nil).u32(xid).u32(msgReply).u32(0).u32(0).opaque(nil).u32(0).raw(results)
}

// deniedMsg is a MSG_DENIED reply (AUTH_ERROR, AUTH_TOOWEAK).
func deniedMsg(xid uint32) []byte {
	return enc(nil).u32(xid).u32(msgReply).u32(1).u32(1).u32(5)
}

func fh3(id byte) []byte {
	return []byte{1, 0, 7, 0, id, id, id, id, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2, id}
}
func fh2(id byte) []byte {
	b := make([]byte, maxFH2)
	b[0], b[31] = id, id
	return b
}

// NFSv3 (RFC 1813 section 3.3).

func nfs3LookupArgs(dir []byte, name string) []byte { return enc(nil).opaque(dir).str(name) }
func nfs3LookupRes(fh []byte) []byte {
	return enc(nil).u32(0).opaque(fh).bool(false).bool(false)
}
func nfs3ReadArgs(fh []byte, count uint32) []byte { return enc(nil).opaque(fh).u64(0).u32(count) }
func nfs3ReadRes(n int) []byte {
	return enc(nil).u32(0).bool(true).zeros(84).u32(uint32(n)).bool(true).dataOp(n)
}
func nfs3WriteArgs(fh []byte, n int) []byte {
	return enc(nil).opaque(fh).u64(0).u32(uint32(n)).u32(2).dataOp(n)
}
func nfs3WriteRes(n int) []byte {
	return enc(nil).u32(0).bool(false).bool(false).u32(uint32(n)).u32(2).zeros(8)
}

// nfs3CreateArgs: diropargs3 and createhow3 UNCHECKED with an empty sattr3.
func nfs3CreateArgs(dir []byte, name string) []byte {
	return enc(nil).opaque(dir).str(name).u32(0).words(6)
}
func nfs3CreateRes(fh []byte) []byte {
	return enc(nil).u32(0).bool(true).opaque(fh).bool(false).bool(false).bool(false)
}
func nfs3ErrRes(status uint32) []byte { return enc(nil).u32(status).bool(false) }

// NFSv2 (RFC 1094 section 2.2).

func nfs2DiropArgs(dir []byte, name string) []byte { return enc(nil).raw(dir).str(name) }

// nfs2CreateArgs: diropargs and an sattr of 8 words.
func nfs2CreateArgs(dir []byte, name string) []byte { return enc(nil).raw(dir).str(name).words(8) }
func nfs2DiropRes(fh []byte) []byte                 { return enc(nil).u32(0).raw(fh).words(17) }
func nfs2ReadArgs(fh []byte) []byte                 { return enc(nil).raw(fh).u32(0).u32(8192).u32(8192) }
func nfs2ReadRes(n int) []byte                      { return enc(nil).u32(0).words(17).dataOp(n) }
func nfs2WriteArgs(fh []byte, n int) []byte {
	return enc(nil).raw(fh).u32(0).u32(0).u32(uint32(n)).dataOp(n)
}

// NFSv4 COMPOUND (RFC 7530 section 16.2, RFC 8881 section 18).

func compound4(minor uint32, ops ...[]byte) []byte {
	e := enc(nil).str("tag").u32(minor).u32(uint32(len(ops)))
	for _, op := range ops {
		e = e.raw(op)
	}
	return e
}

func op4(code uint32) enc        { return enc(nil).u32(code) }
func seq4() []byte               { return op4(op4Sequence).zeros(16).u32(1).u32(0).u32(0).bool(false) }
func putfh4(fh []byte) []byte    { return op4(op4Putfh).opaque(fh) }
func lookup4(name string) []byte { return op4(op4Lookup).str(name) }
func getattr4() []byte           { return op4(op4Getattr).bitmap(0x0010011a, 0x00b0a23a) }
func read4() []byte              { return op4(op4Read).stateid().u64(0).u32(1 << 20) }
func write4(n int) []byte        { return op4(op4Write).stateid().u64(0).u32(2).dataOp(n) }
func open4(name string, create bool) []byte {
	e := op4(op4Open).u32(0).u32(2).u32(0).u64(0x1234).str("open id:0000")
	if create {
		e = e.u32(1).u32(0).bitmap(0, 0x2).str("\x00\x00\x01\xa4") // UNCHECKED4, mode 0644
	} else {
		e = e.u32(0)
	}
	return e.u32(0).str(name) // CLAIM_NULL
}

func compound4Res(results ...[]byte) []byte {
	e := enc(nil).u32(0).str("tag").u32(uint32(len(results)))
	for _, r := range results {
		e = e.raw(r)
	}
	return e
}

func res4(code uint32) enc       { return enc(nil).u32(code).u32(0) }
func seq4Res() []byte            { return res4(op4Sequence).zeros(16).u32(1).u32(0).u32(63).u32(63).u32(0) }
func getfh4Res(fh []byte) []byte { return res4(op4Getfh).opaque(fh) }
func getattr4Res() []byte        { return res4(op4Getattr).bitmap(0x10).str("12345678") }
func read4Res(n int) []byte      { return res4(op4Read).bool(true).dataOp(n) }
func write4Res(n int) []byte {
	return res4(op4Write).u32(uint32(n)).u32(2).zeros(8)
}

// open4Res: stateid, change_info4, rflags, attrset, a read delegation.
func open4Res() []byte {
	return res4(op4Open).stateid().bool(true).u64(1).u64(2).u32(4).bitmap(0x10).
		u32(1).stateid().bool(false).u32(0).u32(0).u32(1).str("OWNER@")
}

// Portmapper, rpcbind (RFC 1833) and MOUNT (RFC 1813 appendix I).

func getportArgs(prog, vers, prot uint32) []byte {
	return enc(nil).u32(prog).u32(vers).u32(prot).u32(0)
}
func getaddrArgs(prog, vers uint32, netid string) []byte {
	return enc(nil).u32(prog).u32(vers).str(netid).str("").str("")
}
func mntArgs(path string) []byte { return enc(nil).str(path) }
func mnt3Res(fh []byte) []byte   { return enc(nil).u32(0).opaque(fh).u32(1).u32(flavorSys) }
