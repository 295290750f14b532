// Package ftp identifies FTP control connections (RFC 959, 2228, 2428) by
// content, follows their commands and replies, and announces the data
// connections that PASV, EPSV, PORT and EPRT set up so the engine labels
// them "ftp-data" and counts the file bytes they carry.
package ftp

import (
	"bytes"
	"net/netip"
	"strconv"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// Protocol names.
const (
	Name     = "ftp"
	DataName = "ftp-data"
)

// Bounds on what one control session keeps.
const (
	MaxLine        = 2048 // longest control line; longer is malformed
	MaxCommands    = 32   // commands kept for outflow.ftp.commands
	MaxReplyCodes  = 32   // distinct reply codes kept
	MaxArg         = 512  // bytes of a command argument kept
	MaxUser        = 256
	MaxDataChans   = 4096 // data channels one control session may announce
	maxProbeLines  = 8
	maxBannerLines = 4
)

// Parser recognises FTP control connections.
type Parser struct{}

// New returns the FTP parser.
func New() Parser { return Parser{} }

var ports = []uint16{21}

func (Parser) Name() string             { return Name }
func (Parser) Transports() l7.Transport { return l7.TCP }
func (Parser) Ports() []uint16          { return ports }

// Probe looks for a server reply greeting or a client command at the start
// of the stream. Port 21 only settles a greeting that says nothing more.
func (Parser) Probe(f *l7.FlowInfo, dir l7.Dir, data []byte) l7.Verdict {
	if dir == l7.FromServer {
		return probeServer(f, data)
	}
	return probeClient(f, data)
}

func (Parser) NewSession(f *l7.FlowInfo) l7.Session { return &control{flow: *f} }

// strongReply is a reply code FTP uses and SMTP, POP3 and NNTP do not
// (after the greeting).
func strongReply(code int) bool {
	switch code {
	case 125, 150, 213, 226, 227, 228, 229, 230, 250, 257, 331, 332, 350, 425, 426, 532:
		return true
	}
	return false
}

// greeting judges the text of a 220 greeting.
func greeting(text []byte) l7.Verdict {
	for _, w := range [...]string{"SMTP", "POSTFIX", "SENDMAIL", "EXIM", "NNTP", "LMTP"} {
		if containsFold(text, w) {
			return l7.VerdictNo
		}
	}
	for _, w := range [...]string{"FTP", "FILEZILLA", "SERV-U"} {
		if containsFold(text, w) {
			return l7.VerdictYes
		}
	}
	return l7.VerdictMaybe
}

func probeServer(f *l7.FlowInfo, data []byte) l7.Verdict {
	lines, multi := 0, 0
	greet := false
	for len(data) > 0 && lines < maxProbeLines {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if lines == 0 {
				// An unfinished first line must still look like a reply.
				p := data[:min(len(data), 4)]
				for j, c := range p {
					if j < 3 && !isDigit(c) || j == 3 && c != ' ' && c != '-' || j == 0 && (c < '1' || c > '6') {
						return l7.VerdictNo
					}
				}
			}
			if !printable(data) {
				return l7.VerdictNo
			}
			break
		}
		line := trimCR(data[:i])
		data = data[i+1:]
		lines++
		if !printable(line) {
			return l7.VerdictNo
		}
		code, sep, text, ok := parseReply(line)
		if multi != 0 {
			if ok && code == multi && sep == ' ' {
				multi = 0
			}
			if greet && lines <= maxBannerLines {
				if v := greeting(line); v != l7.VerdictMaybe {
					return v
				}
			}
			continue
		}
		if !ok {
			return l7.VerdictNo
		}
		if sep == '-' {
			multi = code
		}
		if lines == 1 {
			if code == 220 || code == 120 {
				greet = true
				if v := greeting(text); v != l7.VerdictMaybe {
					return v
				}
				if multi == 0 && f.Server.Port() == 21 {
					return l7.VerdictYes
				}
			} else if code == 200 || code == 201 {
				return l7.VerdictNo // NNTP greeting
			}
			continue
		}
		if strongReply(code) {
			return l7.VerdictYes
		}
	}
	if greet && multi == 0 && lines > 0 && f.Server.Port() == 21 {
		return l7.VerdictYes
	}
	return l7.VerdictMaybe
}

func probeClient(f *l7.FlowInfo, data []byte) l7.Verdict {
	lines := 0
	for len(data) > 0 && lines < maxProbeLines {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			// An unfinished line must still start like a command.
			p := trimTelnet(data)
			for j, c := range p[:min(len(p), 5)] {
				if !isLetter(c) && !(j >= 3 && c == ' ') {
					return l7.VerdictNo
				}
			}
			break
		}
		line := trimTelnet(trimCR(data[:i]))
		data = data[i+1:]
		lines++
		if !printable(line) {
			return l7.VerdictNo
		}
		v, arg, ok := splitCommand(line)
		if !ok || v == 0 {
			return l7.VerdictNo
		}
		c, known := commands[v]
		if !known || c.class == classForeign {
			return l7.VerdictNo
		}
		switch {
		case v == vUSER:
			if p := f.Server.Port(); p != 110 && p != 995 {
				return l7.VerdictYes
			}
		case v == vAUTH:
			if authTLS(arg) {
				return l7.VerdictYes
			}
		case c.class != classAmbiguous:
			return l7.VerdictYes
		}
	}
	return l7.VerdictMaybe
}

// authTLS reports whether an AUTH argument asks for TLS (RFC 4217), as
// opposed to an SMTP or POP3 SASL mechanism.
func authTLS(arg []byte) bool {
	switch {
	case len(arg) == 3 && containsFold(arg, "TLS"), len(arg) == 3 && containsFold(arg, "SSL"),
		len(arg) == 5 && (containsFold(arg, "TLS-C") || containsFold(arg, "TLS-P")):
		return true
	}
	return false
}

// lineBuf holds the unfinished line of one direction.
type lineBuf struct {
	buf     []byte
	discard bool // after a gap: drop bytes up to the next newline
}

// op is one transfer or file command.
type op struct {
	cmd  string
	name string
	dir  l7.TransferDir
	data *data // the data channel carrying it, if announced
}

// control is one FTP control connection.
type control struct {
	flow      l7.FlowInfo
	lines     [2]lineBuf
	user      string
	authSent  bool
	tls       bool
	multi     int // code of an unfinished multi-line reply
	commands  []string
	cmdCount  int
	cmdDrop   int
	codes     []uint16
	ops       []op
	opsDrop   int
	pending   *data // announced data channel not yet bound to a command
	chans     int
	up, down  uint64 // file bytes over all bound data channels
	malformed bool
	scratch   []byte
}

func (c *control) Feed(ctx *l7.Context, dir l7.Dir, b []byte) bool {
	dir &= 1
	lb := &c.lines[dir]
	if dir == l7.FromClient && c.authSent && len(lb.buf) == 0 && len(b) > 0 && b[0] == 0x16 {
		// A TLS handshake: the 234 reply was not seen (or came late).
		c.tls = true
		return false
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if lb.discard {
				return true
			}
			if len(lb.buf)+len(b) > MaxLine {
				return c.bad(ctx)
			}
			if lb.buf == nil {
				lb.buf = make([]byte, 0, 256)
			}
			lb.buf = append(lb.buf, b...)
			return true
		}
		piece := b[:i]
		b = b[i+1:]
		if lb.discard {
			lb.discard = false
			continue
		}
		line := piece
		if len(lb.buf) > 0 {
			if len(lb.buf)+len(piece) > MaxLine {
				return c.bad(ctx)
			}
			lb.buf = append(lb.buf, piece...)
			line = lb.buf
		} else if len(piece) > MaxLine {
			return c.bad(ctx)
		}
		var ok bool
		if dir == l7.FromClient {
			ok = c.command(ctx, trimCR(line))
		} else {
			ok = c.reply(ctx, trimCR(line))
		}
		lb.buf = lb.buf[:0]
		if !ok {
			return false
		}
	}
	return true
}

func (c *control) bad(ctx *l7.Context) bool {
	c.malformed = true
	ctx.Malformed(Name)
	return false
}

func (c *control) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	dir &= 1
	c.lines[dir].buf = c.lines[dir].buf[:0]
	c.lines[dir].discard = true
	if dir == l7.FromServer {
		c.multi = 0
	}
	return true
}

func clip(b []byte, n int) string { return string(b[:min(len(b), n)]) }

// command handles one client line.
func (c *control) command(ctx *l7.Context, line []byte) bool {
	v, arg, ok := splitCommand(trimTelnet(line))
	if !ok || v == 0 {
		return true
	}
	info, known := commands[v]
	if !known {
		return true
	}
	c.cmdCount++
	switch v {
	case vUSER:
		if len(arg) > 0 {
			c.user = clip(arg, MaxUser)
		}
	case vAUTH:
		if authTLS(arg) {
			c.authSent = true
		}
	case vPORT:
		if ap, ok := ParsePORT(arg); ok {
			c.expectActive(ctx, ap)
		}
	case vEPRT:
		if ap, ok := ParseEPRT(arg); ok {
			c.expectActive(ctx, ap)
		}
	}
	if recorded(v, info) {
		if len(c.commands) < MaxCommands {
			s := info.name
			if len(arg) > 0 {
				s += " " + clip(arg, MaxArg)
			}
			c.commands = append(c.commands, s)
		} else {
			c.cmdDrop++
		}
	}
	if info.xfer {
		c.transfer(info, arg)
	}
	return true
}

// transfer binds a transfer command to the announced data channel.
func (c *control) transfer(info cmdInfo, arg []byte) {
	ds := c.pending
	c.pending = nil
	name := clip(arg, MaxArg)
	if len(c.ops) < l7.MaxFileOps {
		c.ops = append(c.ops, op{cmd: info.name, name: name, dir: info.dir, data: ds})
	} else {
		c.opsDrop++
	}
	if ds != nil {
		ds.bind(info.name, name, info.dir)
	}
}

// reply handles one server line.
func (c *control) reply(ctx *l7.Context, line []byte) bool {
	code, sep, text, ok := parseReply(line)
	if c.multi != 0 {
		if ok && code == c.multi && sep == ' ' {
			c.multi = 0
		}
		return true
	}
	if !ok {
		return true
	}
	if sep == '-' {
		c.multi = code
	}
	c.addCode(code)
	switch code {
	case 227:
		if ap, ok := ParsePASV(text); ok {
			c.expectPassive(ctx, ap.Addr(), ap.Port())
		}
	case 229:
		if port, ok := ParseEPSV(text); ok {
			c.expectPassive(ctx, c.flow.Server.Addr(), port)
		}
	case 234:
		if c.authSent {
			c.tls = true
			return false // the rest is TLS
		}
	}
	return true
}

func (c *control) addCode(code int) {
	for _, x := range c.codes {
		if int(x) == code {
			return
		}
	}
	if len(c.codes) < MaxReplyCodes {
		c.codes = append(c.codes, uint16(code))
	}
}

// internal reports addresses a NAT would rewrite: an FTP peer announcing one
// of these while the control connection uses a public address is behind NAT,
// and clients then connect to the control connection's address instead.
func internal(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		return b[0] == 100 && b[1]&0xc0 == 64 // 100.64.0.0/10, carrier-grade NAT
	}
	return false
}

// announced picks the address a data connection will really use, given the
// one announced and the control connection's address of the same peer.
func announced(ann, ctl netip.Addr) netip.Addr {
	ctl = ctl.Unmap()
	if !ann.IsValid() || ann.Unmap().Is4() != ctl.Is4() || internal(ann) && !internal(ctl) {
		return ctl
	}
	return ann.Unmap()
}

func (c *control) expectPassive(ctx *l7.Context, addr netip.Addr, port uint16) {
	ds := c.newData(true)
	if ds == nil {
		return
	}
	ctx.Expect(l7.Expectation{
		Transport: l7.TCP,
		Listener:  netip.AddrPortFrom(announced(addr, c.flow.Server.Addr()), port),
		Peer:      netip.AddrPortFrom(c.flow.Client.Addr().Unmap(), 0),
		Protocol:  DataName,
		Session:   ds,
	})
}

func (c *control) expectActive(ctx *l7.Context, ap netip.AddrPort) {
	ds := c.newData(false)
	if ds == nil {
		return
	}
	ctx.Expect(l7.Expectation{
		Transport: l7.TCP,
		Listener:  netip.AddrPortFrom(announced(ap.Addr(), c.flow.Client.Addr()), ap.Port()),
		Peer:      netip.AddrPortFrom(c.flow.Server.Addr().Unmap(), 0), // usually port 20, not always
		Protocol:  DataName,
		Session:   ds,
		// PORT/EPRT: the FTP client listens and the server connects.
		ListenerIsClient: true,
	})
}

func (c *control) newData(passive bool) *data {
	if c.chans >= MaxDataChans {
		return nil
	}
	c.chans++
	ds := &data{ctrl: c, passive: passive}
	c.pending = ds
	return ds
}

func (c *control) Fields(d *ecs.Doc) {
	d.Str("user.name", c.user)
	d.Str("outflow.ftp.user", c.user)
	d.Strs("outflow.ftp.commands", c.commands)
	if c.cmdDrop > 0 {
		d.Int("outflow.ftp.commands_dropped", int64(c.cmdDrop))
	}
	d.Int("outflow.ftp.command_count", int64(c.cmdCount))
	if len(c.codes) > 0 {
		b := append(c.scratch[:0], '[')
		for i, x := range c.codes {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		c.scratch = append(b, ']')
		d.Raw("outflow.ftp.reply_codes", c.scratch)
	}
	d.Bool("outflow.ftp.tls", c.tls)
	if c.chans > 0 {
		d.Int("outflow.ftp.data_channels", int64(c.chans))
	}
	if c.up > 0 {
		d.Uint("outflow.ftp.uploaded_bytes", c.up)
	}
	if c.down > 0 {
		d.Uint("outflow.ftp.downloaded_bytes", c.down)
	}
	if c.malformed {
		d.Bool("outflow.ftp.malformed", true)
	}
}

// Summary counts the file bytes of the data channels this control
// connection set up (they are also in each ftp-data flow's own summary).
func (c *control) Summary(s *l7.Summary) {
	s.Protocol = Name
	s.User = c.user
	s.Encrypted = c.tls
	for _, o := range c.ops {
		fo := l7.FileOp{Op: o.cmd, Name: o.name, Dir: o.dir}
		if o.data != nil {
			fo.Bytes = o.data.transferred()
		}
		s.Files = append(s.Files, fo)
	}
	s.FilesDropped = c.opsDrop
	s.Uploaded = c.up
	s.Downloaded = c.down
}

// data is one FTP data connection.
type data struct {
	ctrl    *control
	passive bool // the FTP client opened it (PASV/EPSV), else the server (PORT/EPRT)
	bound   bool
	cmd     string
	name    string
	dir     l7.TransferDir
	bytes   [2]uint64 // by direction of the data flow, gaps included
}

// fileDir is the data flow direction that carries the file: uploads come
// from the FTP client, which initiated the flow only in passive mode.
func (d *data) fileDir() l7.Dir {
	fromFTPClient := l7.FromServer
	if d.passive {
		fromFTPClient = l7.FromClient
	}
	if d.dir == l7.TransferUpload {
		return fromFTPClient
	}
	return fromFTPClient ^ 1
}

func (d *data) transferred() uint64 {
	if !d.bound || d.dir == l7.TransferUnknown {
		return d.bytes[0] + d.bytes[1]
	}
	return d.bytes[d.fileDir()]
}

func (d *data) bind(cmd, name string, dir l7.TransferDir) {
	d.bound, d.cmd, d.name, d.dir = true, cmd, name, dir
	d.credit(d.bytes[d.fileDir()])
}

func (d *data) credit(n uint64) {
	switch d.dir {
	case l7.TransferUpload:
		d.ctrl.up += n
	case l7.TransferDownload:
		d.ctrl.down += n
	}
}

func (d *data) add(dir l7.Dir, n int) {
	dir &= 1
	d.bytes[dir] += uint64(n)
	if d.bound && dir == d.fileDir() {
		d.credit(uint64(n))
	}
}

// Feed counts the bytes; the content is the file's, not the protocol's.
func (d *data) Feed(_ *l7.Context, dir l7.Dir, b []byte) bool {
	d.add(dir, len(b))
	return true
}

// Gap counts lost bytes as transferred: they moved, the capture missed them.
func (d *data) Gap(_ *l7.Context, dir l7.Dir, n int) bool {
	d.add(dir, n)
	return true
}

func (d *data) Fields(doc *ecs.Doc) {
	doc.Str("file.name", d.name)
	doc.Str("outflow.ftp_data.command", d.cmd)
	if d.bound && d.dir != l7.TransferUnknown {
		doc.Str("outflow.ftp_data.direction", d.dir.String())
	}
	doc.Uint("outflow.ftp_data.bytes", d.transferred())
	if d.passive {
		doc.Str("outflow.ftp_data.mode", "passive")
	} else {
		doc.Str("outflow.ftp_data.mode", "active")
	}
	doc.Str("user.name", d.ctrl.user)
}

func (d *data) Summary(s *l7.Summary) {
	s.Protocol = DataName
	s.User = d.ctrl.user
	if !d.bound {
		return
	}
	n := d.transferred()
	s.Files = append(s.Files, l7.FileOp{Op: d.cmd, Name: d.name, Dir: d.dir, Bytes: n})
	switch d.dir {
	case l7.TransferUpload:
		s.Uploaded = n
	case l7.TransferDownload:
		s.Downloaded = n
	}
}
