// Package rsync identifies the rsync daemon protocol (rsyncd, TCP 873) from
// its "@RSYNCD: <version>" greetings and records the module, the user of an
// authenticated module, and whether the client sends or receives files.
//
// The text handshake is described in rsync's clientserver.c and the
// rsyncd.conf(5) manual: both sides greet with "@RSYNCD: <proto>[.<sub>]
// [digests]\n"; the client names a module (an empty line or "#list" asks
// for the module list, which ends with "@RSYNCD: EXIT"); the server may
// answer "@RSYNCD: AUTHREQD <challenge>", which the client answers with
// "<user> <response>"; then "@RSYNCD: OK" or "@ERROR: <text>". After OK the
// client sends the server's command-line arguments, separated by NUL
// (protocol 30 and later) or newline, ending with an empty argument. The
// file list and data that follow are binary and are not parsed.
package rsync

import (
	"bytes"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	magic = "@RSYNCD: "
	// maxLine bounds one kept line; longer lines are cut.
	maxLine = 256
	// maxLines bounds the lines read per direction (MOTD, module list).
	maxLines = 128
	// maxScan bounds the bytes scanned for one line's end.
	maxScan = 4096
	// maxModules bounds the module list kept from a "#list" answer.
	maxModules = 16
	// maxArgs bounds the server arguments read after OK.
	maxArgs = 64
)

var ports = []uint16{873}

type parser struct{}

// New returns the rsync daemon protocol parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string                       { return "rsync" }
func (parser) Transports() l7.Transport           { return l7.TCP }
func (parser) Ports() []uint16                    { return ports }
func (parser) NewSession(*l7.FlowInfo) l7.Session { return &session{} }

// Probe accepts "@RSYNCD: " followed by a digit, from either side.
func (parser) Probe(_ *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	for i := 0; i < len(magic); i++ {
		if i == len(data) {
			return l7.VerdictMaybe
		}
		if data[i] != magic[i] {
			return l7.VerdictNo
		}
	}
	if len(data) == len(magic) {
		return l7.VerdictMaybe
	}
	if c := data[len(magic)]; c >= '0' && c <= '9' {
		return l7.VerdictYes
	}
	return l7.VerdictNo
}

// Client states.
const (
	cGreeting = iota // waiting for "@RSYNCD: <ver>"
	cModule          // next line is the module name
	cPost            // "<user> <response>" after AUTHREQD, or the first argument
	cArgs            // server arguments, NUL- or newline-separated
	cDone
)

// Server states.
const (
	sGreeting = iota
	sAnswer   // MOTD lines, module list, AUTHREQD, then OK / @ERROR / EXIT
	sDone
)

type side struct {
	state int
	line  [maxLine]byte
	n     int // bytes kept in line
	seen  int // bytes of the current line scanned
	lines int
}

type session struct {
	sides [2]side

	clientVer, serverVer   [16]byte
	clientVerN, serverVerN int
	module                 [maxLine]byte
	moduleN                int
	list                   bool // the client asked for the module list
	user                   string
	authReq                bool
	result                 string // "ok", "error" or "exit"
	errText                [maxLine]byte
	errN                   int
	modules                []string // tab-separated server lines: module list entries
	modulesDropped         int
	args                   int
	afterDot               bool // saw the "." argument separating options from paths
	sender                 bool // "--sender": the server sends, the client downloads
	path                   [maxLine]byte
	pathN                  int
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	sd := &s.sides[dir&1]
	for len(data) > 0 && !s.sideDone(dir) {
		// Arguments are NUL-separated since protocol 30; accepting NUL
		// anywhere after the module costs nothing.
		nul := dir == l7.FromClient && sd.state >= cPost
		i := 0
		for i < len(data) && data[i] != '\n' && !(nul && data[i] == 0) {
			i++
		}
		part := data[:i]
		n := copy(sd.line[sd.n:], part)
		sd.n += n
		sd.seen += len(part)
		if i == len(data) {
			if sd.seen > maxScan {
				ctx.Malformed("rsync")
				return false
			}
			return true
		}
		data = data[i+1:]
		line := sd.line[:sd.n]
		sd.n, sd.seen = 0, 0
		sd.lines++
		if sd.lines > maxLines {
			return false
		}
		if dir == l7.FromClient {
			s.clientLine(sd, line)
		} else {
			s.serverLine(sd, line)
		}
	}
	return !(s.sideDone(l7.FromClient) && s.sideDone(l7.FromServer))
}

func (s *session) sideDone(dir l7.Dir) bool {
	if dir == l7.FromClient {
		return s.sides[0].state == cDone
	}
	return s.sides[1].state == sDone
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// version copies the first word after the magic into dst.
func version(line []byte, dst []byte) int {
	v := line[len(magic):]
	if i := bytes.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	return copy(dst, v)
}

func (s *session) clientLine(sd *side, line []byte) {
	switch sd.state {
	case cGreeting:
		line = trimCR(line)
		if !bytes.HasPrefix(line, []byte(magic)) {
			sd.state = cDone // not the daemon protocol after all
			return
		}
		s.clientVerN = version(line, s.clientVer[:])
		sd.state = cModule
	case cModule:
		line = trimCR(line)
		if len(line) == 0 || string(line) == "#list" {
			s.list = true
			sd.state = cDone
			return
		}
		s.moduleN = copy(s.module[:], line)
		sd.state = cPost
		if s.sideDone(l7.FromServer) && s.result != "ok" && s.result != "" {
			sd.state = cDone
		}
	case cPost:
		line = trimCR(line)
		switch {
		case len(line) > 0 && line[0] == '-':
			sd.state = cArgs
			s.arg(sd, line)
		case s.user == "" && bytes.IndexByte(line, ' ') > 0:
			// The answer to AUTHREQD: "<user> <response>".
			s.user = string(line[:bytes.IndexByte(line, ' ')])
		default:
			sd.state = cDone
		}
	case cArgs:
		s.arg(sd, trimCR(line))
	}
}

func (s *session) arg(sd *side, a []byte) {
	s.args++
	switch {
	case len(a) == 0:
		sd.state = cDone // an empty argument ends the list
	case s.args > maxArgs:
		sd.state = cDone
	case string(a) == "--sender":
		s.sender = true
	case string(a) == ".":
		s.afterDot = true
	case s.afterDot && s.pathN == 0:
		s.pathN = copy(s.path[:], a)
	}
}

func (s *session) serverLine(sd *side, line []byte) {
	line = trimCR(line)
	switch sd.state {
	case sGreeting:
		if !bytes.HasPrefix(line, []byte(magic)) {
			sd.state = sDone
			return
		}
		s.serverVerN = version(line, s.serverVer[:])
		sd.state = sAnswer
	case sAnswer:
		switch {
		case bytes.HasPrefix(line, []byte("@RSYNCD: OK")):
			s.result = "ok"
		case bytes.HasPrefix(line, []byte("@RSYNCD: EXIT")):
			s.result = "exit"
		case bytes.HasPrefix(line, []byte("@ERROR")):
			s.result = "error"
			msg := bytes.TrimLeft(line[len("@ERROR"):], ": ")
			s.errN = copy(s.errText[:], msg)
		case bytes.HasPrefix(line, []byte("@RSYNCD: AUTHREQD")):
			s.authReq = true
			return
		default:
			// A MOTD line or a module list entry; rsyncd writes the
			// latter as "%-15s\t%s\n", so only tab lines are kept.
			if i := bytes.IndexByte(line, '\t'); i > 0 {
				name := bytes.TrimRight(line[:i], " ")
				if len(s.modules) < maxModules {
					s.modules = append(s.modules, string(name))
				} else {
					s.modulesDropped++
				}
			}
			return
		}
		sd.state = sDone
		if cl := &s.sides[l7.FromClient]; s.result != "ok" && cl.state == cPost {
			cl.state = cDone // refused: the client sends no arguments
		}
	}
}

// Gap ends the session: the handshake is short and has no resync point.
func (s *session) Gap(*l7.Context, l7.Dir, int) bool { return false }

func (s *session) Fields(d *ecs.Doc) {
	// The protocol in use is the lower of the two versions; report the
	// server's when both are known, as it is the one that accepted.
	switch {
	case s.serverVerN > 0 && s.clientVerN > 0 && lessVersion(s.clientVer[:s.clientVerN], s.serverVer[:s.serverVerN]):
		d.Bytes("outflow.rsync.version", s.clientVer[:s.clientVerN])
	case s.serverVerN > 0:
		d.Bytes("outflow.rsync.version", s.serverVer[:s.serverVerN])
	default:
		d.Bytes("outflow.rsync.version", s.clientVer[:s.clientVerN])
	}
	d.Bytes("outflow.rsync.module", s.module[:s.moduleN])
	if s.list {
		d.Bool("outflow.rsync.list", true)
		d.Strs("outflow.rsync.modules", s.modules)
		if s.modulesDropped > 0 {
			d.Int("outflow.rsync.modules_dropped", int64(s.modulesDropped))
		}
	}
	d.Str("outflow.rsync.result", s.result)
	d.Bytes("outflow.rsync.error", s.errText[:s.errN])
	if s.authReq {
		d.Bool("outflow.rsync.auth", true)
	}
	d.Str("user.name", s.user)
	if s.args > 0 {
		if s.sender {
			d.Str("outflow.rsync.direction", l7.TransferDownload.String())
		} else {
			d.Str("outflow.rsync.direction", l7.TransferUpload.String())
		}
		d.Bytes("outflow.rsync.path", s.path[:s.pathN])
	}
}

// lessVersion compares dotted decimal versions such as "30.0" and "31.0".
func lessVersion(a, b []byte) bool {
	for len(a) > 0 || len(b) > 0 {
		var x, y int
		a, x = number(a)
		b, y = number(b)
		if x != y {
			return x < y
		}
	}
	return false
}

func number(b []byte) ([]byte, int) {
	n := 0
	for len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		if n < 1<<20 {
			n = n*10 + int(b[0]-'0')
		}
		b = b[1:]
	}
	if len(b) > 0 {
		b = b[1:] // the dot, or any other separator
	}
	return b, n
}

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "rsync"
	sum.User = s.user
}
