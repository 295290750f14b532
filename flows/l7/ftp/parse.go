package ftp

import (
	"bytes"
	"net/netip"

	"outflow/flows/l7"
)

// verb is an FTP command word of 3 or 4 letters packed big-endian into a
// uint32 (3-letter words end in a zero byte), upper-cased, so commands can
// be looked up without building strings.
type verb uint32

func mkVerb(s string) verb {
	var v verb
	for i := range 4 {
		v <<= 8
		if i < len(s) {
			v |= verb(s[i])
		}
	}
	return v
}

// Command classes, for probing and recording.
const (
	classOther     = iota // FTP command not recorded
	classAmbiguous        // also a POP3/SMTP command: no evidence alone
	classForeign          // another protocol's command: not FTP
	classFile             // recorded with its argument
)

type cmdInfo struct {
	name  string
	class uint8
	dir   l7.TransferDir // for transfer commands
	xfer  bool           // binds the pending data channel
}

var commands = map[verb]cmdInfo{}

func init() {
	add := func(class uint8, dir l7.TransferDir, xfer bool, names ...string) {
		for _, n := range names {
			commands[mkVerb(n)] = cmdInfo{name: n, class: class, dir: dir, xfer: xfer}
		}
	}
	add(classOther, 0, false, "USER", "AUTH", "FEAT", "SYST", "PASV", "EPSV", "PORT", "EPRT", "TYPE", "PWD", "XPWD",
		"SIZE", "MDTM", "OPTS", "PBSZ", "PROT", "CDUP", "XCUP", "REST", "ABOR", "ALLO", "STRU", "MODE", "LPRT",
		"LPSV", "CLNT", "HOST", "ACCT", "REIN", "CCC", "MLST", "LANG", "ADAT", "MIC", "CONF", "ENC", "SMNT", "XCRC",
		"XMD5", "XSHA", "HASH", "MFMT", "MFCT", "AVBL", "CSID", "DSIZ")
	add(classAmbiguous, 0, false, "PASS", "QUIT", "NOOP", "HELP", "STAT")
	add(classAmbiguous, l7.TransferDownload, true, "RETR", "LIST")
	add(classForeign, 0, false, "EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "VRFY", "EXPN", "STLS",
		"CAPA", "APOP", "UIDL", "TOP", "LHLO", "BDAT", "ETRN", "TURN")
	add(classFile, l7.TransferUpload, true, "STOR", "APPE", "STOU")
	add(classFile, l7.TransferDownload, true, "NLST", "MLSD")
	add(classFile, 0, false, "CWD", "XCWD", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO", "SITE")
	commands[mkVerb("DELE")] = cmdInfo{name: "DELE", class: classFile}
	// RETR and LIST are recorded too, but are ambiguous for probing.
}

var (
	vUSER = mkVerb("USER")
	vAUTH = mkVerb("AUTH")
	vPORT = mkVerb("PORT")
	vEPRT = mkVerb("EPRT")
	vRETR = mkVerb("RETR")
	vLIST = mkVerb("LIST")
	vDELE = mkVerb("DELE")
)

// recorded reports whether a command goes in outflow.ftp.commands.
func recorded(v verb, c cmdInfo) bool {
	return c.class == classFile || v == vRETR || v == vLIST || v == vDELE
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// trimTelnet drops leading Telnet commands (IAC IP IAC DM before ABOR).
func trimTelnet(b []byte) []byte {
	for len(b) >= 2 && b[0] == 0xff && b[1] >= 0xf0 {
		b = b[2:]
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// splitCommand splits "VERB arg" (any case). A word of more than 4
// letters (STARTTLS, AUTHENTICATE) is no FTP command: it comes back as verb
// 0 with ok true, so probing can reject it.
func splitCommand(line []byte) (v verb, arg []byte, ok bool) {
	n := 0
	for n < len(line) && n <= 12 && isLetter(line[n]) {
		n++
	}
	if n < 3 || n < len(line) && line[n] != ' ' {
		return 0, nil, false
	}
	if n < len(line) {
		arg = trimSpace(line[n+1:])
	}
	if n > 4 {
		return 0, arg, true
	}
	for i := range 4 {
		v <<= 8
		if i < n {
			v |= verb(line[i] &^ 0x20)
		}
	}
	return v, arg, true
}

// parseReply parses "ddd text", "ddd-text" or "ddd" and returns the code, the
// separator (' ' for a final line, '-' for the first of several) and text.
func parseReply(line []byte) (code int, sep byte, text []byte, ok bool) {
	if len(line) < 3 || line[0] < '1' || line[0] > '6' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, 0, nil, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, ' ', nil, true
	}
	if line[3] != ' ' && line[3] != '-' {
		return 0, 0, nil, false
	}
	return code, line[3], line[4:], true
}

// parseNum parses a decimal number of at most 5 digits at the start of b.
func parseNum(b []byte) (n, used int) {
	for used < len(b) && used < 6 && isDigit(b[used]) {
		n = n*10 + int(b[used]-'0')
		used++
	}
	if used == 0 || used > 5 {
		return 0, 0
	}
	return n, used
}

// parseHostPort parses "h1,h2,h3,h4,p1,p2" (RFC 959 host-port) at the start
// of b, allowing spaces after commas, and returns the bytes used.
func parseHostPort(b []byte) (netip.AddrPort, int, bool) {
	var v [6]byte
	pos := 0
	for i := range 6 {
		if i > 0 {
			if pos >= len(b) || b[pos] != ',' {
				return netip.AddrPort{}, 0, false
			}
			pos++
			for pos < len(b) && b[pos] == ' ' {
				pos++
			}
		}
		n, used := parseNum(b[pos:])
		if used == 0 || used > 3 || n > 255 {
			return netip.AddrPort{}, 0, false
		}
		v[i] = byte(n)
		pos += used
	}
	port := uint16(v[4])<<8 | uint16(v[5])
	if port == 0 {
		return netip.AddrPort{}, 0, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v[:4])), port), pos, true
}

// ParsePASV finds the address in a 227 reply's text. Servers differ in the
// wording and in whether they put the numbers in parentheses, so the first
// run of six comma-separated numbers counts.
func ParsePASV(text []byte) (netip.AddrPort, bool) {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || i > 0 && isDigit(text[i-1]) {
			continue
		}
		if ap, _, ok := parseHostPort(text[i:]); ok {
			return ap, true
		}
	}
	return netip.AddrPort{}, false
}

// ParsePORT parses a PORT command's argument.
func ParsePORT(arg []byte) (netip.AddrPort, bool) {
	ap, n, ok := parseHostPort(arg)
	if !ok || len(trimSpace(arg[n:])) != 0 {
		return netip.AddrPort{}, false
	}
	return ap, true
}

// ParseEPSV finds the port in a 229 reply's text: "(|||port|)", where '|'
// may be any printable delimiter (RFC 2428).
func ParseEPSV(text []byte) (uint16, bool) {
	i := bytes.IndexByte(text, '(')
	if i < 0 || len(text) < i+6 {
		return 0, false
	}
	b := text[i+1:]
	d := b[0]
	if d < 33 || d > 126 || isDigit(d) || b[1] != d || b[2] != d {
		return 0, false
	}
	n, used := parseNum(b[3:])
	if used == 0 || n == 0 || n > 65535 || 3+used >= len(b) || b[3+used] != d {
		return 0, false
	}
	return uint16(n), true
}

// ParseEPRT parses an EPRT argument: <d>af<d>addr<d>port<d> with af 1 for
// IPv4 and 2 for IPv6 (RFC 2428).
func ParseEPRT(arg []byte) (netip.AddrPort, bool) {
	if len(arg) < 8 {
		return netip.AddrPort{}, false
	}
	d := arg[0]
	if d < 33 || d > 126 || isDigit(d) || isLetter(d) || d == '.' || d == ':' {
		return netip.AddrPort{}, false
	}
	var f [3][]byte
	rest := arg[1:]
	for i := range 3 {
		j := bytes.IndexByte(rest, d)
		if j < 0 {
			return netip.AddrPort{}, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if len(trimSpace(rest)) != 0 || len(f[0]) != 1 || len(f[1]) > 45 {
		return netip.AddrPort{}, false
	}
	port, used := parseNum(f[2])
	if used == 0 || used != len(f[2]) || port == 0 || port > 65535 {
		return netip.AddrPort{}, false
	}
	addr, err := netip.ParseAddr(string(f[1]))
	if err != nil || addr.Zone() != "" {
		return netip.AddrPort{}, false
	}
	switch f[0][0] {
	case '1':
		if !addr.Is4() {
			return netip.AddrPort{}, false
		}
	case '2':
		if !addr.Is6() || addr.Is4In6() {
			return netip.AddrPort{}, false
		}
	default:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// containsFold reports whether b contains upper (an upper-case ASCII word),
// ignoring case.
func containsFold(b []byte, upper string) bool {
	n := len(upper)
outer:
	for i := 0; i+n <= len(b); i++ {
		for j := range n {
			if b[i+j]&^0x20 != upper[j] && b[i+j] != upper[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// printable reports whether a control-channel line is text: no control
// bytes other than tab (UTF-8 and Latin-1 bytes are allowed).
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}
