package synth

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// TLS record content types.
const (
	tlsChangeCipherSpec = 20
	tlsAlert            = 21
	tlsHandshake        = 22
	tlsApplicationData  = 23
)

// ClientHello describes a TLS ClientHello in the shape of a current
// browser's (without GREASE, so that fingerprints are stable).
type ClientHello struct {
	ServerName string   // SNI; omitted when empty
	ALPN       []string // omitted when empty
	TLS13      bool     // offer TLS 1.3 (supported_versions, key_share) besides 1.2
	Random     [32]byte
	SessionID  []byte   // legacy session id: 0 or 32 bytes
	KeyShare   [32]byte // X25519 public key, with TLS13
}

// Record renders the ClientHello as one handshake record. It fails when a
// field does not fit its length prefix (a server name over 255 bytes, an
// empty or over-long ALPN protocol, a session id over 32 bytes).
func (h ClientHello) Record() ([]byte, error) {
	if len(h.ServerName) > 255 || len(h.SessionID) > 32 {
		return nil, fmt.Errorf("tls: server name of %d or session id of %d bytes", len(h.ServerName), len(h.SessionID))
	}
	total := 0
	for _, p := range h.ALPN {
		if p == "" || len(p) > 255 {
			return nil, fmt.Errorf("tls: ALPN protocol of %d bytes", len(p))
		}
		total += 1 + len(p)
	}
	if total > 1024 {
		return nil, fmt.Errorf("tls: ALPN list of %d bytes", total)
	}
	var ext []byte
	if h.ServerName != "" {
		ext = tlsExt(ext, 0, func(b []byte) []byte {
			return u16len(b, func(b []byte) []byte {
				b = append(b, 0) // host_name
				return u16len(b, func(b []byte) []byte { return append(b, h.ServerName...) })
			})
		})
	}
	ext = tlsExt(ext, 23, nil)                                                           // extended_master_secret
	ext = tlsExt(ext, 0xff01, func(b []byte) []byte { return append(b, 0) })             // renegotiation_info
	ext = tlsExt(ext, 10, func(b []byte) []byte { return u16list(b, 0x1d, 0x17, 0x18) }) // supported_groups
	ext = tlsExt(ext, 11, func(b []byte) []byte { return append(b, 1, 0) })              // ec_point_formats: uncompressed
	ext = tlsExt(ext, 35, nil)                                                           // session_ticket
	if len(h.ALPN) > 0 {
		ext = tlsExt(ext, 16, func(b []byte) []byte {
			return u16len(b, func(b []byte) []byte {
				for _, p := range h.ALPN {
					b = append(b, byte(len(p)))
					b = append(b, p...)
				}
				return b
			})
		})
	}
	ext = tlsExt(ext, 5, func(b []byte) []byte { return append(b, 1, 0, 0, 0, 0) }) // status_request: OCSP
	ext = tlsExt(ext, 13, func(b []byte) []byte {                                   // signature_algorithms
		return u16list(b, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
	})
	ext = tlsExt(ext, 18, nil) // signed_certificate_timestamp
	if h.TLS13 {
		ext = tlsExt(ext, 51, func(b []byte) []byte { // key_share: one X25519 share
			return u16len(b, func(b []byte) []byte {
				b = binary.BigEndian.AppendUint16(b, 0x1d)
				b = binary.BigEndian.AppendUint16(b, 32)
				return append(b, h.KeyShare[:]...)
			})
		})
		ext = tlsExt(ext, 45, func(b []byte) []byte { return append(b, 1, 1) })          // psk_key_exchange_modes: psk_dhe_ke
		ext = tlsExt(ext, 43, func(b []byte) []byte { return append(b, 4, 3, 4, 3, 3) }) // supported_versions: 1.3, 1.2
	}

	suites := []uint16{0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	if h.TLS13 {
		suites = append([]uint16{0x1301, 0x1302, 0x1303}, suites...)
	}
	body := binary.BigEndian.AppendUint16(nil, 0x0303) // legacy_version TLS 1.2
	body = append(body, h.Random[:]...)
	body = append(body, byte(len(h.SessionID)))
	body = append(body, h.SessionID...)
	body = u16list(body, suites...)
	body = append(body, 1, 0) // compression: null
	body = u16len(body, func(b []byte) []byte { return append(b, ext...) })
	// ClientHellos go out with record version 1.0 for old middleboxes.
	return tlsRecord(tlsHandshake, 0x0301, handshakeMsg(1, body)), nil
}

// ServerHello describes a TLS ServerHello.
type ServerHello struct {
	TLS13       bool // select TLS 1.3 (supported_versions and key_share extensions)
	Random      [32]byte
	SessionID   []byte // echo of the client's
	CipherSuite uint16 // default 0x1301 for TLS 1.3, 0xc02f otherwise
	ALPN        string // TLS 1.2 only: in 1.3 ALPN is encrypted
	KeyShare    [32]byte
}

// Record renders the ServerHello as one handshake record (an ALPN value
// over 255 bytes is cut).
func (h ServerHello) Record() []byte {
	if len(h.ALPN) > 255 {
		h.ALPN = h.ALPN[:255]
	}
	if len(h.SessionID) > 32 {
		h.SessionID = h.SessionID[:32]
	}
	cs := h.CipherSuite
	var ext []byte
	if h.TLS13 {
		if cs == 0 {
			cs = 0x1301
		}
		ext = tlsExt(ext, 43, func(b []byte) []byte { return append(b, 3, 4) }) // supported_versions: 1.3
		ext = tlsExt(ext, 51, func(b []byte) []byte {
			b = binary.BigEndian.AppendUint16(b, 0x1d)
			b = binary.BigEndian.AppendUint16(b, 32)
			return append(b, h.KeyShare[:]...)
		})
	} else {
		if cs == 0 {
			cs = 0xc02f
		}
		ext = tlsExt(ext, 0xff01, func(b []byte) []byte { return append(b, 0) })
		ext = tlsExt(ext, 23, nil)
		if h.ALPN != "" {
			ext = tlsExt(ext, 16, func(b []byte) []byte {
				return u16len(b, func(b []byte) []byte {
					return append(append(b, byte(len(h.ALPN))), h.ALPN...)
				})
			})
		}
		ext = tlsExt(ext, 11, func(b []byte) []byte { return append(b, 1, 0) })
	}
	body := binary.BigEndian.AppendUint16(nil, 0x0303)
	body = append(body, h.Random[:]...)
	body = append(body, byte(len(h.SessionID)))
	body = append(body, h.SessionID...)
	body = binary.BigEndian.AppendUint16(body, cs)
	body = append(body, 0)
	body = u16len(body, func(b []byte) []byte { return append(b, ext...) })
	return tlsRecord(tlsHandshake, 0x0303, handshakeMsg(2, body))
}

// TLSChangeCipherSpec is the one-byte ChangeCipherSpec record.
func TLSChangeCipherSpec() []byte { return tlsRecord(tlsChangeCipherSpec, 0x0303, []byte{1}) }

// TLSEncrypted is one record of content type typ whose n-byte body is
// opaque ciphertext.
func TLSEncrypted(typ byte, n int) Payload {
	h := []byte{typ, 3, 3, byte(n >> 8), byte(n)}
	return Concat(Bytes(h), Random(n))
}

// maxTLSCiphertext is the largest record body: 2^14 bytes of plaintext,
// one inner content type byte and a 16-byte AEAD tag.
const maxTLSCiphertext = 1<<14 + 1 + 16

// TLSApplicationData is n bytes of application_data records, split at the
// maximum record size (n counts record bodies, not headers).
func TLSApplicationData(n int) Payload {
	var ps []Payload
	for n > 0 {
		k := min(n, maxTLSCiphertext)
		ps = append(ps, TLSEncrypted(tlsApplicationData, k))
		n -= k
	}
	return Concat(ps...)
}

func tlsRecord(typ byte, version uint16, body []byte) []byte {
	b := []byte{typ, byte(version >> 8), byte(version)}
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func handshakeMsg(typ byte, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// tlsExt appends extension typ with the body fill writes (nil: empty).
func tlsExt(b []byte, typ uint16, fill func([]byte) []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	return u16len(b, func(b []byte) []byte {
		if fill == nil {
			return b
		}
		return fill(b)
	})
}

// u16len appends what fill writes, preceded by its 16-bit length.
func u16len(b []byte, fill func([]byte) []byte) []byte {
	at := len(b)
	b = append(b, 0, 0)
	b = fill(b)
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	return b
}

// u16list appends a length-prefixed list of 16-bit values.
func u16list(b []byte, vs ...uint16) []byte {
	return u16len(b, func(b []byte) []byte {
		for _, v := range vs {
			b = binary.BigEndian.AppendUint16(b, v)
		}
		return b
	})
}

// TLSSession describes a TLS connection for Scenario.TLS.
type TLSSession struct {
	ServerName string
	ALPN       []string
	// TLS13 negotiates TLS 1.3 (encrypted server flight after the
	// ServerHello). Otherwise TLS 1.2 resumes a session: ServerHello,
	// ChangeCipherSpec and Finished, with no certificate on the wire.
	TLS13     bool
	Exchanges []Exchange // application data, sizes in ciphertext bytes
}

// Exchange is one request/response of opaque application data.
type Exchange struct {
	Up, Down int           // bytes from client, then from server
	Think    time.Duration // client pause before sending
}

// TLS plans a TLS connection: handshake, the exchanges, a close_notify
// alert and FIN from the client. The manifest notes sni, alpn and version.
func (s *Scenario) TLS(ep Endpoints, at time.Duration, sess TLSSession, opt TCPOptions) *TCP {
	c := s.TCP(ep, at, "tls", opt)
	var ch ClientHello
	var sh ServerHello
	fillBytes(s.rng.Uint64(), ch.Random[:], sh.Random[:], ch.KeyShare[:], sh.KeyShare[:])
	sid := make([]byte, 32)
	fillBytes(s.rng.Uint64(), sid)
	ch.ServerName, ch.ALPN, ch.TLS13, ch.SessionID = sess.ServerName, sess.ALPN, sess.TLS13, sid
	sh.TLS13, sh.SessionID = sess.TLS13, sid
	if len(sess.ALPN) > 0 && !sess.TLS13 {
		sh.ALPN = sess.ALPN[0]
	}
	hello, err := ch.Record()
	if err != nil {
		c.setErr(fmt.Errorf("tls flow %d: %w", c.id, err))
		return c
	}
	c.Send(ToServer, Bytes(hello), 0)
	if sess.TLS13 {
		// EncryptedExtensions, Certificate, CertificateVerify and Finished
		// travel as application_data.
		c.Send(ToClient, Concat(Bytes(sh.Record()), Bytes(TLSChangeCipherSpec()), TLSEncrypted(tlsApplicationData, 2800+int(s.rng.IntN(1200)))), time.Millisecond)
		c.Send(ToServer, Concat(Bytes(TLSChangeCipherSpec()), TLSEncrypted(tlsApplicationData, 53)), 0)
		c.Note("version", "TLSv1.3")
	} else {
		// Abbreviated (resumed) handshake: the Finished messages are
		// encrypted handshake records.
		c.Send(ToClient, Concat(Bytes(sh.Record()), Bytes(TLSChangeCipherSpec()), TLSEncrypted(tlsHandshake, 40)), time.Millisecond)
		c.Send(ToServer, Concat(Bytes(TLSChangeCipherSpec()), TLSEncrypted(tlsHandshake, 40)), 0)
		c.Note("version", "TLSv1.2")
	}
	for _, e := range sess.Exchanges {
		c.Send(ToServer, TLSApplicationData(e.Up), e.Think)
		c.Send(ToClient, TLSApplicationData(e.Down), 2*time.Millisecond)
	}
	c.Send(ToServer, TLSEncrypted(tlsAlert, 19), 50*time.Millisecond)
	c.Close(ToServer, 0)
	if sess.ServerName != "" {
		c.Note("sni", sess.ServerName)
	}
	if len(sess.ALPN) > 0 {
		c.Note("alpn", strings.Join(sess.ALPN, ","))
	}
	return c
}

// fillBytes fills the buffers with bytes derived from seed.
func fillBytes(seed uint64, bufs ...[]byte) {
	for _, b := range bufs {
		for i := range b {
			if i%8 == 0 {
				seed = splitmix(seed)
			}
			b[i] = byte(seed >> (8 * (i % 8)))
		}
	}
}
