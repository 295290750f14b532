package smb

import (
	"bytes"
	"hash/maphash"
	"unicode/utf16"
	"unicode/utf8"

	"outflow/flows/l7"
)

const (
	downloadDir = l7.TransferDownload
	uploadDir   = l7.TransferUpload

	// maxFiles bounds the open FileIds remembered; the oldest is evicted.
	maxFiles = 64
	// maxPending bounds requests waiting for their response.
	maxPending = 64
	// maxNames bounds the distinct file names listed in the record.
	maxNames = 32
	// maxNameBytes cuts decoded names.
	maxNameBytes = 1024
)

// fileID is an SMB2 FileId (persistent and volatile halves, [MS-SMB2]
// 2.2.14.1), or an SMB1 FID in the first two bytes with a marker.
type fileID [16]byte

func (id fileID) related() bool {
	for _, c := range id {
		if c != 0xff {
			return false
		}
	}
	return true
}

func smb1FileID(fid int) fileID {
	return fileID{byte(fid), byte(fid >> 8), 'S', 'M', 'B', '1'}
}

// fileTable maps open FileIds to the names they were opened with.
type fileTable struct {
	ents    [maxFiles]fileEnt
	clock   uint32
	evicted int
}

type fileEnt struct {
	id   fileID
	name string
	used bool
	age  uint32
}

func (t *fileTable) put(id fileID, name string) {
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
		if e.id == id {
			e.name, e.age = name, t.clock
			return
		}
		if e.age < t.ents[oldest].age {
			oldest = i
		}
	}
	if free < 0 {
		free = oldest
		t.evicted++
	}
	t.ents[free] = fileEnt{id: id, name: name, used: true, age: t.clock}
}

func (t *fileTable) get(id fileID) (string, bool) {
	for i := range t.ents {
		if e := &t.ents[i]; e.used && e.id == id {
			return e.name, e.name != ""
		}
	}
	return "", false
}

func (t *fileTable) del(id fileID) {
	for i := range t.ents {
		if e := &t.ents[i]; e.used && e.id == id {
			*e = fileEnt{}
			return
		}
	}
}

type pendKind uint8

const (
	kindCreate pendKind = iota + 1
	kindRead
)

// pendingTable remembers requests until their response: the name a CREATE
// opens, the file a READ reads. Responses carry only the MessageId.
type pendingTable struct {
	ents    [maxPending]pendEnt
	next    int // round-robin victim when full
	dropped int
}

type pendEnt struct {
	mid  uint64
	name string
	kind pendKind
}

func (t *pendingTable) put(mid uint64, kind pendKind, name string) {
	free := -1
	for i := range t.ents {
		e := &t.ents[i]
		if e.kind == kind && e.mid == mid {
			e.name = name
			return
		}
		if e.kind == 0 && free < 0 {
			free = i
		}
	}
	if free < 0 {
		free = t.next
		t.next = (t.next + 1) % maxPending
		t.dropped++
	}
	t.ents[free] = pendEnt{mid: mid, kind: kind, name: name}
}

func (t *pendingTable) take(mid uint64, kind pendKind) (pendEnt, bool) {
	for i := range t.ents {
		if e := t.ents[i]; e.kind == kind && e.mid == mid {
			t.ents[i] = pendEnt{}
			return e, true
		}
	}
	return pendEnt{}, false
}

// fileOps accumulates bytes per (operation, file), at most l7.MaxFileOps.
type fileOps struct {
	ops     [l7.MaxFileOps]l7.FileOp
	n       int
	dropped int
	seed    maphash.Seed
	gone    [64]uint64 // hashes of dropped pairs, so each counts once
	ngone   int
}

func (f *fileOps) init() { f.seed = maphash.MakeSeed() }

func (f *fileOps) add(op, name string, dir l7.TransferDir, n uint64) {
	if name == "" {
		return
	}
	for i := 0; i < f.n; i++ {
		if o := &f.ops[i]; o.Op == op && o.Name == name {
			o.Bytes += n
			return
		}
	}
	if f.n < len(f.ops) {
		f.ops[f.n] = l7.FileOp{Op: op, Name: name, Dir: dir, Bytes: n}
		f.n++
		return
	}
	h := maphash.String(f.seed, op) ^ maphash.String(f.seed, name)*31
	for _, g := range f.gone[:f.ngone] {
		if g == h {
			return
		}
	}
	if f.ngone < len(f.gone) {
		f.gone[f.ngone] = h
		f.ngone++
	}
	f.dropped++
}

// nameList keeps distinct file names for the record; it also interns them
// so that a name seen again costs no allocation.
type nameList struct {
	list    [maxNames]string
	n       int
	dropped int
}

func (l *nameList) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for i := 0; i < l.n; i++ {
		if l.list[i] == string(b) {
			return l.list[i]
		}
	}
	s := string(b)
	if l.n < len(l.list) {
		l.list[l.n] = s
		l.n++
	} else {
		l.dropped++
	}
	return s
}

// appendUTF16 decodes little-endian UTF-16 to UTF-8, stopping at a NUL or
// after maxNameBytes of output. Unpaired surrogates become U+FFFD.
func appendUTF16(dst []byte, b []byte) []byte {
	for i := 0; i+1 < len(b) && len(dst) < maxNameBytes; i += 2 {
		r := rune(b[i]) | rune(b[i+1])<<8
		if r == 0 {
			break
		}
		if utf16.IsSurrogate(r) {
			r2 := utf8.RuneError
			if i+3 < len(b) {
				r2 = rune(b[i+2]) | rune(b[i+3])<<8
			}
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				r = d
				i += 2
			} else {
				r = utf8.RuneError
			}
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// appendOEM copies an 8-bit string up to a NUL or maxNameBytes.
func appendOEM(dst []byte, b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return append(dst, b[:min(len(b), maxNameBytes)]...)
}

var ntlmSig = []byte("NTLMSSP\x00")

// ntlmAuth finds an NTLMSSP AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3) in a
// security blob, bare or wrapped in SPNEGO, and records its user and domain.
func (s *session) ntlmAuth(blob []byte) {
	i := bytes.Index(blob, ntlmSig)
	if i < 0 {
		return
	}
	m := blob[i:]
	if len(m) < 64 || le32(m, 8) != 3 {
		return
	}
	unicode := le32(m, 60)&1 != 0 // NTLMSSP_NEGOTIATE_UNICODE
	str := func(off int) []byte {
		n, o := le16(m, off), int(le32(m, off+4))
		if n == 0 || o < 0 || o >= len(m) {
			return nil
		}
		p := m[o:min(o+n, len(m))]
		if unicode {
			s.scratch = appendUTF16(s.scratch[:0], p)
		} else {
			s.scratch = appendOEM(s.scratch[:0], p)
		}
		return s.scratch
	}
	if u := str(36); len(u) > 0 && s.user != string(u) {
		s.user = string(u)
	}
	if d := str(28); len(d) > 0 && s.domain != string(d) {
		s.domain = string(d)
	}
}
