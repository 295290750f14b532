package smb

import (
	"encoding/binary"
	"unicode/utf16"
)

// Builders for hand-made SMB traffic. Section numbers refer to [MS-SMB2],
// [MS-CIFS], [MS-SMB], [MS-NLMP] and RFC 1002.

var le = binary.LittleEndian

// nbss frames msg as a NetBIOS session message (RFC 1002 4.3.1; the same
// header is used on direct TCP, [MS-SMB2] 2.1).
func nbss(msg ...[]byte) []byte {
	n := 0
	for _, m := range msg {
		n += len(m)
	}
	b := []byte{nbMessage, byte(n >> 16), byte(n >> 8), byte(n)}
	for _, m := range msg {
		b = append(b, m...)
	}
	return b
}

// nbControl is a NetBIOS control packet of type t with body.
func nbControl(t byte, body []byte) []byte {
	n := len(body)
	return append([]byte{t, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// nbEncode is the first-level encoding of a 16-byte NetBIOS name padded
// with spaces and ending in suffix (RFC 1001 14.1), with its length byte
// and the empty scope's terminating zero.
func nbEncode(name string, suffix byte) []byte {
	var raw [16]byte
	for i := range raw {
		raw[i] = ' '
	}
	copy(raw[:15], name)
	raw[15] = suffix
	b := []byte{0x20}
	for _, c := range raw {
		b = append(b, 'A'+c>>4, 'A'+c&0xf)
	}
	return append(b, 0)
}

func u16(s string) []byte {
	var b []byte
	for _, r := range utf16.Encode([]rune(s)) {
		b = le.AppendUint16(b, r)
	}
	return b
}

type hdr2 struct {
	cmd    uint16
	resp   bool
	status uint32
	flags  uint32
	mid    uint64
	next   uint32
	tree   uint32
}

// smb2Header is the 64-byte sync SMB2 header (2.2.1.2).
func smb2Header(h hdr2) []byte {
	b := make([]byte, smb2HeaderLen)
	copy(b, "\xfeSMB")
	le.PutUint16(b[4:], smb2HeaderLen)
	le.PutUint32(b[8:], h.status)
	le.PutUint16(b[12:], h.cmd)
	flags := h.flags
	if h.resp {
		flags |= flagResponse
	}
	le.PutUint32(b[16:], flags)
	le.PutUint32(b[20:], h.next)
	le.PutUint64(b[24:], h.mid)
	le.PutUint32(b[36:], h.tree)
	return b
}

// smb2Msg is a header followed by body.
func smb2Msg(h hdr2, body []byte) []byte { return append(smb2Header(h), body...) }

// compound chains elements with NextCommand, padding each to 8 bytes
// (3.2.4.1.4). The related flag is set on all but the first when related.
func compound(related bool, elems ...[]byte) []byte {
	var out []byte
	for i, e := range elems {
		e = append([]byte(nil), e...)
		if related && i > 0 {
			le.PutUint32(e[16:], le.Uint32(e[16:])|flagRelated)
		}
		if i < len(elems)-1 {
			for len(e)%8 != 0 {
				e = append(e, 0)
			}
			le.PutUint32(e[20:], uint32(len(e)))
		}
		out = append(out, e...)
	}
	return out
}

// negotiateReq is a NEGOTIATE request (2.2.3) offering dialects.
func negotiateReq(mid uint64, dialects ...uint16) []byte {
	body := make([]byte, 36)
	le.PutUint16(body[0:], 36)
	le.PutUint16(body[2:], uint16(len(dialects)))
	for _, d := range dialects {
		body = le.AppendUint16(body, d)
	}
	return smb2Msg(hdr2{cmd: smb2Negotiate, mid: mid}, body)
}

// negotiateResp is a NEGOTIATE response (2.2.4) choosing rev.
func negotiateResp(mid uint64, rev uint16) []byte {
	body := make([]byte, 64)
	le.PutUint16(body[0:], 65)
	le.PutUint16(body[4:], rev)
	return smb2Msg(hdr2{cmd: smb2Negotiate, resp: true, mid: mid}, body)
}

// ntlmAuthenticate is an NTLMSSP AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3)
// with Unicode domain, user and workstation and empty responses.
func ntlmAuthenticate(domain, user, ws string) []byte {
	const fixed = 88
	b := make([]byte, fixed)
	copy(b, "NTLMSSP\x00")
	le.PutUint32(b[8:], 3)
	off := fixed
	field := func(at int, v []byte) {
		le.PutUint16(b[at:], uint16(len(v)))
		le.PutUint16(b[at+2:], uint16(len(v)))
		le.PutUint32(b[at+4:], uint32(off))
		off += len(v)
	}
	d, u, w := u16(domain), u16(user), u16(ws)
	field(12, nil) // LmChallengeResponse
	field(20, nil) // NtChallengeResponse
	field(28, d)
	field(36, u)
	field(44, w)
	le.PutUint32(b[60:], 0x1|0x200) // UNICODE | NTLM
	b = append(b, d...)
	b = append(b, u...)
	return append(b, w...)
}

// spnegoWrap puts a token in a SPNEGO NegTokenResp (RFC 4178 section
// 4.2.2): [1] SEQUENCE { [2] responseToken OCTET STRING }, DER lengths in
// the two-byte long form.
func spnegoWrap(tok []byte) []byte {
	tlv := func(tag byte, v []byte) []byte {
		return append([]byte{tag, 0x82, byte(len(v) >> 8), byte(len(v))}, v...)
	}
	return tlv(0xa1, tlv(0x30, tlv(0xa2, tlv(0x04, tok))))
}

// sessionSetupReq is a SESSION_SETUP request (2.2.5) with blob.
func sessionSetupReq(mid uint64, blob []byte) []byte {
	body := make([]byte, 24)
	le.PutUint16(body[0:], 25)
	le.PutUint16(body[12:], smb2HeaderLen+24)
	le.PutUint16(body[14:], uint16(len(blob)))
	return smb2Msg(hdr2{cmd: smb2SessionSetup, mid: mid}, append(body, blob...))
}

// treeConnectReq is a TREE_CONNECT request (2.2.9) for path.
func treeConnectReq(mid uint64, path string) []byte {
	p := u16(path)
	body := make([]byte, 8)
	le.PutUint16(body[0:], 9)
	le.PutUint16(body[4:], smb2HeaderLen+8)
	le.PutUint16(body[6:], uint16(len(p)))
	return smb2Msg(hdr2{cmd: smb2TreeConnect, mid: mid}, append(body, p...))
}

// createReq is a CREATE request (2.2.13) for name, with a trailing create
// context area the parser must skip.
func createReq(mid uint64, name string) []byte {
	n := u16(name)
	body := make([]byte, 56)
	le.PutUint16(body[0:], 57)
	le.PutUint16(body[44:], smb2HeaderLen+56)
	le.PutUint16(body[46:], uint16(len(n)))
	body = append(body, n...)
	if len(n) == 0 {
		body = append(body, 0) // the Buffer is at least one byte
	}
	return smb2Msg(hdr2{cmd: smb2Create, mid: mid}, append(body, make([]byte, 40)...))
}

// createResp is a successful CREATE response (2.2.14) with id.
func createResp(mid uint64, id fileID) []byte {
	body := make([]byte, 88)
	le.PutUint16(body[0:], 89)
	copy(body[64:], id[:])
	return smb2Msg(hdr2{cmd: smb2Create, resp: true, mid: mid}, body)
}

// errorResp is an ERROR response (2.2.2) to cmd.
func errorResp(cmd uint16, mid uint64, status uint32) []byte {
	body := make([]byte, 9)
	le.PutUint16(body[0:], 9)
	return smb2Msg(hdr2{cmd: cmd, resp: true, mid: mid, status: status}, body)
}

// pendingResp is an interim async STATUS_PENDING response (3.3.4.2).
func pendingResp(cmd uint16, mid uint64) []byte {
	body := make([]byte, 9)
	le.PutUint16(body[0:], 9)
	return smb2Msg(hdr2{cmd: cmd, resp: true, mid: mid, status: statusPending, flags: flagAsync}, body)
}

// readReq is a READ request (2.2.19) of n bytes from id.
func readReq(mid uint64, id fileID, n uint32) []byte {
	body := make([]byte, 49)
	le.PutUint16(body[0:], 49)
	le.PutUint32(body[4:], n)
	copy(body[16:], id[:])
	return smb2Msg(hdr2{cmd: smb2Read, mid: mid}, body)
}

// readResp is a READ response (2.2.20) carrying n data bytes.
func readResp(mid uint64, n int) []byte {
	body := make([]byte, 16)
	le.PutUint16(body[0:], 17)
	body[2] = smb2HeaderLen + 16
	le.PutUint32(body[4:], uint32(n))
	return smb2Msg(hdr2{cmd: smb2Read, resp: true, mid: mid}, append(body, make([]byte, n)...))
}

// writeReq is a WRITE request (2.2.21) of n data bytes to id.
func writeReq(mid uint64, id fileID, n int) []byte {
	body := make([]byte, 48)
	le.PutUint16(body[0:], 49)
	le.PutUint16(body[2:], smb2HeaderLen+48)
	le.PutUint32(body[4:], uint32(n))
	copy(body[16:], id[:])
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i) // file data that must never be parsed
	}
	return smb2Msg(hdr2{cmd: smb2Write, mid: mid}, append(body, data...))
}

// writeResp is a WRITE response (2.2.22).
func writeResp(mid uint64, n int) []byte {
	body := make([]byte, 16)
	le.PutUint16(body[0:], 17)
	le.PutUint32(body[4:], uint32(n))
	return smb2Msg(hdr2{cmd: smb2Write, resp: true, mid: mid}, body)
}

// closeResp is a CLOSE response (2.2.16).
func closeResp(mid uint64) []byte {
	body := make([]byte, 60)
	le.PutUint16(body[0:], 60)
	return smb2Msg(hdr2{cmd: smb2Close, resp: true, mid: mid}, body)
}

// closeReq is a CLOSE request (2.2.15) of id.
func closeReq(mid uint64, id fileID) []byte {
	body := make([]byte, 24)
	le.PutUint16(body[0:], 24)
	copy(body[8:], id[:])
	return smb2Msg(hdr2{cmd: smb2Close, mid: mid}, body)
}

// transform is an SMB3 TRANSFORM_HEADER (2.2.41) and n encrypted bytes.
func transform(n int) []byte {
	b := make([]byte, transformLen)
	copy(b, "\xfdSMB")
	le.PutUint32(b[36:], uint32(n))
	le.PutUint16(b[42:], 1) // Flags: encrypted
	return append(b, make([]byte, n)...)
}

// compressed is an unchained COMPRESSION_TRANSFORM_HEADER (2.2.42.1) and n
// compressed bytes.
func compressed(n int) []byte {
	b := make([]byte, compressLen)
	copy(b, "\xfcSMB")
	le.PutUint32(b[4:], uint32(4*n))
	le.PutUint16(b[8:], 1) // LZNT1
	return append(b, make([]byte, n)...)
}

func fid(n byte) fileID { return fileID{n, 1, 2, 3, 4, 5, 6, 7, n, 9, 10, 11, 12, 13, 14, 15} }

// SMB1 ([MS-CIFS] 2.2.3.1 header, 2.2.3.2 parameters, 2.2.3.3 data).

type hdr1 struct {
	cmd     byte
	reply   bool
	status  uint32
	unicode bool
	mid     uint16
}

func smb1Msg(h hdr1, words []byte, data []byte) []byte {
	b := make([]byte, smb1HeaderLen)
	copy(b, "\xffSMB")
	b[4] = h.cmd
	le.PutUint32(b[5:], h.status)
	if h.reply {
		b[9] = smb1FlagReply
	}
	flags2 := uint16(0x4000) // NT status codes
	if h.unicode {
		flags2 |= smb1Flags2Unicode
	}
	le.PutUint16(b[10:], flags2)
	le.PutUint16(b[30:], h.mid)
	b = append(b, byte(len(words)/2))
	b = append(b, words...)
	b = le.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// andx is the AndX block that opens the words of an AndX command.
func andx(next byte, off uint16) []byte {
	return []byte{next, 0, byte(off), byte(off >> 8)}
}

// smb1Negotiate lists dialects (2.2.4.52.1).
func smb1NegotiateReqMsg(mid uint16, dialects ...string) []byte {
	var data []byte
	for _, d := range dialects {
		data = append(data, 0x02)
		data = append(data, d...)
		data = append(data, 0)
	}
	return smb1Msg(hdr1{cmd: smb1Negotiate, mid: mid}, nil, data)
}

// smb1NegotiateResp picks dialect index i (2.2.4.52.2, 17 words).
func smb1NegotiateRespMsg(mid uint16, i uint16) []byte {
	words := make([]byte, 34)
	le.PutUint16(words, i)
	return smb1Msg(hdr1{cmd: smb1Negotiate, reply: true, mid: mid}, words, nil)
}

// str1 encodes a NUL-terminated SMB1 string that will start at offset at
// from the header: Unicode strings are padded to an even offset.
func str1(s string, at int, unicode bool) []byte {
	if !unicode {
		return append([]byte(s), 0)
	}
	var b []byte
	if at%2 == 1 {
		b = append(b, 0)
	}
	return append(append(b, u16(s)...), 0, 0)
}

// smb1SessionSetupPlain is SESSION_SETUP_ANDX without extended security
// (2.2.4.53.1, 13 words), chained to next at nextOff.
func smb1SessionSetupPlain(mid uint16, user, domain string, next byte, nextOff uint16) []byte {
	words := andx(next, nextOff)
	words = append(words, make([]byte, 22)...)
	le.PutUint16(words[14:], 1) // OEMPasswordLen
	le.PutUint16(words[16:], 0) // UnicodePasswordLen
	dataOff := smb1HeaderLen + 1 + len(words) + 2
	data := []byte{0} // password
	data = append(data, str1(user, dataOff+len(data), true)...)
	data = append(data, str1(domain, dataOff+len(data), true)...)
	data = append(data, str1("Unix", dataOff+len(data), true)...)
	return smb1Msg(hdr1{cmd: smb1SessionSetup, unicode: true, mid: mid}, words, data)
}

// smb1TreeConnectWords is the TREE_CONNECT_ANDX request block (2.2.4.55.1)
// placed at offset at: word count, words, byte count, password, path,
// service.
func smb1TreeConnectBlock(path string, at int) []byte {
	words := andx(0xff, 0)
	words = append(words, 0, 0, 1, 0) // Flags, PasswordLength 1
	b := []byte{4}
	b = append(b, words...)
	dataOff := at + len(b) + 2
	data := []byte{0}
	data = append(data, str1(path, dataOff+len(data), true)...)
	data = append(data, "?????\x00"...)
	b = le.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// smb1NTCreateReq opens name (2.2.4.64.1, 24 words).
func smb1NTCreateReq(mid uint16, name string) []byte {
	n := u16(name)
	words := andx(0xff, 0)
	words = append(words, make([]byte, 44)...)
	le.PutUint16(words[5:], uint16(len(n)))
	dataOff := smb1HeaderLen + 1 + len(words) + 2
	data := str1(name, dataOff, true)
	return smb1Msg(hdr1{cmd: smb1NTCreate, unicode: true, mid: mid}, words, data)
}

// smb1NTCreateResp returns fid (2.2.4.64.2, 34 words).
func smb1NTCreateResp(mid uint16, fid uint16) []byte {
	words := andx(0xff, 0)
	words = append(words, make([]byte, 64)...)
	le.PutUint16(words[5:], fid)
	return smb1Msg(hdr1{cmd: smb1NTCreate, reply: true, unicode: true, mid: mid}, words, nil)
}

// smb1WriteAndX writes n bytes to fid (2.2.4.43.1, 14 words).
func smb1WriteAndXMsg(mid uint16, fid uint16, n int) []byte {
	words := andx(0xff, 0)
	words = append(words, make([]byte, 24)...)
	le.PutUint16(words[4:], fid)
	le.PutUint16(words[18:], uint16(n>>16))
	le.PutUint16(words[20:], uint16(n))
	le.PutUint16(words[22:], smb1HeaderLen+1+28+2)
	return smb1Msg(hdr1{cmd: smb1WriteAndX, mid: mid}, words, make([]byte, n))
}

// smb1ReadAndXReq reads from fid (2.2.4.42.1, 12 words).
func smb1ReadAndXReqMsg(mid uint16, fid uint16) []byte {
	words := andx(0xff, 0)
	words = append(words, make([]byte, 20)...)
	le.PutUint16(words[4:], fid)
	return smb1Msg(hdr1{cmd: smb1ReadAndX, mid: mid}, words, nil)
}

// smb1ReadAndXResp returns n bytes ([MS-SMB] 2.2.4.2.2, 12 words).
func smb1ReadAndXRespMsg(mid uint16, n int) []byte {
	words := andx(0xff, 0)
	words = append(words, make([]byte, 20)...)
	le.PutUint16(words[10:], uint16(n))
	le.PutUint16(words[12:], smb1HeaderLen+1+24+2)
	le.PutUint16(words[14:], uint16(n>>16))
	return smb1Msg(hdr1{cmd: smb1ReadAndX, reply: true, mid: mid}, words, make([]byte, n))
}
