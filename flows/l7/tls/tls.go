// Package tls identifies TLS (and DTLS on UDP) from the record layer and
// reads the ClientHello and ServerHello: SNI, ALPN, versions, cipher
// suites and the JA3, JA3S and JA4 fingerprints. It stops once both hellos
// are seen: everything after them is encrypted or irrelevant.
//
// Hellos may span records and TCP segments; each direction gathers at most
// 16 KiB of one handshake message.
//
// Fields: tls.client.server_name, tls.client.ja3, tls.server.ja3s,
// tls.version, tls.version_protocol, tls.cipher, tls.next_protocol from
// ECS; tls.client.ja4 is not in ECS but follows its naming. The JA3 and JA3S
// strings and the offered ALPN list go under outflow.tls.*.
package tls

import (
	"encoding/binary"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	maxHello      = 16 << 10     // handshake message bytes gathered per direction
	maxRecord     = 16384 + 2048 // TLSCiphertext limit (RFC 5246 6.2.3)
	maxStreamScan = 64 << 10     // bytes a direction may take to show its hello
	maxHSLen      = 1 << 17      // plausible hello length for Probe
	recHdrLen     = 5            // type, version, length
	dtlsHdrLen    = 13           // type, version, epoch, sequence, length
	dtlsHSHdrLen  = 12           // type, length, message_seq, fragment offset and length
	hsClientHello = 1
	hsServerHello = 2
	hsHelloVerify = 3
	ctHandshake   = 22
)

// parser is one engine's TLS parser: its sessions share a fingerprint
// cache, so a parser must not be shared by engines on different goroutines.
type parser struct{ fp *fpCache }

// New returns the TLS parser.
func New() l7.Parser { return parser{fp: newFPCache()} }

func (parser) Name() string             { return "tls" }
func (parser) Transports() l7.Transport { return l7.TCP | l7.UDP }
func (parser) Ports() []uint16 {
	return []uint16{443, 8443, 853, 993, 995, 465, 636, 989, 990, 5061, 4433}
}

func isUDP(f *l7.FlowInfo) bool { return f != nil && f.Transport == l7.UDP }

// Probe accepts a handshake record carrying a ClientHello or ServerHello
// with a plausible length and SSL 3.0 to TLS 1.3 version, in either
// direction. Only the bytes of the first record are examined.
func (parser) Probe(f *l7.FlowInfo, _ l7.Dir, data []byte) l7.Verdict {
	if isUDP(f) {
		return probeDTLS(data)
	}
	// record header: 22, 3.x (x <= 4), length
	for i, want := range [...]int{ctHandshake, 3} {
		if i >= len(data) {
			return l7.VerdictMaybe
		}
		if int(data[i]) != want {
			return l7.VerdictNo
		}
	}
	if len(data) < recHdrLen {
		if len(data) > 2 && data[2] > 4 {
			return l7.VerdictNo
		}
		return l7.VerdictMaybe
	}
	if data[2] > 4 {
		return l7.VerdictNo
	}
	n := int(binary.BigEndian.Uint16(data[3:]))
	if n == 0 || n > maxRecord {
		return l7.VerdictNo
	}
	return probeHello(data[recHdrLen:min(len(data), recHdrLen+n)], n, 4)
}

// probeHello checks the start of a handshake message held by a record of
// recLen bytes, of which hs is what has arrived; hdr is the handshake header
// length (4, or 12 for DTLS).
func probeHello(hs []byte, recLen, hdr int) l7.Verdict {
	if len(hs) < 1 {
		return l7.VerdictMaybe
	}
	if t := hs[0]; t != hsClientHello && t != hsServerHello {
		return l7.VerdictNo
	}
	if recLen < 4 {
		return l7.VerdictYes // a fragmented handshake header: nothing more to check here
	}
	if len(hs) < 4 {
		return l7.VerdictMaybe
	}
	if l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]); l < 38 || l > maxHSLen {
		return l7.VerdictNo
	}
	if recLen < hdr+2 {
		return l7.VerdictYes
	}
	if len(hs) < hdr+2 {
		return l7.VerdictMaybe
	}
	v := binary.BigEndian.Uint16(hs[hdr:])
	if hdr == dtlsHSHdrLen {
		if v != 0xfeff && v != 0xfefd {
			return l7.VerdictNo
		}
	} else if v < 0x0300 || v > 0x0304 {
		return l7.VerdictNo
	}
	return l7.VerdictYes
}

// probeDTLS checks one datagram for a DTLS handshake record of epoch 0
// holding the first fragment of a ClientHello, ServerHello or
// HelloVerifyRequest.
func probeDTLS(d []byte) l7.Verdict {
	if len(d) < dtlsHdrLen+dtlsHSHdrLen+2 || d[0] != ctHandshake {
		return l7.VerdictNo
	}
	if v := binary.BigEndian.Uint16(d[1:]); v != 0xfeff && v != 0xfefd && v != 0xfefc {
		return l7.VerdictNo
	}
	if d[3] != 0 || d[4] != 0 { // epoch 0: the handshake starts in the clear
		return l7.VerdictNo
	}
	n := int(binary.BigEndian.Uint16(d[11:]))
	if n < dtlsHSHdrLen || dtlsHdrLen+n > len(d) {
		return l7.VerdictNo
	}
	hs := d[dtlsHdrLen : dtlsHdrLen+n]
	fragOff := int(hs[6])<<16 | int(hs[7])<<8 | int(hs[8])
	fragLen := int(hs[9])<<16 | int(hs[10])<<8 | int(hs[11])
	if fragOff != 0 || fragLen > n-dtlsHSHdrLen {
		return l7.VerdictNo
	}
	if hs[0] == hsHelloVerify { // server_version, cookie
		if v := binary.BigEndian.Uint16(hs[dtlsHSHdrLen:]); v != 0xfeff && v != 0xfefd {
			return l7.VerdictNo
		}
		return l7.VerdictYes
	}
	return probeHello(hs, n, dtlsHSHdrLen)
}

func (p parser) NewSession(f *l7.FlowInfo) l7.Session {
	return &session{dtls: isUDP(f), fp: p.fp}
}

var _ l7.Resetter = (*session)(nil)

// Reset implements l7.Resetter. Nothing is kept but the session itself: a
// nil handshake buffer means no message in progress.
func (s *session) Reset(f *l7.FlowInfo) { *s = session{dtls: isUDP(f), fp: s.fp} }

// dirState is one direction's record and handshake reassembly.
type dirState struct {
	hdr    [recHdrLen]byte
	hdrN   int
	remain int  // bytes left in the current record
	typ    byte // content type of the current record
	hs     []byte
	hsHave int // bytes of hs filled (hs is allocated to the message size)
	hsHdr  [4]byte
	hsHdrN int
	skip   int // bytes of a handshake message that is not a hello
	seen   int // bytes of the stream examined
	done   bool
}

type session struct {
	fp     *fpCache // the parser's, shared by its sessions
	dtls   bool
	dir    [2]dirState
	client ClientHello
	server ServerHello
	haveCH bool
	haveSH bool
	// retried records a HelloRetryRequest before the ServerHello.
	retried bool
	// Strings derived from the hellos, computed once.
	ja3, ja3Hash, ja4, ja3s, ja3sHash string
	stopped                           bool
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	if s.stopped {
		return false
	}
	if s.dtls {
		s.feedDTLS(ctx, data)
	} else {
		s.feedTLS(ctx, &s.dir[dir&1], data)
	}
	if s.haveCH && s.haveSH || s.dir[0].done && s.dir[1].done {
		s.stopped = true
	}
	return !s.stopped
}

func (s *session) feedTLS(ctx *l7.Context, st *dirState, data []byte) {
	for len(data) > 0 && !st.done {
		if st.remain == 0 {
			n := copy(st.hdr[st.hdrN:], data)
			st.hdrN += n
			data = data[n:]
			st.seen += n
			if st.hdrN < recHdrLen {
				return
			}
			st.hdrN = 0
			st.typ = st.hdr[0]
			st.remain = int(binary.BigEndian.Uint16(st.hdr[3:]))
			if st.typ < 20 || st.typ > 24 || st.hdr[1] != 3 || st.remain > maxRecord {
				ctx.Malformed("tls")
				st.done = true
				return
			}
			continue
		}
		n := min(st.remain, len(data))
		chunk := data[:n]
		data = data[n:]
		st.remain -= n
		st.seen += n
		switch st.typ {
		case ctHandshake:
			s.handshake(ctx, st, chunk)
		case 21, 23:
			// An alert before the hello is a failed handshake; application
			// data means the hello was missed.
			st.done = true
		}
		if st.seen > maxStreamScan {
			st.done = true
		}
	}
}

// handshake gathers handshake messages from record payload. Hellos are
// kept (bounded) and parsed when complete; other messages are skipped.
func (s *session) handshake(ctx *l7.Context, st *dirState, b []byte) {
	for len(b) > 0 && !st.done {
		if st.skip > 0 {
			n := min(st.skip, len(b))
			st.skip -= n
			b = b[n:]
			continue
		}
		if st.hs == nil {
			n := copy(st.hsHdr[st.hsHdrN:], b)
			st.hsHdrN += n
			b = b[n:]
			if st.hsHdrN < 4 {
				return
			}
			st.hsHdrN = 0
			l := int(st.hsHdr[1])<<16 | int(st.hsHdr[2])<<8 | int(st.hsHdr[3])
			t := st.hsHdr[0]
			if t != hsClientHello && t != hsServerHello {
				st.skip = l
				continue
			}
			if l > maxHello {
				ctx.Malformed("tls")
				st.done = true
				return
			}
			st.hs = make([]byte, l)
			st.hsHave = 0
		}
		n := copy(st.hs[st.hsHave:], b)
		st.hsHave += n
		b = b[n:]
		if st.hsHave < len(st.hs) {
			return
		}
		body := st.hs
		st.hs = nil
		s.hello(ctx, st, st.hsHdr[0], body, false)
	}
}

// hello parses a complete hello body of type t.
func (s *session) hello(ctx *l7.Context, st *dirState, t byte, body []byte, dtls bool) {
	switch t {
	case hsClientHello:
		if s.haveCH {
			return // the second ClientHello after a HelloRetryRequest
		}
		h, err := ParseClientHello(body, dtls)
		if err != nil {
			ctx.Malformed("tls")
			st.done = true
			return
		}
		s.client, s.haveCH = h, true
		kind := byte(JA4TCP)
		if dtls {
			kind = JA4DTLS
		}
		s.ja3, s.ja3Hash, s.ja4 = s.fp.fingerprints(&s.client, kind)
		st.done = !dtls // the client's later records say nothing more
	case hsServerHello:
		h, err := ParseServerHello(body)
		if err != nil {
			ctx.Malformed("tls")
			st.done = true
			return
		}
		s.server = h
		s.retried = s.retried || h.RetryRequest
		s.ja3s, s.ja3sHash = s.fp.serverFingerprint(&h)
		// After a HelloRetryRequest the real ServerHello is still to come.
		if !h.RetryRequest {
			s.haveSH = true
			st.done = !dtls
		}
	}
}

// feedDTLS parses one datagram: DTLS records, each holding handshake
// fragments. Only hellos that arrive as a single fragment, or as fragments
// in order, are reassembled.
func (s *session) feedDTLS(ctx *l7.Context, d []byte) {
	for len(d) >= dtlsHdrLen {
		n := int(binary.BigEndian.Uint16(d[11:]))
		if d[1] != 0xfe || dtlsHdrLen+n > len(d) {
			ctx.Malformed("tls")
			return
		}
		rec := d[dtlsHdrLen : dtlsHdrLen+n]
		typ, epoch := d[0], binary.BigEndian.Uint16(d[3:])
		d = d[dtlsHdrLen+n:]
		if typ != ctHandshake || epoch != 0 {
			continue
		}
		for len(rec) >= dtlsHSHdrLen {
			t := rec[0]
			msgLen := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
			off := int(rec[6])<<16 | int(rec[7])<<8 | int(rec[8])
			fl := int(rec[9])<<16 | int(rec[10])<<8 | int(rec[11])
			if dtlsHSHdrLen+fl > len(rec) || off+fl > msgLen || msgLen > maxHello {
				ctx.Malformed("tls")
				return
			}
			frag := rec[dtlsHSHdrLen : dtlsHSHdrLen+fl]
			rec = rec[dtlsHSHdrLen+fl:]
			if t != hsClientHello && t != hsServerHello {
				continue
			}
			st := &s.dir[0]
			if t == hsServerHello {
				st = &s.dir[1]
			}
			if off == 0 && fl == msgLen {
				s.hello(ctx, st, t, frag, true)
				continue
			}
			// In-order fragments of one message.
			if off == 0 {
				st.hs, st.hsHave, st.hsHdr[0] = make([]byte, msgLen), 0, t
			}
			if st.hs == nil || st.hsHdr[0] != t || off != st.hsHave || len(st.hs) != msgLen {
				continue
			}
			st.hsHave += copy(st.hs[off:], frag)
			if st.hsHave == msgLen {
				body := st.hs
				st.hs = nil
				s.hello(ctx, st, t, body, true)
			}
		}
	}
}

// Gap loses the record framing; a session that has no hello yet cannot
// resynchronise inside encrypted records, so it stops.
func (s *session) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	if n > 0 && !s.dtls {
		s.dir[dir&1].done = true
		if s.dir[0].done && s.dir[1].done {
			s.stopped = true
		}
	}
	return !s.stopped
}

func versionString(v uint16) (proto, ver string) {
	switch v {
	case 0x0300:
		return "ssl", "3.0"
	case 0x0301:
		return "tls", "1.0"
	case 0x0302:
		return "tls", "1.1"
	case 0x0303:
		return "tls", "1.2"
	case 0x0304:
		return "tls", "1.3"
	case 0xfeff:
		return "dtls", "1.0"
	case 0xfefd:
		return "dtls", "1.2"
	case 0xfefc:
		return "dtls", "1.3"
	}
	return "", ""
}

func (s *session) Fields(d *ecs.Doc) {
	if s.haveCH {
		d.Str("tls.client.server_name", s.client.ServerName)
		d.Str("tls.client.ja3", s.ja3Hash)
		d.Str("tls.client.ja4", s.ja4)
		d.Str("outflow.tls.ja3_string", s.ja3)
		d.Strs("outflow.tls.client.alpn", s.client.ALPN)
	}
	if s.ja3sHash != "" {
		d.Str("tls.server.ja3s", s.ja3sHash)
		d.Str("outflow.tls.ja3s_string", s.ja3s)
	}
	if s.haveSH {
		proto, ver := versionString(s.server.NegotiatedVersion())
		d.Str("tls.version_protocol", proto)
		d.Str("tls.version", ver)
		d.Str("tls.cipher", CipherName(s.server.Cipher))
	} else if s.dtls || s.haveCH {
		proto := "tls"
		if s.dtls {
			proto = "dtls"
		}
		d.Str("tls.version_protocol", proto)
	}
	switch {
	case s.server.ALPN != "":
		d.Str("tls.next_protocol", s.server.ALPN)
	case s.haveCH && len(s.client.ALPN) > 0:
		d.Str("tls.next_protocol", s.client.ALPN[0])
	}
	if s.retried {
		d.Bool("outflow.tls.hello_retry", true)
	}
}

var _ l7.Namer = (*session)(nil)

// Domain implements l7.Namer.
func (s *session) Domain() string { return s.client.ServerName }

func (s *session) Summary(sum *l7.Summary) {
	sum.Protocol = "tls"
	sum.Domain = s.client.ServerName
	sum.Encrypted = true
}
