// Package rpc parses ONC RPC (RFC 5531) over UDP and over TCP with record
// marking (section 11), and the programs behind it: NFS v2 (RFC 1094), v3
// (RFC 1813) and v4 (RFC 7530, RFC 8881), MOUNT (RFC 1813 appendix I) and
// the portmapper / rpcbind (RFC 1833).
//
// The package exports one Parser per network.protocol value, all sharing
// one session type: NFS ("nfs", program 100003), MOUNT ("mountd", 100005),
// the portmapper ("portmap", 100000), and any other program ("rpc").
//
// Sessions buffer only the RPC header and the start of the arguments or
// results (at most maxUnit bytes per direction); file data in READ replies
// and WRITE calls is skipped by length. Calls wait for their replies in a
// bounded table keyed by XID.
package rpc

import (
	"encoding/binary"

	"outflow/flows/l7"
)

const (
	// maxUnit bounds the bytes buffered from the start of one record.
	maxUnit = 8 << 10
	// maxFrag bounds a record fragment; larger ones are malformed. NFS
	// implementations cap READ and WRITE at 1 MiB (Linux) to 4 MiB.
	maxFrag = 16 << 20
	// maxEmptyFrags bounds consecutive zero-length fragments.
	maxEmptyFrags = 16
	// maxResync bounds the bytes scanned for the next record after a gap.
	maxResync = 4 << 20

	msgCall  = 0
	msgReply = 1
	rpcVers  = 2
)

// parser is one network.protocol view of ONC RPC.
type parser struct {
	name  string
	match func(prog, vers, proc uint32) bool
	ports []uint16
}

// NewNFS returns the parser for NFS (program 100003, versions 2 to 4).
func NewNFS() l7.Parser {
	return &parser{name: "nfs", ports: []uint16{2049}, match: func(prog, vers, proc uint32) bool {
		switch {
		case prog != progNFS:
			return false
		case vers == 2:
			return proc < uint32(len(nfs2Procs))
		case vers == 3:
			return proc < uint32(len(nfs3Procs))
		case vers == 4:
			return proc < uint32(len(nfs4Procs))
		}
		return false
	}}
}

// NewMountd returns the parser for the MOUNT protocol (program 100005).
func NewMountd() l7.Parser {
	return &parser{name: "mountd", ports: []uint16{20048, 635}, match: func(prog, vers, proc uint32) bool {
		return prog == progMount && vers >= 1 && vers <= 3 && proc < 16
	}}
}

// NewPortmap returns the parser for the portmapper and rpcbind (program
// 100000, versions 2 to 4).
func NewPortmap() l7.Parser {
	return &parser{name: "portmap", ports: []uint16{111}, match: func(prog, vers, proc uint32) bool {
		return prog == progPortmap && vers >= 2 && vers <= 4 && proc < uint32(len(rpcb4Procs))
	}}
}

// NewRPC returns the parser for ONC RPC programs other than NFS, MOUNT and
// the portmapper (NLM, NSM, NFS ACL, NIS, ...).
func NewRPC() l7.Parser {
	return &parser{name: "rpc", match: func(prog, vers, proc uint32) bool {
		switch prog {
		case progNFS, progMount, progPortmap, 0:
			return false
		}
		// 0x60000000 and up is reserved (RFC 5531 section 8.3).
		return prog < 0x60000000 && vers < 1<<16 && proc < 1<<16
	}}
}

// Parsers returns the NFS, MOUNT, portmapper and generic RPC parsers.
func Parsers() []l7.Parser { return []l7.Parser{NewNFS(), NewMountd(), NewPortmap(), NewRPC()} }

func (p *parser) Name() string             { return p.name }
func (p *parser) Transports() l7.Transport { return l7.TCP | l7.UDP }

// Ports is a tie-break hint for the engine.
func (p *parser) Ports() []uint16 { return p.ports }

func (p *parser) NewSession(f *l7.FlowInfo) l7.Session {
	return newSession(p.name, f != nil && f.Transport == l7.UDP)
}

// Probe accepts a CALL (RFC 5531 section 9) to one of the parser's
// programs with a plausible credential; a plausible REPLY is Maybe, since
// only its call names the program. TCP data starts with a record mark.
func (p *parser) Probe(f *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	if f == nil || f.Transport != l7.UDP {
		if len(data) < 4 {
			return l7.VerdictMaybe
		}
		n := binary.BigEndian.Uint32(data) &^ (1 << 31)
		if n < 24 || n > maxFrag {
			return l7.VerdictNo
		}
		data = data[4:min(len(data), 4+int(n))]
	}
	return p.probeMsg(data)
}

func (p *parser) probeMsg(b []byte) l7.Verdict {
	word := func(i int) (uint32, bool) {
		if 4*i+4 > len(b) {
			return 0, false
		}
		return binary.BigEndian.Uint32(b[4*i:]), true
	}
	mtype, ok := word(1)
	if !ok {
		return l7.VerdictMaybe
	}
	switch mtype {
	case msgCall:
		if v, ok := word(2); !ok {
			return l7.VerdictMaybe
		} else if v != rpcVers {
			return l7.VerdictNo
		}
		prog, ok1 := word(3)
		vers, ok2 := word(4)
		proc, ok3 := word(5)
		if !ok1 || !ok2 || !ok3 {
			return l7.VerdictMaybe
		}
		if !p.match(prog, vers, proc) {
			return l7.VerdictNo
		}
		flavor, ok1 := word(6)
		n, ok2 := word(7)
		if !ok1 || !ok2 {
			return l7.VerdictMaybe
		}
		if !plausibleAuth(flavor, n) {
			return l7.VerdictNo
		}
		return l7.VerdictYes
	case msgReply:
		stat, ok := word(2)
		if !ok {
			return l7.VerdictMaybe
		}
		if stat == 1 { // MSG_DENIED
			return l7.VerdictMaybe
		}
		if stat != 0 {
			return l7.VerdictNo
		}
		flavor, ok1 := word(3)
		n, ok2 := word(4)
		if !ok1 || !ok2 {
			return l7.VerdictMaybe
		}
		if !plausibleAuth(flavor, n) {
			return l7.VerdictNo
		}
		return l7.VerdictMaybe
	}
	return l7.VerdictNo
}

// plausibleAuth checks an opaque_auth: a flavor in use (AUTH_NONE, SYS,
// SHORT, DH, KERB4, RPCSEC_GSS; RFC 5531 section 8.2) and at most 400 bytes.
func plausibleAuth(flavor, n uint32) bool {
	return flavor <= 6 && n <= maxAuth
}
