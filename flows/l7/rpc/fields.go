package rpc

import (
	"hash/maphash"
	"strconv"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// session parses one RPC flow. Its Parser's name is network.protocol.
type session struct {
	name string
	udp  bool
	dead bool
	dirs [2]stream
	seed maphash.Seed

	prog, vers uint32
	progSet    bool
	minor      uint32
	minorSet   bool
	flavor     uint32
	flavorSet  bool
	sys        bool
	uid, gid   uint32
	machine    [64]byte
	machineN   int
	gssSvc     uint32
	encrypted  bool

	calls, replies, unmatched, denied uint64
	truncated, badArgs                uint64

	nfsProcs counter
	rpcProcs counter
	v4Ops    counter

	bytesRead, bytesWritten uint64

	files   *fileTable // allocated on the first handle learned
	pending pendingTable
	ops     fileOps
	names   nameList
	mounts  strList
	maps    strList

	c       call // the call being parsed
	opsBuf  [maxOps]nfsOp
	scratch []byte
}

func (s *session) Fields(d *ecs.Doc) {
	if s.progSet {
		if name := programName(s.prog); name != "" {
			d.Str("outflow.rpc.program", name)
		} else {
			s.scratch = strconv.AppendUint(s.scratch[:0], uint64(s.prog), 10)
			d.Bytes("outflow.rpc.program", s.scratch)
		}
		d.Uint("outflow.rpc.version", uint64(s.vers))
	}
	if s.flavorSet {
		d.Str("outflow.rpc.auth", authName(s.flavor))
	}
	if s.sys {
		s.scratch = strconv.AppendUint(s.scratch[:0], uint64(s.uid), 10)
		d.Bytes("user.id", s.scratch)
		s.scratch = strconv.AppendUint(s.scratch[:0], uint64(s.gid), 10)
		d.Bytes("group.id", s.scratch)
		d.Bytes("outflow.rpc.machine", s.machine[:s.machineN])
	}
	switch s.gssSvc {
	case 1:
		d.Str("outflow.rpc.gss_service", "none")
	case gssIntegrity:
		d.Str("outflow.rpc.gss_service", "integrity")
	case gssPrivacy:
		d.Str("outflow.rpc.gss_service", "privacy")
	}
	if s.encrypted {
		d.Bool("outflow.rpc.encrypted", true)
	}
	d.Uint("outflow.rpc.calls", s.calls)
	d.Uint("outflow.rpc.replies", s.replies)
	if s.unmatched > 0 {
		d.Uint("outflow.rpc.unmatched_replies", s.unmatched)
	}
	if s.denied > 0 {
		d.Uint("outflow.rpc.denied", s.denied)
	}
	if s.pending.evicted > 0 {
		d.Int("outflow.rpc.pending_evicted", int64(s.pending.evicted))
	}
	s.counts(d, "outflow.nfs.procedures", &s.nfsProcs, false)
	s.counts(d, "outflow.nfs.operations", &s.v4Ops, true)
	s.counts(d, "outflow.rpc.procedures", &s.rpcProcs, false)
	if s.minorSet {
		d.Uint("outflow.nfs.minor_version", uint64(s.minor))
	}
	if s.bytesRead > 0 {
		d.Uint("outflow.nfs.bytes_read", s.bytesRead)
	}
	if s.bytesWritten > 0 {
		d.Uint("outflow.nfs.bytes_written", s.bytesWritten)
	}
	d.Strs("outflow.nfs.files", s.names.list[:s.names.n])
	if s.names.dropped > 0 {
		d.Int("outflow.nfs.files_dropped", int64(s.names.dropped))
	}
	if name, ok := s.mainFile(); ok {
		d.Str("file.name", name)
	}
	d.Strs("outflow.mountd.paths", s.mounts.list[:s.mounts.n])
	d.Strs("outflow.portmap.mappings", s.maps.list[:s.maps.n])
}

// counts writes a counter as a JSON object of name: count. Procedures of
// a program other than the session's are prefixed with the program.
func (s *session) counts(d *ecs.Doc, key string, c *counter, ops bool) {
	if c.used == 0 && c.other == 0 {
		return
	}
	b := append(s.scratch[:0], '{')
	for i := 0; i < c.used; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		k := c.keys[i]
		b = append(b, '"')
		switch {
		case ops:
			b = appendName(b, lookup(nfs4Ops[:], k.proc), k.proc)
		default:
			if k.prog != s.prog {
				b = appendName(b, programName(k.prog), k.prog)
				b = append(b, '.')
			}
			b = appendName(b, procName(k.prog, k.vers, k.proc), k.proc)
		}
		b = append(b, '"', ':')
		b = strconv.AppendUint(b, uint64(c.n[i]), 10)
	}
	if c.other > 0 {
		if c.used > 0 {
			b = append(b, ',')
		}
		b = append(b, `"other":`...)
		b = strconv.AppendUint(b, uint64(c.other), 10)
	}
	s.scratch = append(b, '}')
	d.Raw(key, s.scratch)
}

// appendName appends name, or n in decimal when name is empty. Names come
// from the static tables and need no JSON escaping.
func appendName(b []byte, name string, n uint32) []byte {
	if name != "" {
		return append(b, name...)
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// mainFile is the file that moved data first, else the first one named.
func (s *session) mainFile() (string, bool) {
	for i := 0; i < s.ops.n; i++ {
		if s.ops.ops[i].Bytes > 0 {
			return s.ops.ops[i].Name, true
		}
	}
	if s.names.n > 0 {
		return s.names.list[0], true
	}
	return "", false
}

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = s.name
	sum.Encrypted = s.encrypted
	sum.Files = append(sum.Files[:0], s.ops.ops[:s.ops.n]...)
	sum.FilesDropped = s.ops.dropped
	sum.Uploaded = s.bytesWritten
	sum.Downloaded = s.bytesRead
}
