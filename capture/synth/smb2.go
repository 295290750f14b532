package synth

import (
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf16"
)

// SMB2 commands (MS-SMB2 2.2.1).
const (
	smb2Negotiate    = 0x0000
	smb2SessionSetup = 0x0001
	smb2TreeConnect  = 0x0003
	smb2Create       = 0x0005
	smb2Close        = 0x0006
	smb2Read         = 0x0008
	smb2Write        = 0x0009
)

// SMB2 status codes the builders use.
const (
	StatusSuccess                uint32 = 0
	StatusMoreProcessingRequired uint32 = 0xc0000016
	smb2HeaderLen                       = 64
	smb2Dialect302                      = 0x0302
	smb2FlagResponse                    = 0x00000001
	smb2MaxIO                           = 65536 // largest READ/WRITE with a credit charge of 1
)

// SMB2Conn builds the request/response pairs of one SMB2 connection over
// direct TCP (port 445): each message carries the 4-byte NetBIOS session
// header, the 64-byte SMB2 header and the command body, all little-endian
// except the NetBIOS length. Message ids count up from 0; the session id is
// sent from the first SESSION_SETUP response on, the tree id after
// TREE_CONNECT. Set the ids before the calls that hand them out. Paths and
// names must stay under 32768 UTF-16 units (their lengths are 16-bit).
type SMB2Conn struct {
	SessionID uint64
	TreeID    uint32
	FileID    [16]byte // persistent and volatile halves, returned by CREATE

	msgID    uint64
	session  bool // SessionID is in use
	tree     bool // TreeID is in use
	fileSize uint64
}

// Negotiate offers dialects 2.0.2 to 3.0.2; the server picks 3.0.2. The
// security buffers are empty, so the session setup carries raw NTLMSSP.
func (c *SMB2Conn) Negotiate(clientGUID, serverGUID [16]byte) (req, resp Payload) {
	q := le16(nil, 36, 4, 1, 0) // StructureSize, DialectCount, SecurityMode: signing enabled, Reserved
	q = le32(q, 0x7f)           // Capabilities
	q = append(q, clientGUID[:]...)
	q = le64(q, 0) // ClientStartTime
	q = le16(q, 0x0202, 0x0210, 0x0300, smb2Dialect302)

	r := le16(nil, 65, 1, smb2Dialect302, 0) // StructureSize, SecurityMode, DialectRevision, NegotiateContextCount
	r = append(r, serverGUID[:]...)
	r = le32(r, 0x2f, 8<<20, 8<<20, 8<<20) // Capabilities, MaxTransact/Read/WriteSize
	r = le64(r, smbTime, smbTime)          // SystemTime, ServerStartTime
	r = le16(r, smb2HeaderLen+64, 0)       // SecurityBufferOffset, SecurityBufferLength
	r = le32(r, 0)                         // NegotiateContextOffset
	return c.pair(smb2Negotiate, q, r, StatusSuccess)
}

// SessionSetup carries one round of authentication: blob from the client,
// respBlob from the server with status (StatusMoreProcessingRequired for a
// challenge, StatusSuccess at the end). The first response hands out
// c.SessionID.
func (c *SMB2Conn) SessionSetup(blob, respBlob []byte, status uint32) (req, resp Payload) {
	q := le16(nil, 25)
	q = append(q, 0, 1) // Flags, SecurityMode: signing enabled
	q = le32(q, 1, 0)   // Capabilities: DFS, Channel
	q = le16(q, smb2HeaderLen+24, uint16(len(blob)))
	q = le64(q, 0) // PreviousSessionId
	q = append(q, blob...)

	off := uint16(0)
	if len(respBlob) > 0 {
		off = smb2HeaderLen + 8
	}
	r := le16(nil, 9, 0, off, uint16(len(respBlob)))
	r = append(r, respBlob...)
	req = c.msg(smb2SessionSetup, q, false, StatusSuccess, 1)
	c.session = true
	resp = c.msg(smb2SessionSetup, r, true, status, 1)
	c.msgID++
	return req, resp
}

// TreeConnect connects to path (`\\host\share`) and hands out c.TreeID.
func (c *SMB2Conn) TreeConnect(path string) (req, resp Payload) {
	p := utf16le(path)
	q := le16(nil, 9, 0, smb2HeaderLen+8, uint16(len(p)))
	q = append(q, p...)
	r := le16(nil, 16)
	r = append(r, 1, 0)           // ShareType: disk, Reserved
	r = le32(r, 0, 0, 0x001f01ff) // ShareFlags, Capabilities, MaximalAccess
	req = c.msg(smb2TreeConnect, q, false, StatusSuccess, 1)
	c.tree = true
	resp = c.msg(smb2TreeConnect, r, true, StatusSuccess, 1)
	c.msgID++
	return req, resp
}

// Create opens name (relative to the share, UTF-16LE on the wire) for
// writing (overwrite-or-create) or reading, and hands out c.FileID.
func (c *SMB2Conn) Create(name string, write bool) (req, resp Payload) {
	n := utf16le(name)
	access, disposition, action := uint32(0x00120089), uint32(1), uint32(1) // read; FILE_OPEN; FILE_OPENED
	if write {
		access, disposition, action = 0x0012019f, 5, 2 // read/write; FILE_OVERWRITE_IF; FILE_CREATED
	}
	q := le16(nil, 57)
	q = append(q, 0, 0)                             // SecurityFlags, RequestedOplockLevel
	q = le32(q, 2)                                  // ImpersonationLevel: Impersonation
	q = le64(q, 0, 0)                               // SmbCreateFlags, Reserved
	q = le32(q, access, 0x80, 7, disposition, 0x40) // DesiredAccess, FileAttributes: normal, ShareAccess: all, CreateDisposition, CreateOptions: non-directory
	q = le16(q, smb2HeaderLen+56, uint16(len(n)))
	q = le32(q, 0, 0) // CreateContextsOffset, CreateContextsLength
	q = append(q, n...)

	size := c.fileSize
	if write {
		size = 0
	}
	r := le16(nil, 89)
	r = append(r, 0, 0) // OplockLevel, Flags
	r = le32(r, action)
	r = le64(r, smbTime, smbTime, smbTime, smbTime, (size+4095)&^4095, size)
	r = le32(r, 0x80, 0)
	r = append(r, c.FileID[:]...)
	r = le32(r, 0, 0)
	return c.pair(smb2Create, q, r, StatusSuccess)
}

// Write writes data at offset off of the open file (at most 64 KiB: one
// credit).
func (c *SMB2Conn) Write(off uint64, data Payload) (req, resp Payload) {
	q := le16(nil, 49, smb2HeaderLen+48)
	q = le32(q, uint32(data.Len()))
	q = le64(q, off)
	q = append(q, c.FileID[:]...)
	q = le32(q, 0, 0) // Channel, RemainingBytes
	q = le16(q, 0, 0) // WriteChannelInfoOffset/Length
	q = le32(q, 0)    // Flags
	r := le16(nil, 17, 0)
	r = le32(r, uint32(data.Len()), 0)
	r = le16(r, 0, 0)
	c.fileSize = max(c.fileSize, off+uint64(data.Len()))
	req = c.msg(smb2Write, q, false, StatusSuccess, 1)
	req = Concat(req, data)
	setNBLen(req)
	resp = c.msg(smb2Write, r, true, StatusSuccess, 1)
	c.msgID++
	return req, resp
}

// Read reads data.Len() bytes at offset off; the response returns data.
func (c *SMB2Conn) Read(off uint64, data Payload) (req, resp Payload) {
	q := le16(nil, 49)
	q = append(q, 0x50, 0) // Padding: data offset wanted in the reply, Flags
	q = le32(q, uint32(data.Len()))
	q = le64(q, off)
	q = append(q, c.FileID[:]...)
	q = le32(q, 1, 0, 0) // MinimumCount, Channel, RemainingBytes
	q = le16(q, 0, 0)
	q = append(q, 0) // one byte of Buffer, as the structure size says
	r := le16(nil, 17)
	r = append(r, smb2HeaderLen+16, 0) // DataOffset, Reserved
	r = le32(r, uint32(data.Len()), 0, 0)
	req = c.msg(smb2Read, q, false, StatusSuccess, 1)
	resp = c.msg(smb2Read, r, true, StatusSuccess, 1)
	resp = Concat(resp, data)
	setNBLen(resp)
	c.msgID++
	return req, resp
}

// Close closes the open file.
func (c *SMB2Conn) Close() (req, resp Payload) {
	q := le16(nil, 24, 0)
	q = le32(q, 0)
	q = append(q, c.FileID[:]...)
	r := le16(nil, 60, 0)
	r = le32(r, 0)
	r = append(r, make([]byte, 52)...) // no attributes returned (Flags 0)
	return c.pair(smb2Close, q, r, StatusSuccess)
}

func (c *SMB2Conn) pair(cmd uint16, q, r []byte, status uint32) (req, resp Payload) {
	charge := uint16(1)
	if cmd == smb2Negotiate {
		charge = 0
	}
	req = c.msg(cmd, q, false, StatusSuccess, charge)
	resp = c.msg(cmd, r, true, status, charge)
	c.msgID++
	return req, resp
}

// msg renders NetBIOS header + SMB2 header + body. setNBLen fixes the
// NetBIOS length when more bytes are appended.
func (c *SMB2Conn) msg(cmd uint16, body []byte, response bool, status uint32, charge uint16) Payload {
	b := make([]byte, 4, 4+smb2HeaderLen+len(body))
	b = append(b, 0xfe, 'S', 'M', 'B')
	b = le16(b, smb2HeaderLen, charge)
	b = le32(b, status)
	b = le16(b, cmd, 1) // Command, CreditRequest/CreditResponse
	flags := uint32(0)
	if response {
		flags = smb2FlagResponse
	}
	b = le32(b, flags, 0) // Flags, NextCommand
	b = le64(b, c.msgID)
	b = le32(b, 0xfeff) // Reserved (process id)
	tree, sess := uint32(0), uint64(0)
	if c.tree {
		tree = c.TreeID
	}
	if c.session {
		sess = c.SessionID
	}
	b = le32(b, tree)
	b = le64(b, sess)
	b = append(b, make([]byte, 16)...) // Signature: unsigned
	b = append(b, body...)
	p := Bytes(b)
	setNBLen(p)
	return p
}

// setNBLen writes the NetBIOS session message length (24-bit big-endian,
// everything after the 4-byte header) into the first chunk of p.
func setNBLen(p Payload) {
	n := p.Len() - 4
	h := p.chunks[0].lit
	h[0], h[1], h[2], h[3] = 0, byte(n>>16), byte(n>>8), byte(n)
}

// smbTime is DefaultStart as a Windows FILETIME (100ns since 1601).
var smbTime = uint64(DefaultStart.Unix()+11644473600) * 1e7

// NTLMNegotiate is an NTLMSSP NEGOTIATE_MESSAGE (type 1) with a version.
func NTLMNegotiate() []byte {
	b := append([]byte("NTLMSSP\x00"), 1, 0, 0, 0)
	b = le32(b, ntlmFlags)
	b = append(b, make([]byte, 16)...) // DomainNameFields, WorkstationFields: empty
	return append(b, ntlmVersion...)
}

// NTLMChallenge is a CHALLENGE_MESSAGE (type 2) naming the server's domain
// and computer.
func NTLMChallenge(challenge [8]byte, domain, computer string) []byte {
	target := utf16le(domain)
	var info []byte
	info = avPair(info, 2, utf16le(domain))
	info = avPair(info, 1, utf16le(computer))
	info = avPair(info, 4, utf16le(lower(domain)+".local"))
	info = avPair(info, 3, utf16le(lower(computer)+"."+lower(domain)+".local"))
	info = avPair(info, 7, le64(nil, smbTime))
	info = avPair(info, 0, nil)
	const hdr = 56
	b := append([]byte("NTLMSSP\x00"), 2, 0, 0, 0)
	b = secBuf(b, len(target), hdr)
	b = le32(b, ntlmFlags)
	b = append(b, challenge[:]...)
	b = append(b, make([]byte, 8)...)
	b = secBuf(b, len(info), hdr+len(target))
	b = append(b, ntlmVersion...)
	b = append(b, target...)
	return append(b, info...)
}

// NTLMAuthenticate is an AUTHENTICATE_MESSAGE (type 3) with an NTLMv2
// response whose proof, client challenge and session key are opaque.
func NTLMAuthenticate(domain, user, workstation string, opaque [40]byte) []byte {
	d, u, w := utf16le(domain), utf16le(user), utf16le(workstation)
	lm := make([]byte, 24)
	nt := append([]byte(nil), opaque[:16]...) // NTProofStr
	nt = append(nt, 1, 1, 0, 0, 0, 0, 0, 0)   // RespType, HiRespType, reserved
	nt = le64(nt, smbTime)
	nt = append(nt, opaque[16:24]...) // client challenge
	nt = append(nt, 0, 0, 0, 0)
	nt = avPair(nt, 0, nil)
	nt = append(nt, 0, 0, 0, 0)
	key := opaque[24:40]
	const hdr = 88
	// Payload order: domain, user, workstation, LM, NT, session key.
	dOff := hdr
	uOff := dOff + len(d)
	wOff := uOff + len(u)
	lmOff := wOff + len(w)
	ntOff := lmOff + len(lm)
	kOff := ntOff + len(nt)
	b := append([]byte("NTLMSSP\x00"), 3, 0, 0, 0)
	b = secBuf(b, len(lm), lmOff)
	b = secBuf(b, len(nt), ntOff)
	b = secBuf(b, len(d), dOff)
	b = secBuf(b, len(u), uOff)
	b = secBuf(b, len(w), wOff)
	b = secBuf(b, len(key), kOff)
	b = le32(b, ntlmFlags)
	b = append(b, ntlmVersion...)
	b = append(b, make([]byte, 16)...) // MIC (unsigned here)
	b = append(b, d...)
	b = append(b, u...)
	b = append(b, w...)
	b = append(b, lm...)
	b = append(b, nt...)
	return append(b, key...)
}

// Windows 10's usual flags: 56/128-bit, key exchange, version, target info,
// extended session security, always sign, NTLM, sign, request target,
// OEM and Unicode.
const ntlmFlags = 0xe2888215

// ntlmVersion: Windows 10.0 build 19041, NTLM revision 15.
var ntlmVersion = []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15}

func avPair(b []byte, id uint16, v []byte) []byte {
	b = le16(b, id, uint16(len(v)))
	return append(b, v...)
}

// secBuf appends an NTLM security buffer descriptor: length, max length,
// offset from the start of the message.
func secBuf(b []byte, n, off int) []byte {
	b = le16(b, uint16(n), uint16(n))
	return le32(b, uint32(off))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, v := range u {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

func le16(b []byte, vs ...uint16) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func le32(b []byte, vs ...uint32) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func le64(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// SMB2Session describes a client writing (and optionally reading back) one
// file on a share, for Scenario.SMB2.
type SMB2Session struct {
	Host, Share string // default "fileserver", "share"
	// NTLM identity; defaults "svc-backup", "CORP", "WORKER01".
	User, Domain, Workstation string
	File                      string // default "report.docx"
	Write                     Payload
	Read                      int // bytes read back from offset 0 (at most Write.Len())
}

// SMB2 plans an SMB2 session over direct TCP (ep.ServerPort 445 when
// zero): NEGOTIATE, two SESSION_SETUP rounds of NTLMSSP, TREE_CONNECT,
// CREATE, WRITEs of at most 64 KiB, optional READs, CLOSE, then the client
// closes the connection. The manifest notes share, file, user and the byte
// counts.
func (s *Scenario) SMB2(ep Endpoints, at time.Duration, sess SMB2Session, opt TCPOptions) *TCP {
	if ep.ServerPort == 0 {
		ep.ServerPort = 445
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&sess.Host, "fileserver")
	def(&sess.Share, "share")
	def(&sess.User, "svc-backup")
	def(&sess.Domain, "CORP")
	def(&sess.Workstation, "WORKER01")
	def(&sess.File, "report.docx")
	c := s.TCP(ep, at, "smb2", opt)
	var conn SMB2Conn
	var cg, sg [16]byte
	var chal [8]byte
	var opaque [40]byte
	fillBytes(s.rng.Uint64(), cg[:], sg[:], chal[:], opaque[:], conn.FileID[:])
	conn.SessionID = s.rng.Uint64() | 1
	conn.TreeID = uint32(1 + s.rng.IntN(16))

	ex := func(req, resp Payload) {
		c.Send(ToServer, req, 200*time.Microsecond)
		c.Send(ToClient, resp, time.Millisecond)
	}
	ex(conn.Negotiate(cg, sg))
	ex(conn.SessionSetup(NTLMNegotiate(), NTLMChallenge(chal, sess.Domain, lower(sess.Host)), StatusMoreProcessingRequired))
	ex(conn.SessionSetup(NTLMAuthenticate(sess.Domain, sess.User, sess.Workstation, opaque), nil, StatusSuccess))
	tree := `\\` + sess.Host + `\` + sess.Share
	ex(conn.TreeConnect(tree))
	ex(conn.Create(sess.File, true))
	for off := 0; off < sess.Write.Len(); off += smb2MaxIO {
		ex(conn.Write(uint64(off), sess.Write.Slice(off, smb2MaxIO)))
	}
	for off := 0; off < min(sess.Read, sess.Write.Len()); off += smb2MaxIO {
		n := min(smb2MaxIO, sess.Read-off)
		ex(conn.Read(uint64(off), sess.Write.Slice(off, n)))
	}
	ex(conn.Close())
	c.Close(ToServer, 5*time.Millisecond)
	c.Note("tree", tree)
	c.Note("file", sess.File)
	c.Note("user", sess.Domain+`\`+sess.User)
	c.Note("written", strconv.Itoa(sess.Write.Len()))
	c.Note("read", strconv.Itoa(min(sess.Read, sess.Write.Len())))
	return c
}
