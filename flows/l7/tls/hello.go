package tls

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
)

// Bounds on what a hello keeps; a hello longer than these is still parsed
// and its lists marked Truncated (fingerprints then cover the first ones).
const (
	maxCiphers    = 512
	maxExtensions = 128
	maxListItems  = 128 // groups, signature algorithms, versions
	maxALPN       = 16
	maxName       = 255
)

// Extension types this package reads.
const (
	extServerName       = 0x0000
	extSupportedGroups  = 0x000a
	extECPointFormats   = 0x000b
	extSignatureAlgs    = 0x000d
	extALPN             = 0x0010
	extSupportedVersion = 0x002b
)

// ClientHello is the part of a TLS (or DTLS) ClientHello that identifies
// the client. Lists are in wire order with GREASE values kept; the
// fingerprint methods drop them.
type ClientHello struct {
	Version      uint16   // legacy_version
	Ciphers      []uint16 // cipher_suites
	Extensions   []uint16 // extension types
	Groups       []uint16 // supported_groups (elliptic curves)
	PointFormats []uint8  // ec_point_formats
	SigAlgs      []uint16 // signature_algorithms
	Versions     []uint16 // supported_versions
	ServerName   string   // first host_name of server_name, lowercased
	ALPN         []string // application_layer_protocol_negotiation
	Truncated    bool     // some list exceeded its bound
}

// ServerHello is the part of a ServerHello that identifies the server's
// choice.
type ServerHello struct {
	Version    uint16   // legacy_version
	Selected   uint16   // supported_versions (TLS 1.3), 0 when absent
	Cipher     uint16   // cipher_suite
	Extensions []uint16 // extension types, wire order
	ALPN       string   // negotiated protocol
	// RetryRequest reports a TLS 1.3 HelloRetryRequest: the real
	// ServerHello follows a second ClientHello.
	RetryRequest bool
}

var errShort = errors.New("tls: hello truncated")

// reader walks a byte slice; any read past the end sets bad and returns 0.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return int(v)
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return int(v)
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// IsGREASE reports whether v is a GREASE value (RFC 8701): 0x0a0a,
// 0x1a1a, ... 0xfafa.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// appendU16s appends the big-endian uint16 list b to dst, at most limit
// entries in dst; it reports whether entries were dropped.
func appendU16s(dst []uint16, b []byte, limit int) ([]uint16, bool) {
	for i := 0; i+1 < len(b); i += 2 {
		if len(dst) >= limit {
			return dst, true
		}
		dst = append(dst, binary.BigEndian.Uint16(b[i:]))
	}
	return dst, false
}

// ParseClientHello parses the body of a ClientHello handshake message (the
// bytes after its 4-byte handshake header, or for DTLS after the 12-byte
// one). Extensions that do not parse are recorded by type and skipped.
func ParseClientHello(body []byte, dtls bool) (ClientHello, error) {
	var h ClientHello
	r := reader{b: body}
	h.Version = uint16(r.u16())
	r.bytes(32)     // random
	r.bytes(r.u8()) // legacy_session_id
	if dtls {
		r.bytes(r.u8()) // cookie
	}
	cs := r.bytes(r.u16())
	r.bytes(r.u8()) // compression methods
	if r.bad {
		return h, errShort
	}
	var tr bool
	h.Ciphers, tr = appendU16s(make([]uint16, 0, min(len(cs)/2, maxCiphers)), cs, maxCiphers)
	h.Truncated = tr
	if len(r.b) == 0 {
		return h, nil // no extensions (SSL 3.0 and old clients)
	}
	exts := r.bytes(r.u16())
	if r.bad {
		return h, errShort
	}
	for len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts)
		n := int(binary.BigEndian.Uint16(exts[2:]))
		if 4+n > len(exts) {
			return h, errShort
		}
		data := exts[4 : 4+n]
		exts = exts[4+n:]
		if len(h.Extensions) >= maxExtensions {
			h.Truncated = true
			continue
		}
		h.Extensions = append(h.Extensions, typ)
		h.extension(typ, data)
	}
	return h, nil
}

func (h *ClientHello) extension(typ uint16, data []byte) {
	r := reader{b: data}
	var tr bool
	switch typ {
	case extServerName:
		list := reader{b: r.bytes(r.u16())}
		for len(list.b) > 0 && !list.bad && h.ServerName == "" {
			kind := list.u8()
			name := list.bytes(list.u16())
			if kind == 0 && !list.bad && len(name) > 0 {
				h.ServerName = lowerString(name[:min(len(name), maxName)])
			}
		}
	case extALPN:
		list := reader{b: r.bytes(r.u16())}
		for len(list.b) > 0 && !list.bad {
			p := list.bytes(list.u8())
			if list.bad {
				break
			}
			if len(h.ALPN) >= maxALPN {
				h.Truncated = true
				break
			}
			h.ALPN = append(h.ALPN, string(p))
		}
	case extSupportedGroups:
		h.Groups, tr = appendU16s(h.Groups, r.bytes(r.u16()), maxListItems)
	case extSignatureAlgs:
		h.SigAlgs, tr = appendU16s(h.SigAlgs, r.bytes(r.u16()), maxListItems)
	case extSupportedVersion:
		h.Versions, tr = appendU16s(h.Versions, r.bytes(r.u8()), maxListItems)
	case extECPointFormats:
		for _, f := range r.bytes(r.u8()) {
			if len(h.PointFormats) >= maxListItems {
				tr = true
				break
			}
			h.PointFormats = append(h.PointFormats, f)
		}
	}
	h.Truncated = h.Truncated || tr
}

func lowerString(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// hrrRandom is the random of a HelloRetryRequest (RFC 8446 4.1.3).
var hrrRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// ParseServerHello parses the body of a ServerHello handshake message.
func ParseServerHello(body []byte) (ServerHello, error) {
	var h ServerHello
	r := reader{b: body}
	h.Version = uint16(r.u16())
	random := r.bytes(32)
	r.bytes(r.u8()) // legacy_session_id_echo
	h.Cipher = uint16(r.u16())
	r.u8() // compression
	if r.bad {
		return h, errShort
	}
	h.RetryRequest = string(random) == string(hrrRandom[:])
	if len(r.b) == 0 {
		return h, nil
	}
	exts := r.bytes(r.u16())
	if r.bad {
		return h, errShort
	}
	for len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts)
		n := int(binary.BigEndian.Uint16(exts[2:]))
		if 4+n > len(exts) {
			return h, errShort
		}
		data := exts[4 : 4+n]
		exts = exts[4+n:]
		if len(h.Extensions) < maxExtensions {
			h.Extensions = append(h.Extensions, typ)
		}
		switch typ {
		case extSupportedVersion:
			if len(data) == 2 {
				h.Selected = binary.BigEndian.Uint16(data)
			}
		case extALPN:
			er := reader{b: data}
			list := reader{b: er.bytes(er.u16())}
			if p := list.bytes(list.u8()); !list.bad && len(p) > 0 {
				h.ALPN = string(p)
			}
		}
	}
	return h, nil
}

// NegotiatedVersion is the version the server chose.
func (h *ServerHello) NegotiatedVersion() uint16 {
	if h.Selected != 0 {
		return h.Selected
	}
	return h.Version
}

func appendDecList(dst []byte, list []uint16) []byte {
	first := true
	for _, v := range list {
		if IsGREASE(v) {
			continue
		}
		if !first {
			dst = append(dst, '-')
		}
		first = false
		dst = strconv.AppendUint(dst, uint64(v), 10)
	}
	return dst
}

// JA3 returns the JA3 string of the hello (Salesforce: SSLVersion, Cipher,
// SSLExtension, EllipticCurve, EllipticCurvePointFormat, decimal, GREASE
// removed) and its MD5 in hex.
func (h *ClientHello) JA3() (str, hash string) {
	b := h.appendJA3(make([]byte, 0, 256))
	sum := md5.Sum(b)
	return string(b), hex.EncodeToString(sum[:])
}

// appendJA3 appends the JA3 string of the hello to b.
func (h *ClientHello) appendJA3(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(h.Version), 10)
	b = append(b, ',')
	b = appendDecList(b, h.Ciphers)
	b = append(b, ',')
	b = appendDecList(b, h.Extensions)
	b = append(b, ',')
	b = appendDecList(b, h.Groups)
	b = append(b, ',')
	for i, f := range h.PointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	return b
}

// JA3S returns the JA3S string (SSLVersion, Cipher, SSLExtension) and its
// MD5 in hex.
func (h *ServerHello) JA3S() (str, hash string) {
	b := h.appendJA3S(make([]byte, 0, 64))
	sum := md5.Sum(b)
	return string(b), hex.EncodeToString(sum[:])
}

// appendJA3S appends the JA3S string of the hello to b.
func (h *ServerHello) appendJA3S(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(h.Version), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(h.Cipher), 10)
	b = append(b, ',')
	return appendDecList(b, h.Extensions)
}

// Transport prefixes of JA4.
const (
	JA4TCP  = 't'
	JA4QUIC = 'q'
	JA4DTLS = 'd'
)

// ja4Version is JA4's two-character version code.
func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// JA4 returns the JA4 fingerprint (FoxIO, technical_details/JA4.md) with
// the given transport prefix (JA4TCP, JA4QUIC or JA4DTLS).
func (h *ClientHello) JA4(transport byte) string {
	b := h.appendJA4a(make([]byte, 0, 36), transport)
	return string(h.appendJA4bc(b))
}

// appendJA4a appends JA4's first part (transport, version, SNI, counts,
// ALPN) to b.
func (h *ClientHello) appendJA4a(b []byte, transport byte) []byte {
	b = append(b, transport)

	// Version: the highest supported_versions value, else legacy_version.
	v := uint16(0)
	for _, x := range h.Versions {
		if !IsGREASE(x) && x > v {
			v = x
		}
	}
	if v == 0 {
		v = h.Version
	}
	b = append(b, ja4Version(v)...)

	sni := byte('i')
	nExt := 0
	for _, e := range h.Extensions {
		if e == extServerName {
			sni = 'd'
		}
		if !IsGREASE(e) {
			nExt++
		}
	}
	b = append(b, sni)
	nCiph := 0
	for _, c := range h.Ciphers {
		if !IsGREASE(c) {
			nCiph++
		}
	}
	b = append2(b, nCiph)
	b = append2(b, nExt)

	// First and last alphanumeric characters of the first ALPN value, or
	// of its hex form when either end is not alphanumeric.
	switch {
	case len(h.ALPN) == 0 || h.ALPN[0] == "":
		b = append(b, '0', '0')
	default:
		a := h.ALPN[0]
		first, last := a[0], a[len(a)-1]
		if isAlnum(first) && isAlnum(last) {
			b = append(b, first, last)
		} else {
			b = append(b, hexDigits[first>>4], hexDigits[last&0xf])
		}
	}
	return b
}

// appendJA4bc appends JA4's hashed parts, "_" cipher hash "_" extension
// and signature algorithm hash, to b. They depend only on the hello's
// cipher and extension lists (which JA3's string holds) and its signature
// algorithms.
func (h *ClientHello) appendJA4bc(b []byte) []byte {
	b = append(b, '_')
	ciphers := make([]uint16, 0, len(h.Ciphers))
	for _, c := range h.Ciphers {
		if !IsGREASE(c) {
			ciphers = append(ciphers, c)
		}
	}
	slices.Sort(ciphers)
	b = appendTruncHash(b, ciphers, nil)

	b = append(b, '_')
	exts := make([]uint16, 0, len(h.Extensions))
	for _, e := range h.Extensions {
		if !IsGREASE(e) && e != extServerName && e != extALPN {
			exts = append(exts, e)
		}
	}
	slices.Sort(exts)
	sigs := make([]uint16, 0, len(h.SigAlgs))
	for _, s := range h.SigAlgs {
		if !IsGREASE(s) {
			sigs = append(sigs, s)
		}
	}
	return appendTruncHash(b, exts, sigs)
}

const hexDigits = "0123456789abcdef"

func append2(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendTruncHash appends the first 12 hex digits of the SHA-256 of list as
// comma-separated 4-digit hex, followed by "_" and second when second is not
// empty; an empty list gives twelve zeros.
func appendTruncHash(b []byte, list, second []uint16) []byte {
	if len(list) == 0 {
		return append(b, "000000000000"...)
	}
	s := make([]byte, 0, 5*(len(list)+len(second))+1)
	s = appendHexList(s, list)
	if len(second) > 0 {
		s = append(s, '_')
		s = appendHexList(s, second)
	}
	sum := sha256.Sum256(s)
	var out [64]byte
	hex.Encode(out[:], sum[:])
	return append(b, out[:12]...)
}

func appendHexList(b []byte, list []uint16) []byte {
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, hexDigits[v>>12], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf])
	}
	return b
}

// fpCache remembers the fingerprints of the distinct hellos seen lately. A
// network has few client stacks, and hashing every hello (MD5 for JA3, two
// SHA-256 for JA4) was most of what a TLS flow cost to identify. The key is
// the hashes' whole input (JA3's string, which holds the cipher and
// extension lists, and the signature algorithms), so a hit is exact. It is
// bounded and starts over when full. One engine's sessions share one.
type fpCache struct {
	key    []byte
	m      map[string]fpEntry
	server map[string][2]string // JA3S string -> it and its MD5
}

type fpEntry struct {
	ja3, ja3Hash string
	ja4bc        string // JA4 after its first part
}

const maxFingerprints = 4096

func newFPCache() *fpCache {
	return &fpCache{m: make(map[string]fpEntry), server: make(map[string][2]string)}
}

// fingerprints returns the JA3 string and hash and the JA4 of h.
func (c *fpCache) fingerprints(h *ClientHello, transport byte) (ja3, ja3Hash, ja4 string) {
	if c == nil {
		ja3, ja3Hash = h.JA3()
		return ja3, ja3Hash, h.JA4(transport)
	}
	k := h.appendJA3(c.key[:0])
	n := len(k)
	k = append(k, '|')
	for _, v := range h.SigAlgs {
		k = append(k, byte(v>>8), byte(v))
	}
	c.key = k
	e, ok := c.m[string(k)]
	if !ok {
		sum := md5.Sum(k[:n])
		e = fpEntry{ja3: string(k[:n]), ja3Hash: hex.EncodeToString(sum[:]), ja4bc: string(h.appendJA4bc(nil))}
		if len(c.m) >= maxFingerprints {
			clear(c.m)
		}
		c.m[string(k)] = e
	}
	var a [16]byte
	return e.ja3, e.ja3Hash, string(h.appendJA4a(a[:0], transport)) + e.ja4bc
}

// serverFingerprint returns the JA3S string and hash of h.
func (c *fpCache) serverFingerprint(h *ServerHello) (ja3s, hash string) {
	if c == nil {
		return h.JA3S()
	}
	k := h.appendJA3S(c.key[:0])
	c.key = k
	e, ok := c.server[string(k)]
	if !ok {
		sum := md5.Sum(k)
		e = [2]string{string(k), hex.EncodeToString(sum[:])}
		if len(c.server) >= maxFingerprints {
			clear(c.server)
		}
		c.server[e[0]] = e
	}
	return e[0], e[1]
}
