package rpc

import (
	"bytes"
	"hash/maphash"
	"net/netip"
	"strconv"

	"outflow/flows/l7"
)

// maxOps bounds the NFSv4 COMPOUND operations parsed per message.
const maxOps = 32

// RPCSEC_GSS (RFC 2203 section 5).
const (
	flavorSys    = 1
	flavorGSS    = 6
	gssData      = 0
	gssIntegrity = 2
	gssPrivacy   = 3
)

// nfsOp is one parsed NFS procedure call or NFSv4 operation.
type nfsOp struct {
	code   uint32
	fh     []byte // the handle operated on (v2/v3 file or directory, v4 PUTFH)
	name   []byte // component name (LOOKUP, CREATE, OPEN) or mount path
	n      uint32 // WRITE data length
	create bool
}

// call is a parsed CALL, referring into the parsed buffer.
type call struct {
	xid, prog, vers, proc uint32
	flavor                uint32
	sys                   bool // AUTH_SYS credential
	uid, gid              uint32
	machine               []byte
	gss                   bool
	gssProc, gssSvc       uint32
	minor                 uint32
	ops                   *[maxOps]nfsOp // session-owned: not cleared per call
	nops                  int
	mapProg, mapVers      uint32
	mapProt               uint32
}

// reply holds the parsed results of a REPLY.
type reply struct {
	success bool
	status  uint32
	fh      []byte
	n       uint64 // READ data bytes
	hasN    bool
	port    uint32
	hasPort bool
}

// message parses one RPC message: a whole UDP datagram, or the buffered
// start of a TCP record. If more bytes are needed and final is false it
// returns how many; otherwise it applies what it parsed and returns 0.
func (s *session) message(ctx *l7.Context, b []byte, final bool) int {
	x := xdr{b: b}
	xid, mtype := x.u32(), x.u32()
	if !x.ok() {
		if final {
			s.truncated++
			return 0
		}
		return x.need
	}
	switch mtype {
	case msgCall:
		return s.call(ctx, &x, xid, final)
	case msgReply:
		return s.reply(ctx, &x, xid, final)
	}
	s.malformed(ctx)
	return 0
}

func (s *session) call(ctx *l7.Context, x *xdr, xid uint32, final bool) int {
	c := &s.c
	*c = call{xid: xid, ops: &s.opsBuf}
	rv := x.u32()
	c.prog, c.vers, c.proc = x.u32(), x.u32(), x.u32()
	if x.ok() && rv != rpcVers {
		s.malformed(ctx)
		return 0
	}
	c.flavor = x.u32()
	cred := x.opaque(maxAuth)
	x.u32()
	x.opaque(maxAuth) // verifier
	if x.short && !x.bad && !final {
		return x.need
	}
	if !x.ok() {
		if x.bad {
			s.malformed(ctx)
		} else {
			s.truncated++
		}
		return 0
	}
	s.credential(c, cred)
	args := true
	if c.gss {
		switch {
		case c.gssProc != gssData:
			args = false // context setup: the arguments are GSS tokens
		case c.gssSvc == gssIntegrity:
			x.u32() // rpc_gss_integ_data: databody length, then seq_num
			x.u32()
		case c.gssSvc == gssPrivacy:
			args = false
		}
	}
	if args {
		s.args(c, x)
	}
	if x.short && !x.bad && !final {
		return x.need
	}
	if x.bad {
		s.badArgs++
	}
	s.applyCall(ctx, c)
	return 0
}

// credential reads AUTH_SYS (RFC 5531 appendix A) and RPCSEC_GSS (RFC 2203
// section 5) credential bodies.
func (s *session) credential(c *call, body []byte) {
	x := xdr{b: body}
	switch c.flavor {
	case flavorSys:
		x.u32() // stamp
		c.machine = x.opaque(255)
		c.uid, c.gid = x.u32(), x.u32()
		c.sys = x.ok()
	case flavorGSS:
		if x.u32() != 1 { // RPCSEC_GSS_VERS_1
			return
		}
		c.gssProc = x.u32()
		x.u32() // seq_num
		c.gssSvc = x.u32()
		c.gss = x.ok()
	}
}

// args parses the arguments of the procedures that carry names, handles
// or data lengths.
func (s *session) args(c *call, x *xdr) {
	switch c.prog {
	case progNFS:
		switch c.vers {
		case 2:
			nfs2Args(c, x)
		case 3:
			nfs3Args(c, x)
		case 4:
			if c.proc == 1 {
				nfs4Args(c, x)
			}
		}
	case progMount:
		if c.proc == mountMnt {
			op := nfsOp{code: c.proc, name: x.opaque(maxPath)}
			if x.ok() {
				c.ops[0], c.nops = op, 1
			}
		}
	case progPortmap:
		switch {
		case c.vers == 2 && c.proc == pmapGetport:
			// struct mapping: prog, vers, prot, port (RFC 1833 section 3.1)
			c.mapProg, c.mapVers, c.mapProt = x.u32(), x.u32(), x.u32()
		case c.vers >= 3 && c.proc == pmapGetport, c.vers == 4 && c.proc == rpcbGetVers:
			// struct rpcb: prog, vers, netid, addr, owner (section 2.2)
			c.mapProg, c.mapVers = x.u32(), x.u32()
			netid := x.opaque(maxOpaque)
			switch {
			case bytes.HasPrefix(netid, []byte("tcp")):
				c.mapProt = 6
			case bytes.HasPrefix(netid, []byte("udp")):
				c.mapProt = 17
			}
		}
		if !x.ok() {
			c.mapProg = 0
		}
	}
}

// nfs2Args: RFC 1094 section 2.2; fhandle is 32 opaque bytes.
func nfs2Args(c *call, x *xdr) {
	op := nfsOp{code: c.proc}
	switch c.proc {
	case nfs2Read:
		op.fh = x.fixed(maxFH2)
	case nfs2Write:
		op.fh = x.fixed(maxFH2)
		x.u32() // beginoffset
		x.u32() // offset
		x.u32() // totalcount
		op.n = x.opaqueLen(maxData)
	case nfs2Lookup, nfs2Create, nfs2Mkdir:
		op.fh = x.fixed(maxFH2)
		op.name = x.opaque(maxName)
		op.create = c.proc != nfs2Lookup
	default:
		return
	}
	if x.ok() {
		c.ops[0], c.nops = op, 1
	}
}

// nfs3Args: RFC 1813 section 3.3.
func nfs3Args(c *call, x *xdr) {
	op := nfsOp{code: c.proc}
	switch c.proc {
	case nfs3Read:
		op.fh = x.opaque(maxFH3)
	case nfs3Write:
		op.fh = x.opaque(maxFH3)
		x.u64() // offset
		x.u32() // count
		x.u32() // stable
		op.n = x.opaqueLen(maxData)
	case nfs3Lookup, nfs3Create, nfs3Mkdir, nfs3Symlink, nfs3Mknod:
		op.fh = x.opaque(maxFH3)
		op.name = x.opaque(maxName)
		op.create = c.proc != nfs3Lookup
	default:
		return
	}
	if x.ok() {
		c.ops[0], c.nops = op, 1
	}
}

// nfs4Args parses COMPOUND4args (RFC 7530 section 16.2) up to the first
// operation whose arguments are unknown or carry file data.
func nfs4Args(c *call, x *xdr) {
	x.opaque(maxOpaque) // tag
	c.minor = x.u32()
	n := x.u32()
	if n > 1024 {
		x.bad = true
		return
	}
	for i := uint32(0); i < n && c.nops < maxOps && x.ok(); i++ {
		op := nfsOp{code: x.u32()}
		known := op4Args(x, &op)
		if !x.ok() {
			return
		}
		c.ops[c.nops] = op
		c.nops++
		if !known || op.code == op4Write {
			return
		}
	}
}

// op4Args reads the arguments of one NFSv4 operation (RFC 7530 section
// 16, RFC 8881 section 18, RFC 7862 section 15, RFC 8276 section 8). It
// returns false for operations it cannot skip.
func op4Args(x *xdr, op *nfsOp) bool {
	switch op.code {
	case op4Access, op4Openattr, op4SecinfoNN, op4ReclaimCompl:
		x.u32()
	case op4Close:
		x.u32()
		x.skip(16)
	case op4Commit:
		x.u64()
		x.u32()
	case op4Create:
		switch x.u32() {
		case 5: // NF4LNK: linkdata
			x.opaque(maxPath)
		case 3, 4: // NF4BLK, NF4CHR: specdata4
			x.skip(8)
		}
		op.name = x.opaque(maxName)
		x.fattr4()
		op.create = true
	case op4DelegPurge, op4Renew, op4DestroyClid:
		x.skip(8)
	case op4DelegReturn, op4FreeStateid, op4OffloadCncl, op4OffloadStat, op4DestroySess:
		x.skip(16)
	case op4Getattr:
		x.bitmap4()
	case op4Getfh, op4Lookupp, op4Putpubfh, op4Putrootfh, op4Readlink, op4Restorefh, op4Savefh:
	case op4Link, op4Remove, op4Secinfo, op4Getxattr, op4Removexattr:
		x.opaque(maxName)
	case op4Lock:
		x.u32()       // locktype
		x.u32()       // reclaim
		x.u64()       // offset
		x.u64()       // length
		if x.bool() { // open_to_lock_owner4
			x.u32()
			x.skip(16)
			x.u32()
			x.skip(8)
			x.opaque(maxOpaque)
		} else { // exist_lock_owner4
			x.skip(16)
			x.u32()
		}
	case op4Lockt:
		x.u32()
		x.u64()
		x.u64()
		x.skip(8)
		x.opaque(maxOpaque)
	case op4Locku:
		x.u32()
		x.u32()
		x.skip(16)
		x.u64()
		x.u64()
	case op4Lookup:
		op.name = x.opaque(maxName)
	case op4Nverify, op4Verify:
		x.fattr4()
	case op4Open:
		x.u32()             // seqid
		x.u32()             // share_access
		x.u32()             // share_deny
		x.skip(8)           // open_owner4 clientid
		x.opaque(maxOpaque) // open_owner4 owner
		if x.u32() == 1 {   // OPEN4_CREATE: createhow4
			op.create = true
			switch x.u32() {
			case 0, 1: // UNCHECKED4, GUARDED4
				x.fattr4()
			case 2: // EXCLUSIVE4
				x.skip(8)
			case 3: // EXCLUSIVE4_1
				x.skip(8)
				x.fattr4()
			default:
				x.bad = true
			}
		}
		switch x.u32() { // open_claim4
		case 0, 3: // CLAIM_NULL, CLAIM_DELEGATE_PREV
			op.name = x.opaque(maxName)
		case 1: // CLAIM_PREVIOUS
			x.u32()
		case 2: // CLAIM_DELEGATE_CUR
			x.skip(16)
			op.name = x.opaque(maxName)
		case 4, 6: // CLAIM_FH, CLAIM_DELEG_PREV_FH
		case 5: // CLAIM_DELEG_CUR_FH
			x.skip(16)
		default:
			x.bad = true
		}
	case op4OpenConfirm:
		x.skip(16)
		x.u32()
	case op4OpenDowngr:
		x.skip(16)
		x.u32()
		x.u32()
		x.u32()
	case op4Putfh:
		op.fh = x.opaque(maxFH4)
	case op4Read, op4ReadPlus:
		x.skip(16)
		x.u64()
		x.u32()
	case op4Readdir:
		x.u64()
		x.skip(8)
		x.u32()
		x.u32()
		x.bitmap4()
	case op4Rename:
		x.opaque(maxName)
		x.opaque(maxName)
	case op4Setattr:
		x.skip(16)
		x.fattr4()
	case op4Setclientid:
		x.skip(8)
		x.opaque(maxOpaque)
		x.u32()
		x.opaque(maxOpaque)
		x.opaque(maxOpaque)
		x.u32()
	case op4SetclientidC:
		x.skip(16)
	case op4Write:
		x.skip(16) // stateid
		x.u64()    // offset
		x.u32()    // stable
		op.n = x.opaqueLen(maxData)
	case op4RelLockowner:
		x.skip(8)
		x.opaque(maxOpaque)
	case op4BindConn:
		x.skip(16)
		x.u32()
		x.u32()
	case op4GetDevInfo:
		x.skip(16)
		x.u32()
		x.u32()
		x.bitmap4()
	case op4LayoutGet:
		x.u32()
		x.u32()
		x.u32()
		x.u64()
		x.u64()
		x.u64()
		x.skip(16)
		x.u32()
	case op4Sequence:
		x.skip(16)
		x.skip(16)
	case op4TestStateid:
		n := x.u32()
		if n > 1024 {
			x.bad = true
			return true
		}
		x.skip(16 * int(n))
	case op4Allocate, op4Deallocate:
		x.skip(16)
		x.u64()
		x.u64()
	case op4Seek:
		x.skip(16)
		x.u64()
		x.u32()
	case op4Clone:
		x.skip(32)
		x.skip(24)
	case op4Setxattr:
		x.u32()
		x.opaque(maxName)
		x.opaque(maxAttr)
	case op4Listxattrs:
		x.u64()
		x.u32()
	default:
		return false
	}
	return true
}

func (s *session) reply(ctx *l7.Context, x *xdr, xid uint32, final bool) int {
	stat := x.u32()
	i := s.pending.find(xid)
	var r reply
	if stat == 0 { // MSG_ACCEPTED
		x.u32()
		x.opaque(maxAuth) // verifier
		r.success = x.u32() == 0 && x.ok()
		if r.success && i >= 0 && s.pending.ents[i].results {
			p := &s.pending.ents[i]
			switch p.gssSvc {
			case gssIntegrity:
				x.u32()
				x.u32()
				s.results(p, x, &r)
			case gssPrivacy:
			default:
				s.results(p, x, &r)
			}
		}
	}
	if x.short && !x.bad && !final {
		return x.need
	}
	s.replies++
	if i < 0 {
		s.unmatched++
		return 0
	}
	p := &s.pending.ents[i]
	if stat == 1 {
		s.denied++
	}
	if r.success {
		s.applyReply(ctx, p, &r)
	}
	p.used = false
	return 0
}

// results parses the results the pending call asked for. Fields are set
// only once read in full.
func (s *session) results(p *pendEnt, x *xdr, r *reply) {
	switch p.prog {
	case progNFS:
		r.status = x.u32()
		if !x.ok() || r.status != 0 {
			return
		}
		switch p.vers {
		case 2:
			switch {
			case p.read:
				x.skip(68) // fattr
				n := x.opaqueLen(maxData)
				r.n, r.hasN = uint64(n), x.ok()
			case p.bind:
				r.fh = x.fixed(maxFH2)
			}
		case 3:
			switch {
			case p.read:
				if x.bool() { // post_op_attr
					x.skip(84)
				}
				x.u32() // count
				x.u32() // eof
				n := x.opaqueLen(maxData)
				r.n, r.hasN = uint64(n), x.ok()
			case p.bind && p.proc == nfs3Lookup:
				r.fh = x.opaque(maxFH3)
			case p.bind:
				if x.bool() { // post_op_fh3
					r.fh = x.opaque(maxFH3)
				}
			}
		case 4:
			compoundResults(x, r)
		}
	case progMount:
		if x.u32() != 0 {
			return
		}
		if p.vers == 3 {
			r.fh = x.opaque(maxFH3)
		} else {
			r.fh = x.fixed(maxFH2)
		}
	case progPortmap:
		if p.vers == 2 {
			port := x.u32()
			r.port, r.hasPort = port, x.ok()
			return
		}
		r.port, r.hasPort = uaddrPort(x.opaque(maxOpaque))
	}
	if !x.ok() {
		r.fh = nil
	}
}

// compoundResults walks COMPOUND4res (RFC 7530 section 16.2.3) to the GETFH
// handle and the READ data length.
func compoundResults(x *xdr, r *reply) {
	x.opaque(maxOpaque) // tag
	n := x.u32()
	for i := uint32(0); i < n && i < maxOps && x.ok(); i++ {
		code, status := x.u32(), x.u32()
		if !x.ok() || status != 0 {
			return
		}
		switch code {
		case op4Getfh:
			if fh := x.opaque(maxFH4); x.ok() {
				r.fh = fh
			}
		case op4Read:
			x.u32() // eof
			n := x.opaqueLen(maxData)
			if x.ok() {
				r.n += uint64(n)
				r.hasN = true
			}
			return // the data follows
		default:
			if !op4Results(x, code) {
				return
			}
		}
	}
}

// op4Results skips the successful result of one NFSv4 operation; false for
// operations it cannot skip.
func op4Results(x *xdr, code uint32) bool {
	switch code {
	case op4Access:
		x.u32()
		x.u32()
	case op4Close, op4Lock, op4Locku, op4OpenConfirm, op4OpenDowngr, op4Setclientid:
		x.skip(16)
	case op4Commit:
		x.skip(8)
	case op4Create:
		x.skip(20)
		x.bitmap4()
	case op4DelegPurge, op4DelegReturn, op4Lockt, op4Lookup, op4Lookupp, op4Nverify,
		op4Verify, op4Openattr, op4Putfh, op4Putpubfh, op4Putrootfh, op4Renew,
		op4Restorefh, op4Savefh, op4SetclientidC, op4RelLockowner, op4DestroySess,
		op4FreeStateid, op4DestroyClid, op4ReclaimCompl, op4Allocate, op4Deallocate:
	case op4Getattr:
		x.fattr4()
	case op4Link, op4Remove:
		x.skip(20)
	case op4Rename:
		x.skip(40)
	case op4Readlink:
		x.opaque(maxPath)
	case op4Setattr:
		x.bitmap4()
	case op4Write:
		x.u32()
		x.u32()
		x.skip(8)
	case op4Sequence:
		x.skip(36)
	case op4Open:
		x.skip(16) // stateid
		x.skip(20) // change_info4
		x.u32()    // rflags
		x.bitmap4()
		switch x.u32() { // open_delegation4
		case 0: // OPEN_DELEGATE_NONE
		case 1: // READ: stateid, recall, nfsace4
			x.skip(16)
			x.u32()
			ace4(x)
		case 2: // WRITE: stateid, recall, nfs_space_limit4, nfsace4
			x.skip(16)
			x.u32()
			switch x.u32() {
			case 1:
				x.u64()
			case 2:
				x.u32()
				x.u32()
			default:
				x.bad = true
			}
			ace4(x)
		case 3: // OPEN_DELEGATE_NONE_EXT (RFC 8881 section 18.16.2)
			if why := x.u32(); why == 1 || why == 2 {
				x.u32()
			}
		default:
			x.bad = true
		}
	case op4TestStateid:
		n := x.u32()
		if n > 1024 {
			x.bad = true
			return true
		}
		x.skip(4 * int(n))
	default:
		return false
	}
	return true
}

func ace4(x *xdr) {
	x.u32()
	x.u32()
	x.u32()
	x.opaque(maxOpaque)
}

// uaddrPort extracts the port from an rpcbind universal address, whose
// last two dot-separated numbers are the port's high and low bytes
// (RFC 5665 section 5.2.3.4).
func uaddrPort(a []byte) (uint32, bool) {
	var parts [2]uint32
	end := len(a)
	for k := 1; k >= 0; k-- {
		i := bytes.LastIndexByte(a[:end], '.')
		if i < 0 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(a[i+1:end]), 10, 8)
		if err != nil {
			return 0, false
		}
		parts[k] = uint32(v)
		end = i
	}
	return parts[0]<<8 | parts[1], true
}

func (s *session) applyCall(ctx *l7.Context, c *call) {
	s.calls++
	if !s.progSet {
		s.prog, s.vers, s.progSet = c.prog, c.vers, true
	}
	k := countKey{c.prog, c.vers, c.proc}
	if c.prog == progNFS {
		s.nfsProcs.inc(k)
	} else {
		s.rpcProcs.inc(k)
	}
	// NULL pings go out with AUTH_NONE; keep the flavor that carries
	// identity once one is seen.
	if !s.flavorSet || s.flavor == 0 {
		s.flavor, s.flavorSet = c.flavor, true
	}
	if c.sys && !s.sys {
		s.sys, s.uid, s.gid = true, c.uid, c.gid
		s.machineN = copy(s.machine[:], c.machine)
	}
	if c.gss {
		s.gssSvc = c.gssSvc
		if c.gssSvc == gssPrivacy && c.gssProc == gssData {
			s.encrypted = true
		}
	}
	p := s.pending.add(c.xid)
	p.prog, p.vers, p.proc = c.prog, c.vers, c.proc
	if c.gss {
		p.gssSvc = c.gssSvc
	}
	switch c.prog {
	case progNFS:
		if c.vers == 4 {
			s.applyNFS4(c, p)
		} else {
			s.applyNFS23(c, p)
		}
	case progMount:
		if c.nops > 0 {
			s.mounts.add(c.ops[0].name)
			p.setName(c.ops[0].name)
			p.bind, p.results = true, true
		}
	case progPortmap:
		if c.mapProg != 0 {
			p.mapProg, p.mapVers, p.mapProt = c.mapProg, c.mapVers, c.mapProt
			p.results = true
		}
	}
}

func (p *pendEnt) setName(b []byte) { p.nameN = uint8(copy(p.name[:], b)) }

func (s *session) fileName(fh []byte) []byte {
	if s.files == nil || len(fh) == 0 {
		return nil
	}
	return s.files.get(maphash.Bytes(s.seed, fh))
}

func (s *session) write(name []byte, n uint32) {
	s.bytesWritten += uint64(n)
	if s.ops.add(s.seed, "WRITE", name, l7.TransferUpload, uint64(n)) {
		s.names.add(name)
	}
}

func (s *session) applyNFS23(c *call, p *pendEnt) {
	if c.nops == 0 {
		return
	}
	op := &c.ops[0]
	v2 := c.vers == 2
	switch {
	case v2 && c.proc == nfs2Read, !v2 && c.proc == nfs3Read:
		p.read, p.results = true, true
		p.setName(s.fileName(op.fh))
	case v2 && c.proc == nfs2Write, !v2 && c.proc == nfs3Write:
		s.write(s.fileName(op.fh), op.n)
	case len(op.name) > 0:
		p.bind, p.results = true, true
		p.setName(op.name)
		if op.create {
			s.names.add(op.name)
		}
	}
}

// applyNFS4 follows the current filehandle through a COMPOUND (RFC 7530
// section 16.2.3): PUTFH, LOOKUP, OPEN and CREATE set it; GETFH reveals the
// handle of a name in the reply; READ and WRITE act on it.
func (s *session) applyNFS4(c *call, p *pendEnt) {
	if c.proc == 1 {
		s.minor, s.minorSet = c.minor, true
	}
	var cur, saved []byte
	for i := 0; i < c.nops; i++ {
		op := &c.ops[i]
		s.v4Ops.inc(countKey{proc: op.code})
		switch op.code {
		case op4Putrootfh, op4Putpubfh, op4Lookupp:
			cur = nil
		case op4Putfh:
			cur = s.fileName(op.fh)
		case op4Lookup, op4Create:
			cur = op.name
		case op4Open:
			if len(op.name) > 0 {
				cur = op.name
			}
		case op4Savefh:
			saved = cur
		case op4Restorefh:
			cur = saved
		case op4Getfh:
			if len(cur) > 0 && !p.read {
				p.bind, p.results = true, true
				p.setName(cur)
			}
		case op4Read:
			if !p.read && !p.bind {
				p.setName(cur)
			}
			p.read, p.results = true, true
		case op4Write:
			s.write(cur, op.n)
		}
		if op.create {
			s.names.add(op.name)
		}
	}
}

func (s *session) applyReply(ctx *l7.Context, p *pendEnt, r *reply) {
	switch p.prog {
	case progNFS, progMount:
		if p.read && r.hasN {
			s.bytesRead += r.n
			if s.ops.add(s.seed, "READ", p.nameBytes(), l7.TransferDownload, r.n) {
				s.names.add(p.nameBytes())
			}
		}
		if p.bind && len(r.fh) > 0 && p.nameN > 0 {
			if s.files == nil {
				s.files = &fileTable{}
			}
			s.files.put(maphash.Bytes(s.seed, r.fh), p.nameBytes())
		}
	case progPortmap:
		if r.hasPort && r.port != 0 && r.port < 1<<16 {
			s.mapping(ctx, p, uint16(r.port))
		}
	}
}

// mapping records a portmapper answer and announces the flow it predicts.
func (s *session) mapping(ctx *l7.Context, p *pendEnt, port uint16) {
	b := s.scratch[:0]
	if name := programName(p.mapProg); name != "" {
		b = append(b, name...)
	} else {
		b = strconv.AppendUint(b, uint64(p.mapProg), 10)
	}
	b = append(b, "/v"...)
	b = strconv.AppendUint(b, uint64(p.mapVers), 10)
	var tr l7.Transport
	switch p.mapProt {
	case 6:
		b, tr = append(b, "/tcp"...), l7.TCP
	case 17:
		b, tr = append(b, "/udp"...), l7.UDP
	}
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(port), 10)
	s.scratch = b
	s.maps.add(b)
	if tr == 0 || ctx == nil || ctx.Flow == nil || !ctx.Flow.Server.IsValid() {
		return
	}
	name := "rpc"
	switch p.mapProg {
	case progNFS:
		name = "nfs"
	case progMount:
		name = "mountd"
	case progPortmap:
		name = "portmap"
	}
	ctx.Expect(l7.Expectation{
		Transport: tr,
		Listener:  netip.AddrPortFrom(ctx.Flow.Server.Addr(), port),
		Peer:      netip.AddrPortFrom(ctx.Flow.Client.Addr(), 0),
		Protocol:  name,
		Session:   newSession(name, tr == l7.UDP),
	})
}
