package smb

import "encoding/binary"

// SMB2 commands ([MS-SMB2] 2.2.1.2).
const (
	smb2Negotiate    = 0x00
	smb2SessionSetup = 0x01
	smb2TreeConnect  = 0x03
	smb2Create       = 0x05
	smb2Close        = 0x06
	smb2Read         = 0x08
	smb2Write        = 0x09
	smb2NumCommands  = 0x13
)

var smb2Commands = [smb2NumCommands]string{
	"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT",
	"CREATE", "CLOSE", "FLUSH", "READ", "WRITE", "LOCK", "IOCTL", "CANCEL",
	"ECHO", "QUERY_DIRECTORY", "CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO",
	"OPLOCK_BREAK",
}

// Header flags ([MS-SMB2] 2.2.1.2).
const (
	flagResponse = 0x00000001
	flagAsync    = 0x00000002
	flagRelated  = 0x00000004
)

// NT status values ([MS-ERREF] 2.3.1).
const (
	statusSuccess        = 0x00000000
	statusPending        = 0x00000103
	statusBufferOverflow = 0x80000005
)

type dialect struct {
	rev  uint16
	name string
}

// smb2Dialects are the DialectRevision values of [MS-SMB2] 2.2.3; 0x02FF
// is the wildcard a server answers to an SMB1 multi-protocol negotiate.
var smb2Dialects = [...]dialect{
	{0x0202, "2.0.2"}, {0x0210, "2.1"}, {0x0222, "2.2.2"}, {0x0224, "2.2.4"},
	{0x0300, "3.0"}, {0x0302, "3.0.2"}, {0x0310, "3.1"}, {0x0311, "3.1.1"},
	{0x02ff, "2.???"},
}

func dialectName(rev uint16) string {
	for _, d := range smb2Dialects {
		if d.rev == rev {
			return d.name
		}
	}
	return "unknown"
}

func le16(b []byte, off int) int {
	if off < 0 || off+2 > len(b) {
		return 0
	}
	return int(binary.LittleEndian.Uint16(b[off:]))
}

func le32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.LittleEndian.Uint32(b[off:])
}

func le64(b []byte, off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return binary.LittleEndian.Uint64(b[off:])
}

// smb2ElemLen is the length of the compound element whose header is at
// b[0:64]: NextCommand if set ([MS-SMB2] 3.2.4.1.4), else the rest of the
// packet. A NextCommand shorter than a header, or leaving no room for the
// next header, is malformed; as it must exceed the header, every element
// advances and a chain cannot loop.
func smb2ElemLen(b []byte, unitLen int) (int, bool) {
	next := int(le32(b, 20))
	if next == 0 {
		return unitLen, true
	}
	if next < smb2HeaderLen || next > unitLen-smb2HeaderLen {
		return 0, false
	}
	return next, true
}

// smb2Want says how many bytes of the element starting at b to buffer:
// the header, the fixed part of the commands that are parsed, and their
// names or security blobs. -1 means malformed.
func smb2Want(b []byte, unitLen int) int {
	if len(b) < smb2HeaderLen {
		return smb2HeaderLen
	}
	if le16(b, 4) != smb2HeaderLen {
		return -1
	}
	elemLen, ok := smb2ElemLen(b, unitLen)
	if !ok {
		return -1
	}
	const h = smb2HeaderLen
	cmd := le16(b, 12)
	flags := le32(b, 16)
	resp := flags&flagResponse != 0
	want := h
	if resp {
		switch cmd {
		case smb2Negotiate, smb2SessionSetup, smb2Read:
			want = h + 8
		case smb2Create:
			want = h + 88
		}
		if le32(b, 8) == statusPending {
			want = h
		}
	} else {
		switch cmd {
		case smb2Negotiate:
			want = h + 36
			if len(b) >= want {
				want += 2 * min(le16(b, h+2), 64)
			}
		case smb2SessionSetup:
			want = h + 24
			if len(b) >= want {
				want = max(want, le16(b, h+12)+le16(b, h+14))
			}
		case smb2TreeConnect:
			want = h + 8
			if len(b) >= want {
				want = max(want, le16(b, h+4)+le16(b, h+6))
			}
		case smb2Create:
			want = h + 56
			if len(b) >= want {
				want = max(want, le16(b, h+44)+le16(b, h+46))
			}
		case smb2Close:
			want = h + 24
		case smb2Read, smb2Write:
			want = h + 32
		}
	}
	return min(want, elemLen)
}

// smb2 handles one buffered compound element (header and wanted body).
func (s *session) smb2(st *stream, b []byte) {
	const h = smb2HeaderLen
	s.version = max(s.version, 2)
	cmd := le16(b, 12)
	flags := le32(b, 16)
	status := le32(b, 8)
	mid := le64(b, 24)
	related := flags&flagRelated != 0
	body := b[h:]
	if flags&flagResponse == 0 {
		if cmd < smb2NumCommands {
			s.cmds2[cmd]++
		} else {
			s.cmds2[smb2NumCommands]++
		}
		s.smb2Request(st, cmd, mid, related, b, body)
		return
	}
	if status == statusPending && flags&flagAsync != 0 {
		return // interim response: the final one follows with the same MessageId
	}
	// An error body has StructureSize 9 ([MS-SMB2] 2.2.2); some commands
	// return data with a warning status, which is why the body is checked.
	isErr := len(body) >= 2 && le16(body, 0) == 9 && status != statusSuccess
	switch cmd {
	case smb2Negotiate:
		if !isErr && len(body) >= 8 {
			s.setDialect(uint16(le16(body, 4)))
		}
	case smb2Create:
		p, ok := s.pending.take(mid, kindCreate)
		if ok && !isErr && len(body) >= 80 {
			var id fileID
			copy(id[:], body[64:80])
			s.files.put(id, p.name)
		}
	case smb2Read:
		p, ok := s.pending.take(mid, kindRead)
		if isErr || len(body) < 8 || status != statusSuccess && status != statusBufferOverflow {
			return
		}
		n := uint64(le32(body, 4))
		s.bytesRead += n
		if ok {
			s.ops.add("READ", p.name, downloadDir, n)
		}
	}
}

func (s *session) smb2Request(st *stream, cmd int, mid uint64, related bool, b, body []byte) {
	switch cmd {
	case smb2Negotiate:
		n := min(le16(body, 2), 64)
		for i := 0; i < n; i++ {
			rev := uint16(le16(body, 36+2*i))
			for j, d := range smb2Dialects {
				if d.rev == rev {
					s.offered |= 1 << j
				}
			}
		}
	case smb2SessionSetup:
		off, n := le16(body, 12), le16(body, 14)
		if blob, ok := slice(b, off, n); ok {
			s.ntlmAuth(blob)
		}
	case smb2TreeConnect:
		off, n := le16(body, 4), le16(body, 6)
		if p, ok := slice(b, off, n); ok && n > 0 {
			s.scratch = appendUTF16(s.scratch[:0], p)
			s.addShare(s.scratch)
		}
	case smb2Create:
		off, n := le16(body, 44), le16(body, 46)
		name := ""
		if p, ok := slice(b, off, n); ok && n > 0 {
			s.scratch = appendUTF16(s.scratch[:0], p)
			name = s.names.intern(s.scratch)
		}
		s.pending.put(mid, kindCreate, name)
		st.chain = name
	case smb2Close:
		if id, ok := fileIDAt(body, 8); ok && !(related && id.related()) {
			s.files.del(id)
		}
	case smb2Read:
		if len(body) < 32 {
			return
		}
		name, _ := s.smb2File(st, body[16:32], related)
		s.pending.put(mid, kindRead, name)
	case smb2Write:
		if len(body) < 32 {
			return
		}
		n := uint64(le32(body, 4))
		s.bytesWritten += n
		if name, ok := s.smb2File(st, body[16:32], related); ok {
			s.ops.add("WRITE", name, uploadDir, n)
		}
	}
}

// smb2File names the file a READ or WRITE refers to: the CREATE earlier in
// a related compound ([MS-SMB2] 3.2.4.1.4, FileId all ones), or the name a
// CREATE response bound to the FileId.
func (s *session) smb2File(st *stream, idb []byte, related bool) (string, bool) {
	var id fileID
	copy(id[:], idb)
	if related && id.related() {
		return st.chain, st.chain != ""
	}
	return s.files.get(id)
}

// slice returns b[off:off+n], cut at the end of b; ok is false when off
// lies outside b.
func slice(b []byte, off, n int) ([]byte, bool) {
	if off < smb2HeaderLen || off > len(b) {
		return nil, false
	}
	return b[off:min(off+n, len(b))], true
}

func fileIDAt(b []byte, off int) (fileID, bool) {
	var id fileID
	if off+len(id) > len(b) {
		return id, false
	}
	copy(id[:], b[off:])
	return id, true
}

func (s *session) setDialect(rev uint16) {
	if rev == 0x02ff && s.dialect != 0 {
		return // the wildcard never replaces a real dialect
	}
	s.dialect = rev
	if rev >= 0x0300 {
		s.version = 3
	}
}
