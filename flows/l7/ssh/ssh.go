// Package ssh identifies SSH from its identification strings (RFC 4253
// section 4.2) and records each side's software and HASSH fingerprint from
// the cleartext SSH_MSG_KEXINIT that follows (RFC 4253 section 7.1). After
// that everything is encrypted, so the session stops.
package ssh

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	// maxIdent is the RFC 4253 limit on the identification line, CR LF
	// included; longer lines are cut, not rejected.
	maxIdent = 255
	// maxPreLines bounds the lines a server may send before its
	// identification string (RFC 4253 section 4.2 allows some).
	maxPreLines = 16
	// maxLineScan bounds how far a single line is scanned for its end.
	maxLineScan = 4096
	// maxKexInit bounds the buffered KEXINIT packet. Real ones are 1-3 KiB;
	// RFC 4253 section 6.1 only promises 35000 bytes per packet.
	maxKexInit = 16 << 10
	msgKexInit = 20
)

var ports = []uint16{22}

type parser struct{}

// New returns the SSH parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string                       { return "ssh" }
func (parser) Transports() l7.Transport           { return l7.TCP }
func (parser) NewSession(*l7.FlowInfo) l7.Session { return &session{} }

// Ports is a tie-break hint for the engine.
func (parser) Ports() []uint16 { return ports }

// Probe accepts a stream that starts with "SSH-<digits>.<digits>-". A server
// may send other lines first, so its direction stays Maybe while it sends
// printable lines.
func (parser) Probe(_ *l7.FlowInfo, dir l7.Dir, data []byte) l7.Verdict {
	v := identPrefix(data)
	if v != l7.VerdictNo || dir == l7.FromClient {
		return v
	}
	// Server pre-banner lines: text lines, one of which starts with SSH-.
	for lines := 0; lines < maxPreLines && len(data) > 0; lines++ {
		i := 0
		for i < len(data) && data[i] != '\n' {
			c := data[i]
			if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\t' {
				return l7.VerdictNo
			}
			i++
		}
		if i == len(data) {
			if i > maxLineScan {
				return l7.VerdictNo
			}
			return l7.VerdictMaybe
		}
		data = data[i+1:]
		if v := identPrefix(data); v != l7.VerdictNo {
			return v
		}
	}
	return l7.VerdictNo
}

// identPrefix checks data against "SSH-" 1*DIGIT "." 1*DIGIT "-".
func identPrefix(data []byte) l7.Verdict {
	const magic = "SSH-"
	for i := 0; i < len(magic); i++ {
		if i == len(data) {
			return l7.VerdictMaybe
		}
		if data[i] != magic[i] {
			return l7.VerdictNo
		}
	}
	// 0: major digits, 1: minor digits
	state, digits := 0, 0
	for _, c := range data[len(magic):] {
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits > 4 {
				return l7.VerdictNo
			}
		case c == '.' && state == 0 && digits > 0:
			state, digits = 1, 0
		case c == '-' && state == 1 && digits > 0:
			return l7.VerdictYes
		default:
			return l7.VerdictNo
		}
	}
	return l7.VerdictMaybe
}

type phase uint8

const (
	phIdent phase = iota // reading lines up to the identification string
	phKex                // reading the first binary packet
	phDone
)

// side is one direction's state.
type side struct {
	phase    phase
	lines    int // lines before the identification string
	lineLen  int // bytes of the current line seen
	ident    [maxIdent]byte
	identLen int    // bytes kept in ident (the line without CR LF)
	proto    []byte // protocol version inside ident, e.g. "2.0"
	soft     []byte // software version and comments inside ident
	hdr      [5]byte
	nhdr     int
	kex      []byte // KEXINIT packet body after the 5-byte header
	kexWant  int
	skip     int // bytes of an oversize KEXINIT packet left to drop
	hassh    [32]byte
	hasHassh bool
}

type session struct {
	sides [2]side
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	sd := &s.sides[dir&1]
	for len(data) > 0 && sd.phase != phDone {
		switch sd.phase {
		case phIdent:
			data = s.line(ctx, sd, data)
		case phKex:
			data = s.kexInit(sd, dir, data)
		}
	}
	return !s.finished()
}

// finished reports whether there is nothing left to learn: both sides are
// done, or the client speaks SSH-1 (no KEXINIT to fingerprint).
func (s *session) finished() bool {
	c, v := &s.sides[l7.FromClient], &s.sides[l7.FromServer]
	if c.phase == phDone && len(c.proto) > 0 && c.proto[0] == '1' && string(c.proto) != "1.99" && v.phase != phIdent {
		return true // SSH-1 was chosen: the server sends no KEXINIT either
	}
	return c.phase == phDone && v.phase == phDone
}

// line consumes identification-phase bytes up to and including one newline.
func (s *session) line(ctx *l7.Context, sd *side, data []byte) []byte {
	i := 0
	for i < len(data) && data[i] != '\n' {
		i++
	}
	part := data[:i]
	if sd.lineLen < maxIdent {
		n := copy(sd.ident[sd.identLen:], part)
		sd.identLen += n
	}
	sd.lineLen += len(part)
	if i == len(data) {
		if sd.lineLen > maxLineScan {
			ctx.Malformed("ssh")
			sd.phase = phDone
			return nil
		}
		return nil
	}
	rest := data[i+1:]
	line := sd.ident[:sd.identLen]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	sd.lineLen = 0
	if identPrefix(line) != l7.VerdictYes {
		sd.identLen = 0
		sd.lines++
		if sd.lines > maxPreLines {
			ctx.Malformed("ssh")
			sd.phase = phDone
		}
		return rest
	}
	sd.identLen = len(line)
	// line is "SSH-" proto "-" software [SP comments]
	body := line[4:]
	for j, c := range body {
		if c == '-' {
			sd.proto = body[:j]
			sd.soft = body[j+1:]
			break
		}
	}
	sd.phase = phKex
	if len(sd.proto) > 0 && sd.proto[0] == '1' && string(sd.proto) != "1.99" {
		sd.phase = phDone // SSH-1 has no KEXINIT
	}
	return rest
}

// kexInit buffers the first binary packet (RFC 4253 section 6) and, if it
// is a KEXINIT, computes the side's HASSH.
func (s *session) kexInit(sd *side, dir l7.Dir, data []byte) []byte {
	if sd.skip > 0 {
		n := min(sd.skip, len(data))
		sd.skip -= n
		if sd.skip == 0 {
			sd.phase = phDone
		}
		return data[n:]
	}
	if sd.nhdr < len(sd.hdr) {
		n := copy(sd.hdr[sd.nhdr:], data)
		sd.nhdr += n
		data = data[n:]
		if sd.nhdr < len(sd.hdr) {
			return data
		}
		plen := binary.BigEndian.Uint32(sd.hdr[:4])
		if plen < 2 || plen > 256<<10 {
			sd.phase = phDone // not a binary packet we understand
			return data
		}
		if plen-1 > maxKexInit {
			sd.skip = int(plen - 1)
			return data
		}
		sd.kexWant = int(plen - 1)
		if sd.kex == nil {
			sd.kex = make([]byte, 0, min(sd.kexWant, 2048))
		}
	}
	n := min(sd.kexWant-len(sd.kex), len(data))
	sd.kex = append(sd.kex, data[:n]...)
	data = data[n:]
	if len(sd.kex) < sd.kexWant {
		return data
	}
	sd.phase = phDone
	pad := int(sd.hdr[4])
	payload := sd.kex
	if pad < len(payload) {
		payload = payload[:len(payload)-pad]
	}
	sd.hasHassh = hassh(payload, dir, &sd.hassh)
	sd.kex = nil // the packet is not needed any more
	return data
}

// hassh computes the HASSH (client) or HASSHServer fingerprint of a KEXINIT
// payload: MD5 of "kex;enc;mac;compression" for the sender's direction.
func hassh(p []byte, dir l7.Dir, out *[32]byte) bool {
	if len(p) < 17 || p[0] != msgKexInit {
		return false
	}
	p = p[17:] // message number and 16-byte cookie
	// name-lists in order: kex, hostkey, enc c2s, enc s2c, mac c2s,
	// mac s2c, comp c2s, comp s2c (RFC 4253 section 7.1).
	var lists [8][]byte
	for i := range lists {
		if len(p) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(p)
		if uint64(n) > uint64(len(p)-4) {
			return false
		}
		lists[i] = p[4 : 4+n]
		p = p[4+n:]
	}
	off := 0
	if dir == l7.FromServer {
		off = 1
	}
	h := md5.New()
	h.Write(lists[0])
	h.Write([]byte{';'})
	h.Write(lists[2+off])
	h.Write([]byte{';'})
	h.Write(lists[4+off])
	h.Write([]byte{';'})
	h.Write(lists[6+off])
	var sum [md5.Size]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
	return true
}

// Gap loses the rest of the handshake: nothing after it is worth resyncing.
func (s *session) Gap(*l7.Context, l7.Dir, int) bool { return false }

func (s *session) Fields(d *ecs.Doc) {
	c, v := &s.sides[l7.FromClient], &s.sides[l7.FromServer]
	d.Bytes("outflow.ssh.client", c.soft)
	d.Bytes("outflow.ssh.server", v.soft)
	// The client picks the version it speaks; the server's is a fallback.
	if len(c.proto) > 0 {
		d.Bytes("outflow.ssh.version", c.proto)
	} else {
		d.Bytes("outflow.ssh.version", v.proto)
	}
	if c.hasHassh {
		d.Bytes("outflow.ssh.hassh", c.hassh[:])
	}
	if v.hasHassh {
		d.Bytes("outflow.ssh.hassh_server", v.hassh[:])
	}
}

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "ssh"
	sum.Encrypted = true
}
