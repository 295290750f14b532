package smb

// SMB1 commands ([MS-CIFS] 2.2.2.1) that are parsed or named.
const (
	smb1Close         = 0x04
	smb1Trans2        = 0x32
	smb1OpenAndX      = 0x2d
	smb1ReadAndX      = 0x2e
	smb1WriteAndX     = 0x2f
	smb1Negotiate     = 0x72
	smb1SessionSetup  = 0x73
	smb1Logoff        = 0x74
	smb1TreeConnect   = 0x75
	smb1NTCreate      = 0xa2
	smb1LockingAndX   = 0x24
	smb1Transaction   = 0x25
	smb1Echo          = 0x2b
	smb1TreeDisc      = 0x71
	smb1NTTransact    = 0xa0
	smb1Flags         = 9
	smb1FlagReply     = 0x80
	smb1Flags2Unicode = 0x8000
)

func smb1CommandName(c byte) string {
	switch c {
	case smb1Close:
		return "SMB_COM_CLOSE"
	case smb1LockingAndX:
		return "SMB_COM_LOCKING_ANDX"
	case smb1Transaction:
		return "SMB_COM_TRANSACTION"
	case smb1Echo:
		return "SMB_COM_ECHO"
	case smb1OpenAndX:
		return "SMB_COM_OPEN_ANDX"
	case smb1ReadAndX:
		return "SMB_COM_READ_ANDX"
	case smb1WriteAndX:
		return "SMB_COM_WRITE_ANDX"
	case smb1Trans2:
		return "SMB_COM_TRANSACTION2"
	case smb1TreeDisc:
		return "SMB_COM_TREE_DISCONNECT"
	case smb1Negotiate:
		return "SMB_COM_NEGOTIATE"
	case smb1SessionSetup:
		return "SMB_COM_SESSION_SETUP_ANDX"
	case smb1Logoff:
		return "SMB_COM_LOGOFF_ANDX"
	case smb1TreeConnect:
		return "SMB_COM_TREE_CONNECT_ANDX"
	case smb1NTTransact:
		return "SMB_COM_NT_TRANSACT"
	case smb1NTCreate:
		return "SMB_COM_NT_CREATE_ANDX"
	}
	return ""
}

func isAndX(c byte) bool {
	switch c {
	case smb1LockingAndX, smb1OpenAndX, smb1ReadAndX, smb1WriteAndX,
		smb1SessionSetup, smb1Logoff, smb1TreeConnect, smb1NTCreate:
		return true
	}
	return false
}

// smb1Want says how much of an SMB1 message to buffer: the header and the
// parameter words, plus the data bytes of the requests whose strings are
// read (the whole message, so that an AndX chain can be followed).
func smb1Want(b []byte, unitLen int) int {
	if len(b) < smb1HeaderLen+1 {
		return smb1HeaderLen + 1
	}
	want := smb1HeaderLen + 1 + 2*int(b[smb1HeaderLen]) + 2
	if len(b) < want || b[smb1Flags]&smb1FlagReply != 0 {
		return want
	}
	switch b[4] {
	case smb1Negotiate, smb1SessionSetup, smb1TreeConnect, smb1NTCreate, smb1OpenAndX:
		return unitLen
	}
	return want
}

func smb1Key(mid int) uint64 { return 1<<63 | uint64(mid) }

// smb1 handles a buffered SMB1 message ([MS-CIFS] 2.2.3.1 header) and
// follows its AndX chain within the buffered bytes.
func (s *session) smb1(b []byte) {
	if len(b) < smb1HeaderLen+1 {
		return
	}
	s.version = max(s.version, 1)
	cmd := b[4]
	resp := b[smb1Flags]&smb1FlagReply != 0
	status := le32(b, 5)
	mid := le16(b, 30)
	unicode := le16(b, 10)&smb1Flags2Unicode != 0
	p := smb1HeaderLen
	for step := 0; step < 8 && p < len(b); step++ {
		wc := int(b[p])
		wordsEnd := min(p+1+2*wc, len(b))
		words := b[p+1 : wordsEnd]
		dataOff := wordsEnd + 2
		var data []byte
		if dataOff <= len(b) {
			data = b[dataOff:min(dataOff+le16(b, wordsEnd), len(b))]
		}
		if resp {
			s.smb1Response(cmd, status, mid, words)
		} else {
			s.cmds1[cmd]++
			s.smb1Request(cmd, mid, unicode, b, words, dataOff, data)
		}
		if !isAndX(cmd) || len(words) < 4 {
			return
		}
		next, off := words[0], le16(words, 2)
		if next == 0xff || off <= p || off >= len(b) {
			return
		}
		cmd, p = next, off
	}
}

func (s *session) smb1Request(cmd byte, mid int, unicode bool, b, words []byte, dataOff int, data []byte) {
	switch cmd {
	case smb1Negotiate:
		if s.nOffers > 0 {
			return // the first negotiate decides
		}
		// Dialects: 0x02 then a NUL-terminated ASCII string each.
		for len(data) > 1 && data[0] == 0x02 && s.nOffers < len(s.smb1Offers) {
			data = data[1:]
			end := 0
			for end < len(data) && data[end] != 0 {
				end++
			}
			s.smb1Offers[s.nOffers] = string(data[:min(end, 64)])
			s.nOffers++
			if end == len(data) {
				break
			}
			data = data[end+1:]
		}
	case smb1SessionSetup:
		switch len(words) {
		case 24: // extended security ([MS-SMB] 2.2.4.6.1)
			n := le16(words, 14)
			s.ntlmAuth(data[:min(n, len(data))])
		case 26: // NT LM 0.12 without extended security ([MS-CIFS] 2.2.4.53.1)
			pos := dataOff + le16(words, 14) + le16(words, 16)
			acct, next := s.smb1String(b, pos, unicode)
			if len(acct) > 0 && s.user != string(acct) {
				s.user = string(acct)
			}
			if dom, _ := s.smb1String(b, next, unicode); len(dom) > 0 && s.domain != string(dom) {
				s.domain = string(dom)
			}
		}
	case smb1TreeConnect:
		if len(words) < 8 {
			return
		}
		if p, _ := s.smb1String(b, dataOff+le16(words, 6), unicode); len(p) > 0 {
			s.addShare(p)
		}
	case smb1NTCreate:
		if len(words) < 48 {
			return
		}
		name, _ := s.smb1String(b, dataOff, unicode)
		s.pending.put(smb1Key(mid), kindCreate, s.names.intern(name))
	case smb1OpenAndX:
		if len(words) < 30 {
			return
		}
		name, _ := s.smb1String(b, dataOff, unicode)
		s.pending.put(smb1Key(mid), kindCreate, s.names.intern(name))
	case smb1ReadAndX:
		if len(words) < 6 {
			return
		}
		name, _ := s.files.get(smb1FileID(le16(words, 4)))
		s.pending.put(smb1Key(mid), kindRead, name)
	case smb1WriteAndX:
		if len(words) < 24 {
			return
		}
		n := uint64(le16(words, 20)) | uint64(le16(words, 18))<<16
		s.bytesWritten += n
		if name, ok := s.files.get(smb1FileID(le16(words, 4))); ok {
			s.ops.add("WRITE", name, uploadDir, n)
		}
	case smb1Close:
		if len(words) >= 2 {
			s.files.del(smb1FileID(le16(words, 0)))
		}
	}
}

func (s *session) smb1Response(cmd byte, status uint32, mid int, words []byte) {
	switch cmd {
	case smb1Negotiate:
		if i := le16(words, 0); len(words) >= 2 && i < s.nOffers {
			s.smb1Dial = s.smb1Offers[i]
		}
	case smb1NTCreate, smb1OpenAndX:
		p, ok := s.pending.take(smb1Key(mid), kindCreate)
		// FID follows the AndX block, after OplockLevel for NT_CREATE.
		off := 4
		if cmd == smb1NTCreate {
			off = 5
		}
		if ok && status == 0 && len(words) >= off+2 {
			s.files.put(smb1FileID(le16(words, off)), p.name)
		}
	case smb1ReadAndX:
		p, ok := s.pending.take(smb1Key(mid), kindRead)
		if status != 0 || len(words) < 16 {
			return
		}
		// DataLength, and DataLengthHigh for CAP_LARGE_READX ([MS-SMB] 2.2.4.2.2).
		n := uint64(le16(words, 10)) | uint64(le16(words, 14))<<16
		s.bytesRead += n
		if ok {
			s.ops.add("READ", p.name, downloadDir, n)
		}
	}
}

// smb1String reads a NUL-terminated string at pos: UTF-16LE aligned to an
// even offset from the header when unicode, else 8-bit. It returns the
// decoded bytes (in s.scratch) and the position after the terminator.
func (s *session) smb1String(b []byte, pos int, unicode bool) ([]byte, int) {
	if unicode && pos%2 == 1 {
		pos++
	}
	if pos < 0 || pos >= len(b) {
		return nil, len(b)
	}
	p := b[pos:]
	end := len(p)
	if unicode {
		for i := 0; i+1 < len(p); i += 2 {
			if p[i] == 0 && p[i+1] == 0 {
				end = i
				break
			}
		}
		s.scratch = appendUTF16(s.scratch[:0], p[:end])
		return s.scratch, pos + end + 2
	}
	for i, c := range p {
		if c == 0 {
			end = i
			break
		}
	}
	s.scratch = appendOEM(s.scratch[:0], p[:end])
	return s.scratch, pos + end + 1
}
