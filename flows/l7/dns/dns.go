// Package dns identifies DNS over UDP (one message per datagram) and TCP
// (messages framed by a 2-byte length), including mDNS and LLMNR which
// share the format, and parses every message of a flow.
//
// A DNS flow carries many queries. Its ECS fields describe the first
// message (dns.id, dns.question.*, dns.op_code) and the first response
// (dns.response_code, dns.header_flags, dns.answers); dns.resolved_ip and
// outflow.dns.names collect distinct values over the flow (bounded), and
// outflow.dns.* count queries and responses and keep the longest question
// name and label, which is what DNS tunnelling detection needs.
//
// Every A and AAAA answer (at most 16 a response) whose owner is the
// question name or on its CNAME chain is passed to Context.LearnName under
// the question name.
//
// Names are decoded with compression pointers that must point strictly
// before every earlier jump target (so no loops), at most 128 labels, 255
// bytes and 32 jumps.
package dns

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	headerLen    = 12
	maxLabels    = 128
	maxWireName  = 255
	maxJumps     = 32
	maxQuestions = 4   // questions parsed per message
	maxRecords   = 128 // resource records parsed per message
	maxAnswers   = 16  // answers kept in dns.answers
	maxAnswerLen = 4 << 10
	maxNames     = 16 // distinct question names kept
	maxIPs       = 16 // distinct resolved addresses kept
	maxChain     = 8  // CNAME chain names followed per response
	maxTCPMsg    = 8 << 10
	maxTXT       = 255 // bytes of TXT data shown
	presMax      = 4 * maxWireName
)

type parser struct{}

// New returns the DNS parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string             { return "dns" }
func (parser) Transports() l7.Transport { return l7.TCP | l7.UDP }
func (parser) Ports() []uint16          { return []uint16{53, 5353, 5355} }

func isTCP(f *l7.FlowInfo) bool { return f != nil && f.Transport == l7.TCP }

// Probe accepts a message whose header is sane (1 to 4 questions, a valid
// opcode and rcode, the reserved Z bit clear, record counts that fit the
// datagram; a query with no answers) and whose questions parse with a
// printable name and a known class. Over TCP the message follows its
// 2-byte length and may still be arriving.
func (parser) Probe(f *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	if !isTCP(f) {
		return probeMsg(data, true)
	}
	if len(data) < 2 {
		return l7.VerdictMaybe
	}
	n := int(binary.BigEndian.Uint16(data))
	if n < headerLen+5 {
		return l7.VerdictNo
	}
	msg := data[2:]
	complete := len(msg) >= n
	if complete {
		msg = msg[:n]
	}
	return probeMsg(msg, complete)
}

func probeMsg(m []byte, complete bool) l7.Verdict {
	short := l7.VerdictNo
	if !complete {
		short = l7.VerdictMaybe
	}
	if len(m) < headerLen {
		return short
	}
	flags := binary.BigEndian.Uint16(m[2:])
	qr, opcode, rcode := flags>>15, flags>>11&0xf, flags&0xf
	if flags&0x40 != 0 || rcode > 10 {
		return l7.VerdictNo
	}
	switch opcode {
	case 0, 1, 2, 4, 5: // QUERY, IQUERY, STATUS, NOTIFY, UPDATE
	default:
		return l7.VerdictNo
	}
	qd, an := binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:])
	ns, ar := binary.BigEndian.Uint16(m[8:]), binary.BigEndian.Uint16(m[10:])
	if qd == 0 || qd > maxQuestions {
		return l7.VerdictNo
	}
	if qr == 0 && opcode == 0 && (rcode != 0 || an != 0 || ns != 0 || ar > 2) {
		return l7.VerdictNo
	}
	// Each record needs at least 11 bytes; each question at least 5.
	if complete && headerLen+5*int(qd)+11*(int(an)+int(ns)+int(ar)) > len(m) {
		return l7.VerdictNo
	}
	off := headerLen
	for q := 0; q < int(qd); q++ {
		var v l7.Verdict
		if off, v = probeQuestion(m, off, q > 0); v != l7.VerdictYes {
			if v == l7.VerdictMaybe {
				return short
			}
			return v
		}
	}
	if complete && an+ns+ar == 0 && off != len(m) {
		return l7.VerdictNo
	}
	return l7.VerdictYes
}

// probeQuestion checks the question at off: a printable name (compressed
// only after the first question), a type and a known class. It returns the
// offset after it, or VerdictMaybe when m ends first.
func probeQuestion(m []byte, off int, ptrOK bool) (int, l7.Verdict) {
	start, total := off, 0
	for {
		if off >= len(m) {
			return 0, l7.VerdictMaybe
		}
		l := int(m[off])
		off++
		if l == 0 {
			break
		}
		if l&0xc0 == 0xc0 && ptrOK {
			if off >= len(m) {
				return 0, l7.VerdictMaybe
			}
			if ptr := int(l&0x3f)<<8 | int(m[off]); ptr < headerLen || ptr >= start {
				return 0, l7.VerdictNo
			}
			off++
			break
		}
		if l > 63 {
			return 0, l7.VerdictNo
		}
		total += l + 1
		if total > maxWireName {
			return 0, l7.VerdictNo
		}
		for i := 0; i < l; i++ {
			if off+i >= len(m) {
				return 0, l7.VerdictMaybe
			}
			if c := m[off+i]; c < 0x21 || c > 0x7e {
				return 0, l7.VerdictNo
			}
		}
		off += l
	}
	if off+4 > len(m) {
		return 0, l7.VerdictMaybe
	}
	qtype, qclass := binary.BigEndian.Uint16(m[off:]), binary.BigEndian.Uint16(m[off+2:])&0x7fff
	if qtype == 0 {
		return 0, l7.VerdictNo
	}
	switch qclass { // the top bit is mDNS's unicast-response flag
	case 1, 3, 4, 254, 255:
		return off + 4, l7.VerdictYes
	}
	return 0, l7.VerdictNo
}

// framer reassembles one direction of DNS over TCP.
type framer struct {
	lenBuf [2]byte
	lenN   int
	need   int    // message bytes still to come
	msgLen int    // length of the current message
	buf    []byte // its first maxTCPMsg bytes
	lost   bool   // part of the current message fell in a gap
	dead   bool
}

type session struct {
	tcp bool
	dir [2]framer

	// First message, and first response.
	have, haveResp bool
	id             uint16
	opcode         uint8
	qname          string
	qtype, qclass  uint16
	flags          uint16 // header flags of the first response, else first message
	do             bool   // EDNS DO bit of that message
	rcode          uint16 // first response, extended by EDNS
	answers        []byte // JSON array of the first response's answers

	queries, responses, malformed uint64
	// Distinct names and addresses (at most maxNames and maxIPs): slices
	// whose memory a reset session keeps. Most flows have one of each, and
	// arrays of sixteen made every open DNS flow a kilobyte for the
	// garbage collector to scan.
	names             []string
	namesDropped      int
	ips               []netip.Addr
	maxName, maxLabel int

	learnName string // the name last passed to Context.LearnName
}

type learned struct {
	addr netip.Addr
	ttl  uint32
}

func (parser) NewSession(f *l7.FlowInfo) l7.Session {
	return &session{tcp: isTCP(f)}
}

var _ l7.Resetter = (*session)(nil)

// Reset implements l7.Resetter, keeping the answer and TCP buffers.
func (s *session) Reset(f *l7.FlowInfo) {
	clear(s.names) // drop the strings; keep the memory
	answers, b0, b1, names, ips := s.answers[:0], s.dir[0].buf[:0], s.dir[1].buf[:0], s.names[:0], s.ips[:0]
	*s = session{tcp: isTCP(f), answers: answers, names: names, ips: ips}
	s.dir[0].buf, s.dir[1].buf = b0, b1
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	if !s.tcp {
		s.message(ctx, data, false)
		return true
	}
	fr := &s.dir[dir&1]
	for len(data) > 0 && !fr.dead {
		if fr.need == 0 {
			n := copy(fr.lenBuf[fr.lenN:], data)
			fr.lenN += n
			data = data[n:]
			if fr.lenN < 2 {
				break
			}
			fr.lenN = 0
			fr.msgLen = int(binary.BigEndian.Uint16(fr.lenBuf[:]))
			fr.need = fr.msgLen
			fr.buf = fr.buf[:0]
			fr.lost = false
			if fr.msgLen < headerLen {
				ctx.Malformed("dns")
				fr.dead = true
				break
			}
			continue
		}
		n := min(fr.need, len(data))
		chunk := data[:n]
		data = data[n:]
		fr.need -= n
		if len(fr.buf) == 0 && fr.need == 0 && n == fr.msgLen && n <= maxTCPMsg {
			s.message(ctx, chunk, false) // whole message in one piece: no copy
			continue
		}
		if fr.lost {
			continue
		}
		if room := maxTCPMsg - len(fr.buf); room > 0 {
			fr.buf = append(fr.buf, chunk[:min(room, len(chunk))]...)
		}
		if fr.need == 0 {
			s.message(ctx, fr.buf, fr.msgLen > len(fr.buf))
			fr.buf = fr.buf[:0]
		}
	}
	return !(s.dir[0].dead && s.dir[1].dead)
}

// Gap: UDP has none; over TCP a gap inside a message loses only that
// message, anywhere else the framing.
func (s *session) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	if !s.tcp || n <= 0 {
		return true
	}
	fr := &s.dir[dir&1]
	if fr.need >= n && fr.lenN == 0 && !fr.dead {
		fr.need -= n
		fr.lost = true // skip the rest of the message
		fr.buf = fr.buf[:0]
		return true
	}
	fr.dead = true
	return !(s.dir[0].dead && s.dir[1].dead)
}

// nameBuf holds one decoded name in presentation form.
type nameBuf struct {
	b [presMax]byte
	n int
}

func (nb *nameBuf) bytes() []byte { return nb.b[:nb.n] }

// readName decodes the name at off into nb and returns the offset after it
// (after the first pointer, if any), its label count and longest label.
func readName(m []byte, off int, nb *nameBuf) (next, labels, maxLabel int, ok bool) {
	nb.n = 0
	next = -1
	limit := off // pointers must point before this
	wire, jumps := 0, 0
	for {
		if off >= len(m) {
			return 0, 0, 0, false
		}
		l := int(m[off])
		switch {
		case l == 0:
			if next < 0 {
				next = off + 1
			}
			if labels == 0 {
				nb.b[0], nb.n = '.', 1
			}
			return next, labels, maxLabel, true
		case l&0xc0 == 0xc0:
			if off+1 >= len(m) {
				return 0, 0, 0, false
			}
			ptr := int(binary.BigEndian.Uint16(m[off:]) & 0x3fff)
			if ptr >= limit || jumps >= maxJumps {
				return 0, 0, 0, false
			}
			jumps++
			if next < 0 {
				next = off + 2
			}
			off, limit = ptr, ptr
			continue
		case l > 63:
			return 0, 0, 0, false // extended label types are obsolete
		}
		wire += l + 1
		labels++
		if wire+1 > maxWireName || labels > maxLabels || off+1+l > len(m) {
			return 0, 0, 0, false
		}
		maxLabel = max(maxLabel, l)
		if labels > 1 {
			nb.b[nb.n] = '.'
			nb.n++
		}
		label := m[off+1 : off+1+l]
		if plainLabel(label) {
			nb.n += copy(nb.b[nb.n:], label) // the common case: nothing to escape
		} else {
			for _, c := range label {
				nb.appendByte(c)
			}
		}
		off += 1 + l
	}
}

// appendByte writes c in presentation form (RFC 4343): '.' and '\' are
// escaped, bytes outside printable ASCII become \DDD.
// plain marks the bytes a name shows as they are (see appendByte).
var plain = func() (t [256]bool) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] = c != '.' && c != '\\'
	}
	return t
}()

func plainLabel(b []byte) bool {
	for _, c := range b {
		if !plain[c] {
			return false
		}
	}
	return true
}

func (nb *nameBuf) appendByte(c byte) {
	switch {
	case c == '.' || c == '\\':
		nb.b[nb.n], nb.b[nb.n+1] = '\\', c
		nb.n += 2
	case c < 0x21 || c > 0x7e:
		nb.b[nb.n] = '\\'
		nb.b[nb.n+1] = '0' + c/100
		nb.b[nb.n+2] = '0' + c/10%10
		nb.b[nb.n+3] = '0' + c%10
		nb.n += 4
	default:
		nb.b[nb.n] = c
		nb.n++
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFoldString(a string, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range b {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// scratch is per-message working space. At 11 KB it is pooled rather than
// declared per message, which would zero it for every datagram; nothing in
// it is read before it is written (names set n first, chain up to nch).
type scratch struct {
	q     nameBuf
	owner nameBuf
	data  nameBuf
	chain [maxChain]nameBuf
	nch   int
	// Addresses of the response to pass to Context.LearnName.
	learn  [maxIPs]learned
	nLearn int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (sc *scratch) inChain(name []byte) bool {
	for i := 0; i < sc.nch; i++ {
		if equalFoldASCII(sc.chain[i].bytes(), name) {
			return true
		}
	}
	return false
}

// message parses one DNS message. truncated says the message was longer
// than what is passed (TCP messages beyond maxTCPMsg).
func (s *session) message(ctx *l7.Context, m []byte, truncated bool) {
	if len(m) < headerLen {
		s.malformed++
		ctx.Malformed("dns")
		return
	}
	id := binary.BigEndian.Uint16(m)
	flags := binary.BigEndian.Uint16(m[2:])
	qd := int(binary.BigEndian.Uint16(m[4:]))
	counts := [3]int{int(binary.BigEndian.Uint16(m[6:])), int(binary.BigEndian.Uint16(m[8:])), int(binary.BigEndian.Uint16(m[10:]))}
	resp := flags&0x8000 != 0
	// Learning only (another worker's answer): parse for the names and
	// addresses, and build none of the record.
	lo := ctx != nil && ctx.LearnOnly
	if resp {
		s.responses++
	} else {
		s.queries++
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.nch, sc.nLearn = 0, 0
	off := headerLen
	haveQ := false
	var qtype, qclass uint16
	for i := 0; i < qd && i < maxQuestions; i++ {
		nb := &sc.q
		if haveQ {
			nb = &sc.owner
		}
		next, _, maxLabel, ok := readName(m, off, nb)
		if !ok || next+4 > len(m) {
			s.bad(ctx, truncated)
			return
		}
		if !haveQ {
			haveQ = true
			qtype, qclass = binary.BigEndian.Uint16(m[next:]), binary.BigEndian.Uint16(m[next+2:])
		}
		if !lo {
			s.noteName(nb.bytes(), maxLabel)
		}
		off = next + 4
	}
	first := !s.have && !lo
	if first {
		s.have = true
		s.id, s.opcode, s.flags = id, uint8(flags>>11&0xf), flags
		if haveQ {
			s.qname = s.nameString(sc.q.bytes())
			s.qtype, s.qclass = qtype, qclass&0x7fff
		}
	}
	if qd > maxQuestions {
		return // records follow questions not parsed
	}
	firstResp := resp && !s.haveResp && !lo
	if firstResp {
		s.haveResp = true
		s.flags, s.rcode, s.do = flags, flags&0xf, false
		s.answers = append(s.answers[:0], '[')
	}
	if haveQ {
		sc.chain[0] = sc.q
		sc.nch = 1
	}
	nAns := 0
	for sec, n := range counts {
		for i := 0; i < n; i++ {
			if nAns >= maxRecords {
				break
			}
			nAns++
			next, _, _, ok := readName(m, off, &sc.owner)
			if !ok || next+10 > len(m) {
				s.bad(ctx, truncated)
				s.closeAnswers(firstResp)
				return
			}
			typ := binary.BigEndian.Uint16(m[next:])
			class := binary.BigEndian.Uint16(m[next+2:])
			ttl := binary.BigEndian.Uint32(m[next+4:])
			rdl := int(binary.BigEndian.Uint16(m[next+8:]))
			rd := next + 10
			if rd+rdl > len(m) {
				s.bad(ctx, truncated)
				s.closeAnswers(firstResp)
				return
			}
			off = rd + rdl
			rdata := m[rd : rd+rdl]
			if sec == 2 && typ == 41 { // EDNS OPT: extended rcode and DO bit
				if firstResp || (first && !resp) {
					s.do = ttl&0x8000 != 0
				}
				if firstResp {
					s.rcode |= uint16(ttl>>24) << 4
				}
				continue
			}
			if sec != 0 || !resp {
				continue
			}
			var addr netip.Addr
			switch {
			case typ == 1 && rdl == 4:
				addr = netip.AddrFrom4([4]byte(rdata))
			case typ == 28 && rdl == 16:
				addr = netip.AddrFrom16([16]byte(rdata))
			case typ == 5 && sc.nch < maxChain && sc.inChain(sc.owner.bytes()):
				if _, _, _, ok := readName(m, rd, &sc.chain[sc.nch]); ok {
					sc.nch++
				}
			}
			if addr.IsValid() {
				if !lo {
					s.addIP(addr)
				}
				if haveQ && sc.inChain(sc.owner.bytes()) && sc.nLearn < len(sc.learn) {
					sc.learn[sc.nLearn] = learned{addr, ttl}
					sc.nLearn++
				}
			}
			if firstResp && i < maxAnswers {
				s.appendAnswer(m, sc, typ, class, ttl, rd, rdata, addr)
			}
		}
	}
	s.closeAnswers(firstResp)
	if sc.nLearn > 0 {
		s.learnName = s.nameString(sc.q.bytes())
		for _, l := range sc.learn[:sc.nLearn] {
			ctx.LearnName(l.addr, s.learnName, l.ttl)
		}
	}
}

func (s *session) bad(ctx *l7.Context, truncated bool) {
	if !truncated {
		s.malformed++
		ctx.Malformed("dns")
	}
}

func (s *session) closeAnswers(firstResp bool) {
	if !firstResp {
		return
	}
	if len(s.answers) == 1 {
		s.answers = s.answers[:0] // no answers: omit the field
		return
	}
	s.answers = append(s.answers, ']')
}

// appendAnswer adds one answer object to the dns.answers JSON array.
func (s *session) appendAnswer(m []byte, sc *scratch, typ, class uint16, ttl uint32, rd int, rdata []byte, addr netip.Addr) {
	if len(s.answers) > maxAnswerLen {
		return
	}
	b := s.answers
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, `{"name":`...)
	b = ecs.AppendString(b, string(sc.owner.bytes()))
	b = append(b, `,"type":`...)
	b = ecs.AppendString(b, typeName(typ))
	b = append(b, `,"class":`...)
	b = ecs.AppendString(b, className(class&0x7fff))
	b = append(b, `,"ttl":`...)
	b = strconv.AppendUint(b, uint64(ttl), 10)
	data := sc.data.b[:0]
	switch {
	case addr.IsValid():
		data = addr.AppendTo(data)
	case typ == 2 || typ == 5 || typ == 12 || typ == 39: // NS, CNAME, PTR, DNAME
		if _, _, _, ok := readName(m, rd, &sc.data); ok {
			data = sc.data.bytes()
		}
	case typ == 15 && len(rdata) > 2: // MX
		var nb nameBuf
		if _, _, _, ok := readName(m, rd+2, &nb); ok {
			data = strconv.AppendUint(data, uint64(binary.BigEndian.Uint16(rdata)), 10)
			data = append(data, ' ')
			data = append(data, nb.bytes()...)
		}
	case typ == 16: // TXT: the strings, concatenated and bounded
		for r := rdata; len(r) > 0 && len(data) < maxTXT; {
			l := int(r[0])
			if 1+l > len(r) {
				break
			}
			data = append(data, r[1:1+min(l, maxTXT-len(data))]...)
			r = r[1+l:]
		}
	}
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = ecs.AppendString(b, string(data))
	}
	s.answers = append(b, '}')
}

// nameString returns name as a string, reusing a kept one when equal.
func (s *session) nameString(name []byte) string {
	if string(name) == s.qname {
		return s.qname
	}
	if string(name) == s.learnName {
		return s.learnName
	}
	for _, n := range s.names {
		if string(name) == n {
			return n
		}
	}
	return string(name)
}

// noteName records a question name: its length, longest label, and the
// distinct names list.
func (s *session) noteName(name []byte, maxLabel int) {
	if n := len(name); n > s.maxName && !(n == 1 && name[0] == '.') {
		s.maxName = n
	}
	s.maxLabel = max(s.maxLabel, maxLabel)
	for _, n := range s.names {
		if equalFoldString(n, name) {
			return
		}
	}
	if len(s.names) >= maxNames {
		s.namesDropped++
		return
	}
	s.names = append(s.names, string(name))
}

func (s *session) addIP(a netip.Addr) {
	for _, x := range s.ips {
		if x == a {
			return
		}
	}
	if len(s.ips) < maxIPs {
		s.ips = append(s.ips, a)
	}
}

func (s *session) Fields(d *ecs.Doc) {
	if !s.have {
		d.Uint("outflow.dns.malformed", s.malformed)
		return
	}
	var id [5]byte
	d.Bytes("dns.id", strconv.AppendUint(id[:0], uint64(s.id), 10)) // a string in ECS
	d.Str("dns.op_code", opcodeName(s.opcode))
	if s.haveResp {
		d.Str("dns.type", "answer")
		d.Str("dns.response_code", rcodeName(s.rcode))
	} else {
		d.Str("dns.type", "query")
	}
	if s.qname != "" {
		d.Str("dns.question.name", s.qname)
		d.Str("dns.question.type", typeName(s.qtype))
		d.Str("dns.question.class", className(s.qclass))
	}
	var flags [7]string
	nf := 0
	for _, f := range [...]struct {
		bit  uint16
		name string
	}{{0x0400, "AA"}, {0x0200, "TC"}, {0x0100, "RD"}, {0x0080, "RA"}, {0x0020, "AD"}, {0x0010, "CD"}} {
		if s.flags&f.bit != 0 {
			flags[nf] = f.name
			nf++
		}
	}
	if s.do {
		flags[nf] = "DO"
		nf++
	}
	d.Strs("dns.header_flags", flags[:nf])
	d.Raw("dns.answers", s.answers)
	if len(s.ips) > 0 {
		d.Addrs("dns.resolved_ip", s.ips...)
	}
	d.Uint("outflow.dns.queries", s.queries)
	d.Uint("outflow.dns.responses", s.responses)
	d.Strs("outflow.dns.names", s.names)
	if s.namesDropped > 0 {
		d.Int("outflow.dns.names_dropped", int64(s.namesDropped))
	}
	d.Int("outflow.dns.max_name_length", int64(s.maxName))
	d.Int("outflow.dns.max_label_length", int64(s.maxLabel))
	if s.malformed > 0 {
		d.Uint("outflow.dns.malformed", s.malformed)
	}
}

var _ l7.Namer = (*session)(nil)

// Domain implements l7.Namer.
func (s *session) Domain() string { return s.qname }

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "dns"
	sum.Domain = s.qname
}

var typeNames = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
	17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 36: "KX",
	37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG",
	47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA",
	55: "HIP", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB",
	65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR",
	252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
}

// typeName is the type's mnemonic, or TYPEn (RFC 3597) for unknown types.
func typeName(t uint16) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func className(c uint16) string {
	switch c {
	case 1:
		return "IN"
	case 3:
		return "CH"
	case 4:
		return "HS"
	case 254:
		return "NONE"
	case 255:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

var rcodes = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}

func rcodeName(r uint16) string {
	switch {
	case int(r) < len(rcodes):
		return rcodes[r]
	case r == 16:
		return "BADVERS"
	}
	return "RCODE" + strconv.Itoa(int(r))
}

func opcodeName(o uint8) string {
	switch o {
	case 0:
		return "QUERY"
	case 1:
		return "IQUERY"
	case 2:
		return "STATUS"
	case 4:
		return "NOTIFY"
	case 5:
		return "UPDATE"
	case 6:
		return "DSO"
	}
	return "OPCODE" + strconv.Itoa(int(o))
}
