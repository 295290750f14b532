package rpc

import (
	"hash/maphash"

	"outflow/flows/l7"
)

const (
	// maxPending bounds calls waiting for a reply; the oldest is evicted.
	maxPending = 128
	// maxFiles bounds the file handles with a known name.
	maxFiles = 64
	// maxNameLen cuts names kept in tables.
	maxNameLen = 64
	// maxNames bounds the distinct file names listed in the record.
	maxNames = 32
	// maxCounts bounds the distinct procedure names counted.
	maxCounts = 48
	// maxList bounds small string lists (mount paths, port mappings).
	maxList = 8
)

// pendEnt is a call waiting for its reply.
type pendEnt struct {
	xid              uint32
	used             bool
	prog, vers, proc uint32
	gssSvc           uint32 // RPCSEC_GSS service of the call, 0 if none
	age              uint32
	bind             bool // bind the handle in the reply to name
	read             bool // the reply carries READ data for name
	results          bool // the reply results are worth parsing
	name             [maxNameLen]byte
	nameN            uint8
	mapProg          uint32 // portmapper GETPORT / rpcbind GETADDR query
	mapVers          uint32
	mapProt          uint32 // IPPROTO_TCP or IPPROTO_UDP
}

func (p *pendEnt) nameBytes() []byte { return p.name[:p.nameN] }

type pendingTable struct {
	ents    []pendEnt // grows to maxPending
	clock   uint32
	evicted int
}

// add returns a cleared entry for xid, evicting the oldest when full.
func (t *pendingTable) add(xid uint32) *pendEnt {
	t.clock++
	free, oldest := -1, 0
	for i := range t.ents {
		e := &t.ents[i]
		if !e.used {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.xid == xid { // a retransmission replaces the call
			free = i
			break
		}
		if e.age < t.ents[oldest].age || !t.ents[oldest].used {
			oldest = i
		}
	}
	if free < 0 {
		if len(t.ents) < maxPending {
			t.ents = append(t.ents, pendEnt{})
			free = len(t.ents) - 1
		} else {
			free = oldest
			t.evicted++
		}
	}
	e := &t.ents[free]
	*e = pendEnt{xid: xid, used: true, age: t.clock}
	return e
}

func (t *pendingTable) find(xid uint32) int {
	for i := range t.ents {
		if e := &t.ents[i]; e.used && e.xid == xid {
			return i
		}
	}
	return -1
}

// fileTable maps file handles (by hash) to the names they were looked up,
// created or mounted with.
type fileTable struct {
	ents    [maxFiles]fileEnt
	clock   uint32
	evicted int
}

type fileEnt struct {
	h     uint64
	used  bool
	age   uint32
	name  [maxNameLen]byte
	nameN uint8
}

func (t *fileTable) put(h uint64, name []byte) {
	t.clock++
	free, oldest := -1, 0
	for i := range t.ents {
		e := &t.ents[i]
		if !e.used {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.h == h {
			free = i
			break
		}
		if e.age < t.ents[oldest].age {
			oldest = i
		}
	}
	if free < 0 {
		free = oldest
		t.evicted++
	}
	e := &t.ents[free]
	e.h, e.used, e.age = h, true, t.clock
	e.nameN = uint8(copy(e.name[:], name))
}

func (t *fileTable) get(h uint64) []byte {
	for i := range t.ents {
		if e := &t.ents[i]; e.used && e.h == h {
			return e.name[:e.nameN]
		}
	}
	return nil
}

// fileOps accumulates bytes per (operation, file), at most l7.MaxFileOps.
type fileOps struct {
	ops     [l7.MaxFileOps]l7.FileOp
	n       int
	dropped int
	gone    [64]uint64 // hashes of dropped pairs, so each counts once
	ngone   int
}

// add counts n bytes for (op, name); it returns true when the pair is new,
// so the caller can list the name.
func (f *fileOps) add(seed maphash.Seed, op string, name []byte, dir l7.TransferDir, n uint64) bool {
	if len(name) == 0 {
		return false
	}
	for i := 0; i < f.n; i++ {
		if o := &f.ops[i]; o.Op == op && o.Name == string(name) {
			o.Bytes += n
			return false
		}
	}
	if f.n < len(f.ops) {
		f.ops[f.n] = l7.FileOp{Op: op, Name: string(name), Dir: dir, Bytes: n}
		f.n++
		return true
	}
	h := maphash.String(seed, op) ^ maphash.Bytes(seed, name)*31
	for _, g := range f.gone[:f.ngone] {
		if g == h {
			return false
		}
	}
	if f.ngone < len(f.gone) {
		f.gone[f.ngone] = h
		f.ngone++
	}
	f.dropped++
	return true
}

// nameList keeps distinct names for the record.
type nameList struct {
	list    [maxNames]string
	n       int
	dropped int
}

func (l *nameList) add(b []byte) {
	if len(b) == 0 {
		return
	}
	for i := 0; i < l.n; i++ {
		if l.list[i] == string(b) {
			return
		}
	}
	if l.n == len(l.list) {
		l.dropped++
		return
	}
	l.list[l.n] = string(b)
	l.n++
}

// counter counts calls per (program, version, procedure) or per NFSv4
// operation; names are rendered only when the record is written.
type counter struct {
	keys  [maxCounts]countKey
	n     [maxCounts]uint32
	used  int
	other uint32
}

type countKey struct{ prog, vers, proc uint32 }

func (c *counter) inc(k countKey) {
	for i := 0; i < c.used; i++ {
		if c.keys[i] == k {
			c.n[i]++
			return
		}
	}
	if c.used == maxCounts {
		c.other++
		return
	}
	c.keys[c.used] = k
	c.n[c.used] = 1
	c.used++
}

// strList is a small bounded list of strings.
type strList struct {
	list    [maxList]string
	n       int
	dropped int
}

func (l *strList) add(b []byte) {
	for i := 0; i < l.n; i++ {
		if l.list[i] == string(b) {
			return
		}
	}
	if l.n == len(l.list) {
		l.dropped++
		return
	}
	l.list[l.n] = string(b)
	l.n++
}
