package tls

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

var ctx = &l7.Context{}

// --- builders ---------------------------------------------------------

type ext struct {
	typ  uint16
	data []byte
}

func u16s(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func prefix16(b []byte) []byte { return append(u16s(uint16(len(b))), b...) }
func prefix8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }

func extSNI(name string) ext {
	entry := append([]byte{0}, prefix16([]byte(name))...)
	return ext{extServerName, prefix16(entry)}
}

func extALPNs(protos ...string) ext {
	var l []byte
	for _, p := range protos {
		l = append(l, prefix8([]byte(p))...)
	}
	return ext{extALPN, prefix16(l)}
}

func extList16(typ uint16, vs ...uint16) ext { return ext{typ, prefix16(u16s(vs...))} }
func extVersions(vs ...uint16) ext           { return ext{extSupportedVersion, prefix8(u16s(vs...))} }
func extPointFormats(fs ...byte) ext         { return ext{extECPointFormats, prefix8(fs)} }

type helloSpec struct {
	version   uint16
	random    []byte
	sessionID []byte
	cookie    []byte // DTLS only
	dtls      bool
	ciphers   []uint16
	exts      []ext
	noExts    bool // omit the extensions block entirely
}

func (h helloSpec) extBlock() []byte {
	if h.noExts {
		return nil
	}
	var e []byte
	for _, x := range h.exts {
		e = append(e, u16s(x.typ)...)
		e = append(e, prefix16(x.data)...)
	}
	return prefix16(e)
}

func (h helloSpec) random32() []byte {
	if h.random != nil {
		return h.random
	}
	return bytes.Repeat([]byte{0x42}, 32)
}

// clientHelloBody is a ClientHello body (no handshake header).
func clientHelloBody(h helloSpec) []byte {
	b := u16s(h.version)
	b = append(b, h.random32()...)
	b = append(b, prefix8(h.sessionID)...)
	if h.dtls {
		b = append(b, prefix8(h.cookie)...)
	}
	b = append(b, prefix16(u16s(h.ciphers...))...)
	b = append(b, 1, 0) // compression: null
	return append(b, h.extBlock()...)
}

// serverHelloBody uses ciphers[0] as the chosen suite.
func serverHelloBody(h helloSpec) []byte {
	b := u16s(h.version)
	b = append(b, h.random32()...)
	b = append(b, prefix8(h.sessionID)...)
	b = append(b, u16s(h.ciphers[0])...)
	b = append(b, 0)
	return append(b, h.extBlock()...)
}

func handshakeMsg(t byte, body []byte) []byte {
	return append([]byte{t, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// records wraps payload in records of content type ct, at most size bytes each.
func records(ct byte, version uint16, payload []byte, size int) []byte {
	var out []byte
	for len(payload) > 0 {
		n := min(size, len(payload))
		out = append(out, ct, byte(version>>8), byte(version))
		out = append(out, u16s(uint16(n))...)
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	return out
}

// dtlsRecord wraps one whole handshake message in a DTLS record.
func dtlsRecord(t byte, body []byte, version uint16, seq uint16) []byte {
	n := len(body)
	hs := []byte{t, byte(n >> 16), byte(n >> 8), byte(n), byte(seq >> 8), byte(seq), 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}
	hs = append(hs, body...)
	rec := []byte{ctHandshake, byte(version >> 8), byte(version), 0, 0, 0, 0, 0, 0, 0, byte(seq)}
	rec = append(rec, u16s(uint16(len(hs)))...)
	return append(rec, hs...)
}

// --- vectors ----------------------------------------------------------

// foxioHello is the ClientHello of the example in FoxIO's JA4 specification
// (technical_details/JA4.md): its ciphers, extensions and signature
// algorithms in wire order, with GREASE values added as Chrome sends them.
func foxioHello() helloSpec {
	sig := extList16(extSignatureAlgs, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
	return helloSpec{
		version: 0x0303,
		ciphers: []uint16{0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		exts: []ext{
			{0x2a2a, nil},
			{0x001b, []byte{2, 0, 2}},
			extSNI("www.Example.com"),
			{0x0033, []byte{0, 4, 0, 0x1d, 0, 0}},
			extALPNs("h2", "http/1.1"),
			{0x4469, prefix16(prefix8([]byte("h2")))},
			{0x0017, nil},
			{0x002d, []byte{1, 1}},
			sig,
			{0x0005, []byte{1, 0, 0, 0, 0}},
			{0x0023, nil},
			{0x0012, nil},
			extVersions(0x8a8a, 0x0304, 0x0303),
			{0xff01, []byte{0}},
			extPointFormats(0),
			extList16(extSupportedGroups, 0x9a9a, 0x001d, 0x0017, 0x0018),
			{0xfafa, []byte{0}},
			{0x0015, make([]byte, 17)},
		},
	}
}

// browserleaksHello rebuilds a Chrome ClientHello from its published JA3
// string, JA4_ro string and fingerprints (a browserleaks.com report quoted
// in a public repository): ja3_text
// 771,4865-...,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0
func browserleaksHello() helloSpec {
	return helloSpec{
		version: 0x0303,
		ciphers: []uint16{0xdada, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		exts: []ext{
			{0x0a0a, nil},
			{0x002d, []byte{1, 1}},
			{0x0033, prefix16(append(u16s(0x11ec, 4), 1, 2, 3, 4))},
			extALPNs("h2", "http/1.1"),
			{0xfe0d, []byte{0, 0, 1, 0, 1}},
			{0x0017, nil},
			{0x44cd, prefix16(prefix8([]byte("h2")))},
			extSNI("tls.browserleaks.com"),
			extPointFormats(0),
			extList16(extSupportedGroups, 0x4a4a, 0x11ec, 0x001d, 0x0017, 0x0018),
			extVersions(0x1a1a, 0x0304, 0x0303),
			{0xff01, []byte{0}},
			{0x0023, nil},
			{0x0012, nil},
			{0x0005, []byte{1, 0, 0, 0, 0}},
			extList16(extSignatureAlgs, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
			{0x001b, []byte{2, 0, 2}},
			{0xbaba, []byte{0}},
		},
	}
}

func TestFingerprintVectors(t *testing.T) {
	md5hex := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	tests := []struct {
		name             string
		hello            helloSpec
		ja3, ja3md5, ja4 string
		ja4pre, ja4suf   string
	}{
		{
			name: "FoxIO JA4 specification example", hello: foxioHello(),
			ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1",
		},
		{
			name: "browserleaks Chrome report", hello: browserleaksHello(),
			ja3:    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0",
			ja3md5: "98487aa16281980e7d1120d399efb6a4",
			ja4:    "t13d1516h2_8daaf6152771_d8a2da3f94cd",
		},
		{
			name: "Salesforce JA3 README example",
			hello: helloSpec{version: 0x0301,
				ciphers: []uint16{47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
				exts:    []ext{extSNI("a.example"), extList16(extSupportedGroups, 23, 24, 25), extPointFormats(0)}},
			ja3:    "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
			ja3md5: "ada70206e40642a3e4461f35503241d5",
		},
		{
			name: "Salesforce JA3 README example without extensions",
			hello: helloSpec{version: 0x0301, noExts: true,
				ciphers: []uint16{4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99}},
			ja3:    "769,4-5-10-9-100-98-3-6-19-18-99,,,",
			ja3md5: "de350869b8c85de67a350c8d186f11e6",
			ja4pre: "t10i110000_",
			ja4suf: "_000000000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseClientHello(clientHelloBody(tt.hello), false)
			if err != nil {
				t.Fatal(err)
			}
			ja3, sum := h.JA3()
			if tt.ja3 != "" && ja3 != tt.ja3 {
				t.Errorf("JA3 string\n got %s\nwant %s", ja3, tt.ja3)
			}
			if tt.ja3md5 != "" && sum != tt.ja3md5 {
				t.Errorf("JA3 = %s, want %s", sum, tt.ja3md5)
			}
			if sum != md5hex(ja3) {
				t.Errorf("JA3 hash is not the MD5 of its string")
			}
			ja4 := h.JA4(JA4TCP)
			if tt.ja4 != "" && ja4 != tt.ja4 {
				t.Errorf("JA4 = %s, want %s", ja4, tt.ja4)
			}
			if !strings.HasPrefix(ja4, tt.ja4pre) || !strings.HasSuffix(ja4, tt.ja4suf) || len(ja4) != 36 {
				t.Errorf("JA4 = %s, want %s..%s", ja4, tt.ja4pre, tt.ja4suf)
			}
		})
	}
}

// TestJA4Details checks the rules of the JA4 specification one by one, on
// the specification's own example lists where it gives them.
func TestJA4Details(t *testing.T) {
	// The spec's cipher and extension hashes, computed by the helper used
	// for JA4_b and JA4_c.
	ciphers := []uint16{0x002f, 0x0035, 0x009c, 0x009d, 0x1301, 0x1302, 0x1303, 0xc013, 0xc014, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9}
	if got := string(appendTruncHash(nil, ciphers, nil)); got != "8daaf6152771" {
		t.Errorf("cipher hash = %s, want 8daaf6152771", got)
	}
	exts := []uint16{0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d, 0x0033, 0x4469, 0xff01}
	if got := string(appendTruncHash(nil, exts, nil)); got != "6d807ffa2a79" {
		t.Errorf("extension hash without signature algorithms = %s, want 6d807ffa2a79", got)
	}
	sigs := []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
	if got := string(appendTruncHash(nil, exts, sigs)); got != "e5627efa2ab1" {
		t.Errorf("extension hash = %s, want e5627efa2ab1", got)
	}

	alpn := []struct {
		alpn []string
		want string
	}{
		{nil, "00"},
		{[]string{""}, "00"},
		{[]string{"h2"}, "h2"},
		{[]string{"http/1.1", "h2"}, "h1"},
		{[]string{"x"}, "xx"},
		{[]string{"\xab"}, "ab"},
		{[]string{"\xab\xcd"}, "ad"},
		{[]string{"\x30\xab"}, "3b"},
		{[]string{"\x30\x31\xab\xcd"}, "3d"},
		{[]string{"\x30\xab\xcd\x31"}, "01"},
	}
	for _, tt := range alpn {
		h := ClientHello{Version: 0x0303, ALPN: tt.alpn}
		if got := h.JA4(JA4TCP)[8:10]; got != tt.want {
			t.Errorf("ALPN %q: %s, want %s", tt.alpn, got, tt.want)
		}
	}

	many := make([]uint16, 0, 150)
	for i := range 150 {
		many = append(many, uint16(0x0100+i))
	}
	h := ClientHello{Version: 0x0300, Ciphers: many, Extensions: many[:120]}
	if got := h.JA4(JA4QUIC)[:10]; got != "qs3i999900" {
		t.Errorf("prefix = %s, want qs3i999900 (counts capped at 99)", got)
	}
	h = ClientHello{Version: 0x0303, Versions: []uint16{0xfafa, 0x0302, 0x0304}}
	if got := h.JA4(JA4TCP)[:10]; got != "t13i000000" {
		t.Errorf("prefix = %s, want t13i000000 (highest supported version)", got)
	}
	if got := h.JA4(JA4TCP)[10:]; got != "_000000000000_000000000000" {
		t.Errorf("empty lists hash to %s", got)
	}
	h = ClientHello{Version: 0xfefd}
	if got := h.JA4(JA4DTLS)[:3]; got != "dd2" {
		t.Errorf("DTLS prefix = %s", got)
	}
}

func TestJA3S(t *testing.T) {
	// The JA3S example of Salesforce's JA3 documentation.
	h := helloSpec{version: 0x0301, ciphers: []uint16{47},
		exts: []ext{{0xff01, []byte{0}}, {0, nil}, extPointFormats(0), {0x0023, nil}, {0x0005, nil}, extALPNs("h2")}}
	sh, err := ParseServerHello(serverHelloBody(h))
	if err != nil {
		t.Fatal(err)
	}
	str, sum := sh.JA3S()
	if str != "769,47,65281-0-11-35-5-16" || sum != "836ce314215654b5b1f85f97c73e506f" {
		t.Errorf("JA3S = %s %s", str, sum)
	}
	if sh.ALPN != "h2" || sh.NegotiatedVersion() != 0x0301 {
		t.Errorf("ALPN %q version %x", sh.ALPN, sh.NegotiatedVersion())
	}
}

// TestAgainstGopacket decodes the hellos built here with gopacket's TLS
// layer, an independent parser, and checks both agree.
func TestAgainstGopacket(t *testing.T) {
	for _, spec := range []helloSpec{foxioHello(), browserleaksHello()} {
		for _, size := range []int{16384, 200} { // one record, or fragments gopacket reassembles
			body := clientHelloBody(spec)
			data := records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, body), size)
			var tl layers.TLS
			if err := tl.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("gopacket: %v", err)
			}
			if len(tl.Handshake) == 0 {
				t.Fatal("gopacket found no handshake")
			}
			gch := tl.Handshake[0].ClientHello
			h, err := ParseClientHello(body, false)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(string(gch.SNI), h.ServerName) || h.ServerName == "" {
				t.Errorf("SNI: gopacket %q, ours %q", gch.SNI, h.ServerName)
			}
			if uint16(gch.ProtocolVersion) != h.Version {
				t.Errorf("version: gopacket %x, ours %x", gch.ProtocolVersion, h.Version)
			}
			if !bytes.Equal(gch.CipherSuits, u16s(h.Ciphers...)) {
				t.Errorf("ciphers differ")
			}
			var types []uint16
			for e := gch.Extensions; len(e) >= 4; {
				n := int(binary.BigEndian.Uint16(e[2:]))
				types = append(types, binary.BigEndian.Uint16(e))
				e = e[4+n:]
			}
			if !reflect.DeepEqual(types, h.Extensions) {
				t.Errorf("extensions: gopacket %v, ours %v", types, h.Extensions)
			}
			if p := New().Probe(&l7.FlowInfo{Transport: l7.TCP}, l7.FromClient, data); p != l7.VerdictYes {
				t.Errorf("Probe = %d", p)
			}
		}
	}
}

func TestProbe(t *testing.T) {
	ch := records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(foxioHello())), 16384)
	sh := records(ctHandshake, 0x0303, handshakeMsg(hsServerHello, serverHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0x1301}})), 16384)
	ssl3 := records(ctHandshake, 0x0300, handshakeMsg(hsClientHello, clientHelloBody(helloSpec{version: 0x0300, ciphers: []uint16{4}, noExts: true})), 16384)
	tiny := records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(foxioHello())), 2)
	dtlsCH := dtlsRecord(hsClientHello, clientHelloBody(helloSpec{version: 0xfefd, dtls: true, ciphers: []uint16{0xc02b}}), 0xfeff, 0)
	tcp := &l7.FlowInfo{Transport: l7.TCP}
	udp := &l7.FlowInfo{Transport: l7.UDP}
	tests := []struct {
		name string
		f    *l7.FlowInfo
		in   []byte
		want l7.Verdict
	}{
		{"client hello", tcp, ch, l7.VerdictYes},
		{"server hello", tcp, sh, l7.VerdictYes},
		{"SSL 3.0", tcp, ssl3, l7.VerdictYes},
		{"2-byte records", tcp, tiny, l7.VerdictYes},
		{"nil flow info", nil, ch, l7.VerdictYes},
		{"empty", tcp, nil, l7.VerdictMaybe},
		{"one byte", tcp, ch[:1], l7.VerdictMaybe},
		{"record header", tcp, ch[:5], l7.VerdictMaybe},
		{"handshake type", tcp, ch[:6], l7.VerdictMaybe},
		{"handshake length", tcp, ch[:9], l7.VerdictMaybe},
		{"first version byte", tcp, ch[:10], l7.VerdictMaybe},
		{"version", tcp, ch[:11], l7.VerdictYes},
		{"application data", tcp, []byte{23, 3, 3, 0, 20, 1, 2, 3}, l7.VerdictNo},
		{"record version 2.0", tcp, []byte{22, 2, 0, 0, 40, 1}, l7.VerdictNo},
		{"record version 3.5", tcp, []byte{22, 3, 5, 0, 40, 1}, l7.VerdictNo},
		{"short version", tcp, []byte{22, 3, 9}, l7.VerdictNo},
		{"empty record", tcp, []byte{22, 3, 1, 0, 0, 1}, l7.VerdictNo},
		{"huge record", tcp, []byte{22, 3, 1, 0xff, 0xff, 1}, l7.VerdictNo},
		{"certificate first", tcp, []byte{22, 3, 3, 0, 40, 11, 0, 0, 36}, l7.VerdictNo},
		{"hello too short", tcp, []byte{22, 3, 3, 0, 40, 1, 0, 0, 10, 3, 3}, l7.VerdictNo},
		{"hello version 2.0", tcp, []byte{22, 3, 3, 0, 60, 1, 0, 0, 56, 2, 0}, l7.VerdictNo},
		{"http", tcp, []byte("GET / HTTP/1.1\r\n"), l7.VerdictNo},
		{"dtls client hello", udp, dtlsCH, l7.VerdictYes},
		{"dtls truncated", udp, dtlsCH[:30], l7.VerdictNo},
		{"dtls epoch 1", udp, append(append([]byte{}, dtlsCH[:3]...), append([]byte{0, 1}, dtlsCH[5:]...)...), l7.VerdictNo},
		{"tls on udp", udp, ch, l7.VerdictNo},
		{"dns on udp", udp, []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0}, l7.VerdictNo},
	}
	p := New()
	for _, tt := range tests {
		if got := p.Probe(tt.f, l7.FromClient, tt.in); got != tt.want {
			t.Errorf("%s: Probe = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// --- sessions ---------------------------------------------------------

// handshake13 is a TLS 1.3 exchange: the ClientHello in 3 records, and a
// ServerHello followed by ChangeCipherSpec and encrypted records.
func handshake13() (client, server []byte) {
	client = records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(foxioHello())), 300)
	client = append(client, records(23, 0x0303, bytes.Repeat([]byte{0xee}, 80), 80)...)
	sh := helloSpec{version: 0x0303, sessionID: bytes.Repeat([]byte{7}, 32), ciphers: []uint16{0x1302},
		exts: []ext{{0x0033, make([]byte, 36)}, {extSupportedVersion, u16s(0x0304)}}}
	server = records(ctHandshake, 0x0303, handshakeMsg(hsServerHello, serverHelloBody(sh)), 16384)
	server = append(server, 20, 3, 3, 0, 1, 1)
	server = append(server, records(23, 0x0303, bytes.Repeat([]byte{0xdd}, 500), 500)...)
	return client, server
}

func TestSession13(t *testing.T) {
	client, server := handshake13()
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP})
	if !s.Feed(ctx, l7.FromClient, client) {
		t.Fatal("stopped before the ServerHello")
	}
	if s.Feed(ctx, l7.FromServer, server) {
		t.Fatal("still feeding after both hellos")
	}
	got := l7test.Fields(t, s)
	want := map[string]any{
		"tls.client.server_name":  "www.example.com",
		"tls.client.ja4":          "t13d1516h2_8daaf6152771_e5627efa2ab1",
		"tls.version":             "1.3",
		"tls.version_protocol":    "tls",
		"tls.cipher":              "TLS_AES_256_GCM_SHA384",
		"tls.next_protocol":       "h2",
		"outflow.tls.client.alpn": []any{"h2", "http/1.1"},
		"outflow.tls.ja3s_string": "771,4866,51-43",
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	h, _ := ParseClientHello(clientHelloBody(foxioHello()), false)
	if _, j := h.JA3(); got["tls.client.ja3"] != j {
		t.Errorf("tls.client.ja3 = %v, want %v", got["tls.client.ja3"], j)
	}
	var sum l7.Summary
	s.Summary(&sum)
	if !reflect.DeepEqual(sum, l7.Summary{Protocol: "tls", Domain: "www.example.com", Encrypted: true}) {
		t.Errorf("summary %+v", sum)
	}
}

func TestEverySplit(t *testing.T) {
	client, server := handshake13()
	ref := New().NewSession(nil)
	ref.Feed(ctx, l7.FromClient, client)
	ref.Feed(ctx, l7.FromServer, server)
	want := l7test.Fields(t, ref)
	if want["tls.client.ja4"] == nil || want["tls.server.ja3s"] == nil {
		t.Fatalf("reference lacks fingerprints: %v", want)
	}
	streams := [2][]byte{client, server}
	for side := range streams {
		for i := 0; i <= len(streams[side]); i++ {
			s := New().NewSession(nil)
			for d := range streams {
				if d != side {
					s.Feed(ctx, l7.Dir(d), streams[d])
					continue
				}
				s.Feed(ctx, l7.Dir(d), streams[d][:i])
				s.Feed(ctx, l7.Dir(d), streams[d][i:])
			}
			if got := l7test.Fields(t, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("stream %d split at %d: %v\nwant %v", side, i, got, want)
			}
		}
	}
	s := New().NewSession(nil)
	for d := range streams {
		for i := range streams[d] {
			s.Feed(ctx, l7.Dir(d), streams[d][i:i+1])
		}
	}
	if got := l7test.Fields(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("byte by byte: %v", got)
	}
}

func TestSessionCases(t *testing.T) {
	tls12CH := records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(helloSpec{
		version: 0x0303, ciphers: []uint16{0xc02f, 0x009c},
		exts: []ext{extSNI("legacy.example"), extALPNs("http/1.1")}})), 16384)
	tls12SH := records(ctHandshake, 0x0303, append(handshakeMsg(hsServerHello, serverHelloBody(helloSpec{
		version: 0x0303, ciphers: []uint16{0xc02f}, exts: []ext{{0xff01, []byte{0}}}})),
		handshakeMsg(11, bytes.Repeat([]byte{1}, 3000))...), 16384)
	hrr := helloSpec{version: 0x0303, random: hrrRandom[:], ciphers: []uint16{0x1301}, exts: []ext{{extSupportedVersion, u16s(0x0304)}}}
	real := helloSpec{version: 0x0303, ciphers: []uint16{0x1301}, exts: []ext{{extSupportedVersion, u16s(0x0304)}, extALPNs("h2")}}
	tests := []struct {
		name      string
		conv      [][2]any // dir, bytes
		want      map[string]any
		absent    []string
		wantStop  bool
		malformed bool
	}{
		{
			name: "TLS 1.2 with certificate after the ServerHello",
			conv: [][2]any{{l7.FromClient, tls12CH}, {l7.FromServer, tls12SH}},
			want: map[string]any{"tls.version": "1.2", "tls.cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
				"tls.next_protocol": "http/1.1", "tls.client.server_name": "legacy.example"},
			wantStop: true,
		},
		{
			name: "HelloRetryRequest waits for the real ServerHello",
			conv: [][2]any{
				{l7.FromClient, tls12CH},
				{l7.FromServer, records(ctHandshake, 0x0303, handshakeMsg(hsServerHello, serverHelloBody(hrr)), 16384)},
				{l7.FromServer, []byte{20, 3, 3, 0, 1, 1}},
				{l7.FromServer, records(ctHandshake, 0x0303, handshakeMsg(hsServerHello, serverHelloBody(real)), 16384)},
			},
			want:     map[string]any{"tls.version": "1.3", "tls.next_protocol": "h2", "outflow.tls.hello_retry": nil},
			wantStop: true,
		},
		{
			name:   "only a ClientHello",
			conv:   [][2]any{{l7.FromClient, tls12CH}},
			want:   map[string]any{"tls.version_protocol": "tls", "tls.next_protocol": "http/1.1"},
			absent: []string{"tls.version", "tls.cipher", "tls.server.ja3s"},
		},
		{
			name:     "alert instead of a ServerHello",
			conv:     [][2]any{{l7.FromClient, tls12CH}, {l7.FromServer, []byte{21, 3, 3, 0, 2, 2, 40}}},
			want:     map[string]any{"tls.client.server_name": "legacy.example"},
			absent:   []string{"tls.version"},
			wantStop: true,
		},
		{
			name: "oversized hello is malformed",
			conv: [][2]any{{l7.FromClient, records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(helloSpec{
				version: 0x0303, ciphers: make([]uint16, maxHello)})), 16384)}},
			absent:    []string{"tls.client.ja3"},
			malformed: true,
		},
		{
			name:      "not TLS after the first record",
			conv:      [][2]any{{l7.FromClient, append(records(ctHandshake, 0x0301, []byte{1, 0, 0}, 3), "GET / HTTP/1.1\r\n\r\n"...)}},
			absent:    []string{"tls.client.ja3"},
			malformed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP}).(*session)
			more := true
			for _, m := range tt.conv {
				more = s.Feed(ctx, m[0].(l7.Dir), m[1].([]byte))
			}
			got := l7test.Fields(t, s)
			for k, v := range tt.want {
				if v == nil {
					v = true
				}
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s set", k)
				}
			}
			if more == tt.wantStop {
				t.Errorf("Feed returned %v", more)
			}
			if tt.malformed && !s.dir[0].done {
				t.Errorf("client direction still parsing")
			}
		})
	}
}

func TestDTLS(t *testing.T) {
	ch := helloSpec{version: 0xfefd, dtls: true, cookie: []byte{1, 2, 3, 4}, ciphers: []uint16{0xc02b, 0xc0ac},
		exts: []ext{extSNI("dtls.example"), extList16(extSupportedGroups, 0x0017), extList16(extSignatureAlgs, 0x0403)}}
	udp := &l7.FlowInfo{Transport: l7.UDP}
	first := dtlsRecord(hsClientHello, clientHelloBody(ch), 0xfeff, 0)
	if New().Probe(udp, l7.FromClient, first) != l7.VerdictYes {
		t.Fatal("probe rejected a DTLS ClientHello")
	}
	s := New().NewSession(udp)
	s.Feed(ctx, l7.FromClient, first)
	verify := dtlsRecord(hsHelloVerify, append(u16s(0xfeff), prefix8([]byte{9, 9})...), 0xfeff, 0)
	if New().Probe(udp, l7.FromServer, verify) != l7.VerdictYes {
		t.Error("probe rejected a HelloVerifyRequest")
	}
	s.Feed(ctx, l7.FromServer, verify)
	s.Feed(ctx, l7.FromClient, dtlsRecord(hsClientHello, clientHelloBody(ch), 0xfeff, 1))
	sh := dtlsRecord(hsServerHello, serverHelloBody(helloSpec{version: 0xfefd, ciphers: []uint16{0xc02b}}), 0xfefd, 1)
	if s.Feed(ctx, l7.FromServer, sh) {
		t.Error("still feeding after both hellos")
	}
	got := l7test.Fields(t, s)
	if got["tls.client.server_name"] != "dtls.example" || got["tls.version_protocol"] != "dtls" || got["tls.version"] != "1.2" {
		t.Errorf("fields %v", got)
	}
	if ja4, _ := got["tls.client.ja4"].(string); !strings.HasPrefix(ja4, "dd2d0203") {
		t.Errorf("JA4 = %s, want prefix dd2d0203", ja4)
	}
}

func TestBounds(t *testing.T) {
	alpn := make([]string, 40)
	for i := range alpn {
		alpn[i] = fmt.Sprint("p", i)
	}
	exts := []ext{extALPNs(alpn...), extSNI(strings.Repeat("n", 400))}
	for i := range 300 {
		exts = append(exts, ext{uint16(0x1000 + i), nil})
	}
	h, err := ParseClientHello(clientHelloBody(helloSpec{version: 0x0303, ciphers: make([]uint16, 2000), exts: exts}), false)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Truncated || len(h.Ciphers) != maxCiphers || len(h.Extensions) != maxExtensions || len(h.ALPN) != maxALPN || len(h.ServerName) != maxName {
		t.Errorf("bounds: truncated %v ciphers %d extensions %d alpn %d name %d",
			h.Truncated, len(h.Ciphers), len(h.Extensions), len(h.ALPN), len(h.ServerName))
	}
	for i := 0; i < 200; i++ { // every truncation of a hello fails cleanly
		body := clientHelloBody(foxioHello())
		if _, err := ParseClientHello(body[:i], false); err == nil && i < 41 {
			t.Errorf("truncated at %d parsed", i)
		}
	}
}

func TestReset(t *testing.T) {
	c1, s1 := handshake13()
	c2 := records(ctHandshake, 0x0301, handshakeMsg(hsClientHello, clientHelloBody(browserleaksHello())), 16384)
	f := &l7.FlowInfo{Transport: l7.TCP}
	l7test.CheckReset(t, New(), f, f, [2][]byte{c1, s1}, [2][]byte{c2, nil})
}

// TestFingerprintCache checks that cached fingerprints are the computed
// ones, for hellos that share a JA3 string but differ in what only JA4
// reads (ALPN, SNI, supported versions, signature algorithms), seen first
// (a miss) and again (a hit), and across a cache that starts over.
func TestFingerprintCache(t *testing.T) {
	base := helloSpec{version: 0x0303,
		ciphers: []uint16{0x1301, 0x1302, 0xc02b, 0x0a0a},
		exts: []ext{extSNI("a.example"), extList16(extSupportedGroups, 29, 23), extPointFormats(0),
			extALPNs("h2"), extVersions(0x0304, 0x0303), extList16(extSignatureAlgs, 0x0403, 0x0804)}}
	variant := func(i int, e ext) helloSpec {
		h := base
		h.exts = append([]ext(nil), base.exts...)
		h.exts[i] = e
		return h
	}
	specs := map[string]helloSpec{
		"base":           base,
		"other ALPN":     variant(3, extALPNs("http/1.1")),
		"other SNI":      variant(0, extSNI("b.example")),
		"no SNI value":   variant(0, ext{extServerName, prefix16(nil)}),
		"TLS 1.2 only":   variant(4, extVersions(0x0303)),
		"other sig algs": variant(5, extList16(extSignatureAlgs, 0x0804, 0x0403)),
		"fewer sig algs": variant(5, extList16(extSignatureAlgs, 0x0403)),
		"other ciphers":  {version: 0x0303, ciphers: []uint16{0xc02f}, exts: base.exts},
	}
	c := newFPCache()
	for round := 0; round < 3; round++ {
		if round == 2 {
			// Fill the cache so that it starts over.
			for i := 0; len(c.m) < maxFingerprints; i++ {
				h := ClientHello{Version: uint16(i), Ciphers: []uint16{uint16(i >> 16), uint16(i)}}
				c.fingerprints(&h, JA4TCP)
			}
		}
		for name, spec := range specs {
			h, err := ParseClientHello(clientHelloBody(spec), false)
			if err != nil {
				t.Fatal(name, err)
			}
			for _, kind := range []byte{JA4TCP, JA4DTLS} {
				ja3, sum, ja4 := c.fingerprints(&h, kind)
				wja3, wsum := h.JA3()
				if wja4 := h.JA4(kind); ja3 != wja3 || sum != wsum || ja4 != wja4 {
					t.Errorf("round %d, %s, %c: cached %s %s %s, computed %s %s %s", round, name, kind, ja3, sum, ja4, wja3, wsum, wja4)
				}
			}
		}
	}
	for _, sh := range []ServerHello{{Version: 0x0303, Cipher: 0x1301, Extensions: []uint16{43, 51}},
		{Version: 0x0303, Cipher: 0x1302, Extensions: []uint16{43, 51}}, {Version: 0x0301, Cipher: 0x002f}} {
		for range 2 {
			str, sum := c.serverFingerprint(&sh)
			if wstr, wsum := sh.JA3S(); str != wstr || sum != wsum {
				t.Errorf("JA3S cached %s %s, computed %s %s", str, sum, wstr, wsum)
			}
		}
	}
	if len(c.m) > maxFingerprints {
		t.Errorf("cache holds %d entries, bound %d", len(c.m), maxFingerprints)
	}
}
