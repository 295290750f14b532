// Package smb parses SMB1 ([MS-CIFS], [MS-SMB]) and SMB2/3 ([MS-SMB2]) over
// TCP, both NetBIOS session service (RFC 1002 section 4.3, port 139) and
// direct TCP (port 445, [MS-SMB2] section 2.1), which share the 4-byte
// framing: a type byte and a 24-bit big-endian length.
//
// It follows the whole flow: dialect, user, shares, and the file names opened
// with CREATE / NT_CREATE_ANDX, so that READ and WRITE bytes are attributed
// to files. Only headers and names are buffered (at most maxUnit bytes per
// direction); READ and WRITE payloads are skipped by length without copying.
package smb

import (
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	// maxUnit bounds the bytes buffered per direction for one SMB1 message
	// or one SMB2 compound element: headers, names, security blobs. Longer
	// names and blobs are cut, payloads are skipped.
	maxUnit = 8 << 10
	// maxCompound bounds the SMB2 compound elements in one message;
	// Windows sends at most a handful.
	maxCompound = 32
	// maxResync bounds the bytes scanned for the next message after a gap.
	maxResync = 4 << 20
	// maxNBControl bounds the length of NetBIOS control packets
	// (session request, responses, keepalive).
	maxNBControl = 1024
)

// NetBIOS session service packet types (RFC 1002 section 4.3.1).
const (
	nbMessage     = 0x00
	nbRequest     = 0x81
	nbPositive    = 0x82
	nbNegative    = 0x83
	nbRetarget    = 0x84
	nbKeepalive   = 0x85
	smbMagicLen   = 4
	smb1HeaderLen = 32
	smb2HeaderLen = 64
	transformLen  = 52 // [MS-SMB2] 2.2.41
	compressLen   = 16 // [MS-SMB2] 2.2.42.1, unchained form
)

var ports = []uint16{445, 139}

type parser struct{}

// New returns the SMB parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string             { return "smb" }
func (parser) Transports() l7.Transport { return l7.TCP }

// Ports is a tie-break hint for the engine.
func (parser) Ports() []uint16 { return ports }

func (parser) NewSession(*l7.FlowInfo) l7.Session {
	s := &session{}
	for i := range s.dirs {
		s.dirs[i].buf = make([]byte, 0, 512)
	}
	s.ops.init()
	return s
}

// Probe walks the first NetBIOS frames: keepalives and positive responses
// are skipped, a session request must carry an encoded NetBIOS name, and a
// session message must start with an SMB protocol identifier.
func (parser) Probe(_ *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	for frames := 0; frames < 4; frames++ {
		if len(data) == 0 {
			return l7.VerdictMaybe
		}
		t := data[0]
		switch t {
		case nbMessage, nbRequest, nbPositive, nbNegative, nbKeepalive:
		default:
			return l7.VerdictNo
		}
		if len(data) < 4 {
			return l7.VerdictMaybe
		}
		n := int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		body := data[4:]
		switch t {
		case nbMessage:
			return probeMessage(n, body)
		case nbRequest:
			return probeNBName(n, body)
		case nbNegative:
			if n != 1 {
				return l7.VerdictNo
			}
			if len(body) == 0 {
				return l7.VerdictMaybe
			}
			if c := body[0]; c == 0x80 || c == 0x81 || c == 0x82 || c == 0x83 || c == 0x8f {
				return l7.VerdictYes
			}
			return l7.VerdictNo
		default: // positive response and keepalive have no body
			if n != 0 {
				return l7.VerdictNo
			}
			data = body
		}
	}
	return l7.VerdictMaybe
}

func probeMessage(n int, body []byte) l7.Verdict {
	if n < smb1HeaderLen {
		return l7.VerdictNo
	}
	var id byte
	for i := 0; i < smbMagicLen; i++ {
		if i == len(body) {
			return l7.VerdictMaybe
		}
		c := body[i]
		switch i {
		case 0:
			if c != 0xff && c != 0xfe && c != 0xfd && c != 0xfc {
				return l7.VerdictNo
			}
			id = c
		default:
			if c != "SMB"[i-1] {
				return l7.VerdictNo
			}
		}
	}
	switch id {
	case 0xfe: // StructureSize is always 64
		if n < smb2HeaderLen {
			return l7.VerdictNo
		}
		if len(body) < 6 {
			return l7.VerdictMaybe
		}
		if body[4] != smb2HeaderLen || body[5] != 0 {
			return l7.VerdictNo
		}
	case 0xfd:
		if n < transformLen {
			return l7.VerdictNo
		}
	}
	return l7.VerdictYes
}

// probeNBName checks a session request: the called name in first-level
// encoding (RFC 1001 section 14.1), a 0x20 length and 32 letters A-P.
func probeNBName(n int, body []byte) l7.Verdict {
	if n < 68 || n > maxNBControl {
		return l7.VerdictNo
	}
	for i := 0; i < 33; i++ {
		if i == len(body) {
			if i > 8 {
				return l7.VerdictYes
			}
			return l7.VerdictMaybe
		}
		c := body[i]
		if i == 0 && c != 0x20 || i > 0 && (c < 'A' || c > 'P') {
			return l7.VerdictNo
		}
	}
	return l7.VerdictYes
}

// Stream states.
const (
	stHeader uint8 = iota // reading the 4-byte NetBIOS header
	stUnit                // buffering the start of a message or compound element
	stSkip                // dropping bytes up to the end of the element
	stResync              // after a gap: looking for the next message
)

// stream is one direction's framing state.
type stream struct {
	state   uint8
	nb      [4]byte
	nnb     int
	nbType  byte
	msgLeft int    // bytes of the current NetBIOS packet not yet received
	unitLen int    // bytes from the start of the current unit to the end of the packet
	buf     []byte // start of the current unit
	want    int    // bytes of the unit to buffer before parsing it
	skip    int    // bytes to drop before the next unit or header
	nextLen int    // after skip: length of the next compound element, or 0
	elems   int    // SMB2 compound elements seen in this packet
	chain   string // name of the last CREATE in a related compound
	win     uint64 // resync: the last 8 bytes seen
	scanned int    // resync: bytes scanned so far
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	if s.dead {
		return false
	}
	st := &s.dirs[dir&1]
	for len(data) > 0 {
		switch st.state {
		case stHeader:
			n := copy(st.nb[st.nnb:], data)
			st.nnb += n
			data = data[n:]
			if st.nnb < len(st.nb) {
				return true
			}
			st.nnb = 0
			if !s.header(st) {
				return s.malformed(ctx)
			}
		case stUnit:
			n := min(st.want-len(st.buf), len(data))
			st.buf = append(st.buf, data[:n]...)
			data = data[n:]
			st.msgLeft -= n
			if len(st.buf) < st.want {
				return true
			}
			if !s.unit(st) {
				return s.malformed(ctx)
			}
		case stSkip:
			n := min(st.skip, len(data))
			st.skip -= n
			st.msgLeft -= n
			data = data[n:]
			if st.skip == 0 {
				st.afterSkip()
			}
		case stResync:
			var ok bool
			data, ok = st.resync(data)
			if !ok {
				s.dead = true
				return false
			}
		}
	}
	return true
}

func (s *session) malformed(ctx *l7.Context) bool {
	ctx.Malformed("smb")
	s.dead = true
	return false
}

// header starts the packet whose NetBIOS header is in st.nb.
func (s *session) header(st *stream) bool {
	st.nbType = st.nb[0]
	n := int(st.nb[1])<<16 | int(st.nb[2])<<8 | int(st.nb[3])
	st.msgLeft = n
	st.elems = 0
	st.chain = ""
	switch st.nbType {
	case nbMessage:
		if n == 0 {
			return true // an empty message: nothing to parse
		}
		st.begin(n)
		return true
	case nbRequest, nbPositive, nbNegative, nbRetarget, nbKeepalive:
		if n > maxNBControl {
			return false
		}
		if n == 0 {
			return true
		}
		if st.nbType == nbRequest {
			st.begin(n)
			st.want = min(n, 68) // called and calling names
			return true
		}
		st.skip, st.nextLen = n, 0
		st.state = stSkip
		return true
	}
	return false
}

// begin starts a unit of n bytes: the first element of a packet or a
// following compound element.
func (st *stream) begin(n int) {
	st.unitLen = n
	st.buf = st.buf[:0]
	st.want = min(n, smbMagicLen)
	st.state = stUnit
}

func (st *stream) afterSkip() {
	if st.nextLen > 0 {
		st.begin(st.nextLen)
		st.nextLen = 0
		return
	}
	st.state = stHeader
}

// unit parses the buffered start of the current unit, or asks for more.
func (s *session) unit(st *stream) bool {
	b := st.buf
	if st.nbType == nbRequest {
		s.nbName(b)
		return st.done(len(b), st.unitLen)
	}
	if len(b) < smbMagicLen {
		return false // a message too short for a protocol identifier
	}
	if b[1] != 'S' || b[2] != 'M' || b[3] != 'B' {
		return false
	}
	var want int
	switch b[0] {
	case 0xfe:
		want = smb2Want(b, st.unitLen)
	case 0xff:
		want = smb1Want(b, st.unitLen)
	case 0xfd:
		want = transformLen
	case 0xfc:
		want = compressLen
	default:
		return false
	}
	if want < 0 {
		return false
	}
	if want = min(want, st.unitLen, maxUnit); want > len(b) {
		st.want = want
		return true
	}
	switch b[0] {
	case 0xfe:
		st.elems++
		if st.elems > maxCompound || len(b) < smb2HeaderLen {
			return false
		}
		elemLen, ok := smb2ElemLen(b, st.unitLen)
		if !ok {
			return false
		}
		s.smb2(st, b[:min(len(b), elemLen)])
		return st.done(elemLen, st.unitLen)
	case 0xff:
		s.smb1(b)
	case 0xfd:
		if len(b) < transformLen {
			return false
		}
		s.version = max(s.version, 3)
		s.encrypted = true
		s.encBytes += uint64(st.unitLen)
	case 0xfc:
		s.version = max(s.version, 3)
		s.compressed = true
	}
	return st.done(st.unitLen, st.unitLen)
}

// done finishes a unit of elemLen bytes out of unitLen (the rest of the
// packet): the bytes not buffered are skipped, then the next element or the
// next header follows.
func (st *stream) done(elemLen, unitLen int) bool {
	if elemLen < len(st.buf) || elemLen > unitLen {
		return false
	}
	st.skip = elemLen - len(st.buf)
	st.nextLen = unitLen - elemLen
	st.buf = st.buf[:0]
	if st.skip > 0 {
		st.state = stSkip
		return true
	}
	st.afterSkip()
	return true
}

// Gap keeps the framing when the hole lies inside the current packet: the
// rest of the packet is skipped. Otherwise it looks for the next packet by
// its NetBIOS header and SMB protocol identifier.
func (s *session) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	if s.dead {
		return false
	}
	st := &s.dirs[dir&1]
	st.buf = st.buf[:0]
	st.nextLen = 0
	if st.state != stResync && st.nnb == 0 && n >= 0 && n <= st.msgLeft {
		st.msgLeft -= n
		st.skip = st.msgLeft
		st.state = stSkip
		if st.skip == 0 {
			st.state = stHeader
		}
		return true
	}
	st.nnb = 0
	st.msgLeft = 0
	st.state = stResync
	st.win = 0
	st.scanned = 0
	return true
}

// resync scans for a NetBIOS session message header followed by an SMB
// protocol identifier and restarts the framing there.
func (st *stream) resync(data []byte) ([]byte, bool) {
	for i, c := range data {
		st.win = st.win<<8 | uint64(c)
		st.scanned++
		if st.scanned > maxResync {
			return nil, false
		}
		if st.scanned < 8 {
			continue
		}
		w := st.win
		if w>>56 != nbMessage || w&0xffffff != 'S'<<16|'M'<<8|'B' {
			continue
		}
		id := byte(w >> 24)
		n := int(w>>32) & 0xffffff
		if id != 0xfe && id != 0xff && id != 0xfd || n < smb1HeaderLen {
			continue
		}
		st.nbType = nbMessage
		st.msgLeft = n - smbMagicLen
		st.elems = 0
		st.chain = ""
		st.begin(n)
		st.buf = append(st.buf, id, 'S', 'M', 'B')
		return data[i+1:], true
	}
	return nil, true
}

// nbName records the called name of a NetBIOS session request: 16 bytes
// in first-level encoding, two letters 'A'+nibble per byte, the last byte a
// service suffix and the rest padded with spaces (RFC 1001 section 14.1).
func (s *session) nbName(b []byte) {
	if len(b) < 34 || b[0] != 0x20 || s.nbNameLen > 0 {
		return
	}
	var name [15]byte
	n := 0
	for i := 0; i < 15; i++ {
		hi, lo := b[1+2*i]-'A', b[2+2*i]-'A'
		if hi > 15 || lo > 15 {
			return
		}
		name[i] = hi<<4 | lo
		n = i + 1
	}
	for n > 0 && (name[n-1] == ' ' || name[n-1] == 0) {
		n--
	}
	s.nbNameLen = copy(s.nbNameBuf[:], name[:n])
}

type session struct {
	dirs [2]stream
	dead bool

	version    int // 1, 2 or 3
	dialect    uint16
	smb1Dial   string // dialect chosen by an SMB1 negotiate
	offered    uint16 // bit set of smb2Dialects offered by the client
	smb1Offers [16]string
	nOffers    int
	encrypted  bool
	encBytes   uint64
	compressed bool
	nbNameBuf  [15]byte
	nbNameLen  int
	user       string
	domain     string

	shares        [maxShares]string
	nShares       int
	sharesDropped int

	files   fileTable
	pending pendingTable
	ops     fileOps
	names   nameList

	bytesRead, bytesWritten uint64

	cmds2    [smb2NumCommands + 1]uint32 // the last counts unknown commands
	cmds1    [256]uint32
	scratch  []byte // UTF-16 decoding and JSON building
	firstIdx int    // first name list entry with data moved, or -1
}

const maxShares = 8

func (s *session) addShare(p []byte) {
	for i := 0; i < s.nShares; i++ {
		if s.shares[i] == string(p) {
			return
		}
	}
	if s.nShares == maxShares {
		s.sharesDropped++
		return
	}
	s.shares[s.nShares] = string(p)
	s.nShares++
}

func (s *session) Fields(d *ecs.Doc) {
	switch s.version {
	case 1:
		d.Str("outflow.smb.version", "1")
	case 2:
		d.Str("outflow.smb.version", "2")
	case 3:
		d.Str("outflow.smb.version", "3")
	}
	if s.dialect != 0 {
		d.Str("outflow.smb.dialect", dialectName(s.dialect))
	} else {
		d.Str("outflow.smb.dialect", s.smb1Dial)
	}
	if s.offered != 0 {
		var names [len(smb2Dialects)]string
		n := 0
		for i, dl := range smb2Dialects {
			if s.offered&(1<<i) != 0 {
				names[n] = dl.name
				n++
			}
		}
		d.Strs("outflow.smb.client_dialects", names[:n])
	} else {
		d.Strs("outflow.smb.client_dialects", s.smb1Offers[:s.nOffers])
	}
	d.Bytes("outflow.smb.netbios_name", s.nbNameBuf[:s.nbNameLen])
	d.Str("user.name", s.user)
	d.Str("user.domain", s.domain)
	d.Strs("outflow.smb.shares", s.shares[:s.nShares])
	if s.sharesDropped > 0 {
		d.Int("outflow.smb.shares_dropped", int64(s.sharesDropped))
	}
	d.Strs("outflow.smb.files", s.names.list[:s.names.n])
	if s.names.dropped > 0 {
		d.Int("outflow.smb.files_dropped", int64(s.names.dropped))
	}
	if name, ok := s.mainFile(); ok {
		d.Str("file.path", name)
		d.Str("file.name", baseName(name))
	}
	if s.bytesRead > 0 {
		d.Uint("outflow.smb.bytes_read", s.bytesRead)
	}
	if s.bytesWritten > 0 {
		d.Uint("outflow.smb.bytes_written", s.bytesWritten)
	}
	if s.encrypted {
		d.Bool("outflow.smb.encrypted", true)
		d.Uint("outflow.smb.encrypted_bytes", s.encBytes)
	}
	if s.compressed {
		d.Bool("outflow.smb.compressed", true)
	}
	s.scratch = s.appendCommands(s.scratch[:0])
	if len(s.scratch) > 2 {
		d.Raw("outflow.smb.commands", s.scratch)
	}
}

// mainFile is the file that moved data first, else the first file opened.
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

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// appendCommands writes the request counts per command as a JSON object.
func (s *session) appendCommands(b []byte) []byte {
	b = append(b, '{')
	first := true
	add := func(name string, n uint32) {
		if n == 0 {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = ecs.AppendString(b, name)
		b = append(b, ':')
		b = appendUint(b, uint64(n))
	}
	for i, n := range s.cmds2 {
		if i < smb2NumCommands {
			add(smb2Commands[i], n)
		} else {
			add("UNKNOWN", n)
		}
	}
	var other uint32
	for i, n := range s.cmds1 {
		if name := smb1CommandName(byte(i)); name != "" {
			add(name, n)
		} else {
			other += n
		}
	}
	add("SMB_COM_OTHER", other)
	return append(b, '}')
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "smb"
	sum.User = s.user
	sum.Encrypted = s.encrypted
	sum.Files = append(sum.Files[:0], s.ops.ops[:s.ops.n]...)
	sum.FilesDropped = s.ops.dropped
	sum.Uploaded = s.bytesWritten
	sum.Downloaded = s.bytesRead
}
