package synth

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestDNSBuilders(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6 := netip.MustParseAddr("2001:db8::1")
	cases := []struct {
		name    string
		qname   string
		qtype   uint16
		addrs   []netip.Addr
		answers []netip.Addr
	}{
		{"two A", "www.example.com", DNSTypeA, []netip.Addr{a1, a2}, []netip.Addr{a1, a2}},
		{"AAAA among mixed", "v6.example.net.", DNSTypeAAAA, []netip.Addr{a1, v6}, []netip.Addr{v6}},
		{"no data", "none.example.org", DNSTypeA, []netip.Addr{v6}, nil},
		{"63-byte label", strings.Repeat("a", 63) + ".example", DNSTypeA, []netip.Addr{a1}, []netip.Addr{a1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := DNSQuery(0x1234, c.qname, c.qtype)
			if err != nil {
				t.Fatal(err)
			}
			r, err := DNSResponse(0x1234, c.qname, c.qtype, 321, c.addrs)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(c.qname, ".")
			for i, b := range [][]byte{q, r} {
				var d layers.DNS
				if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if d.ID != 0x1234 || d.QR != (i == 1) || !d.RD || len(d.Questions) != 1 {
					t.Fatalf("header: id %#x qr %v rd %v qd %d", d.ID, d.QR, d.RD, len(d.Questions))
				}
				if q := d.Questions[0]; string(q.Name) != want || uint16(q.Type) != c.qtype || q.Class != layers.DNSClassIN {
					t.Fatalf("question %s %v %v", q.Name, q.Type, q.Class)
				}
				if i == 0 {
					continue
				}
				if !d.RA || d.ResponseCode != layers.DNSResponseCodeNoErr || len(d.Answers) != len(c.answers) {
					t.Fatalf("response: ra %v rcode %v answers %d", d.RA, d.ResponseCode, len(d.Answers))
				}
				for j, a := range d.Answers {
					ip, _ := netip.AddrFromSlice(a.IP)
					if string(a.Name) != want || a.TTL != 321 || uint16(a.Type) != c.qtype || ip.Unmap() != c.answers[j] {
						t.Errorf("answer %d: %s %d %v %v", j, a.Name, a.TTL, a.Type, ip)
					}
				}
			}
		})
	}
	for _, bad := range []string{"", ".", "a..b", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefg.", 32) + "com"} {
		if _, err := DNSQuery(1, bad, DNSTypeA); err == nil {
			t.Errorf("DNSQuery(%q) accepted", bad)
		}
	}
}

// helloInfo lets crypto/tls parse a ClientHello and returns what it saw.
func helloInfo(t *testing.T, record []byte) *tls.ClientHelloInfo {
	t.Helper()
	cl, sv := net.Pipe()
	defer cl.Close()
	var info *tls.ClientHelloInfo
	stop := errors.New("stop")
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv := tls.Server(sv, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			info = h
			return nil, stop
		}})
		srv.Handshake()
		sv.Close()
	}()
	cl.SetDeadline(time.Now().Add(5 * time.Second))
	cl.Write(record)
	io.Copy(io.Discard, cl) // the alert, then EOF
	<-done
	if info == nil {
		t.Fatal("crypto/tls did not accept the ClientHello")
	}
	return info
}

func TestClientHello(t *testing.T) {
	cases := []struct {
		name string
		h    ClientHello
	}{
		{"tls13 sni alpn", ClientHello{ServerName: "api.example.com", ALPN: []string{"h2", "http/1.1"}, TLS13: true, SessionID: make([]byte, 32)}},
		{"tls12 sni", ClientHello{ServerName: "old.example.net"}},
		{"no sni", ClientHello{ALPN: []string{"imap"}, TLS13: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := c.h.Record()
			if err != nil {
				t.Fatal(err)
			}
			var l layers.TLS
			if err := l.DecodeFromBytes(rec, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			if len(l.Handshake) != 1 || l.Handshake[0].ContentType != layers.TLSHandshake {
				t.Fatalf("gopacket: %d handshake records", len(l.Handshake))
			}
			if sni := string(l.Handshake[0].ClientHello.SNI); sni != c.h.ServerName {
				t.Errorf("gopacket SNI %q", sni)
			}
			info := helloInfo(t, rec)
			if info.ServerName != c.h.ServerName {
				t.Errorf("crypto/tls SNI %q", info.ServerName)
			}
			if !slices.Equal(info.SupportedProtos, c.h.ALPN) {
				t.Errorf("ALPN %v", info.SupportedProtos)
			}
			if has13 := slices.Contains(info.SupportedVersions, tls.VersionTLS13); has13 != c.h.TLS13 {
				t.Errorf("versions %x", info.SupportedVersions)
			}
		})
	}
}

// tlsRecords splits a byte stream into TLS records (type, body).
func tlsRecords(t *testing.T, b []byte) (types []byte, bodies [][]byte) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("%d bytes of a record header", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[3:]))
		if len(b) < 5+n || n > maxTLSCiphertext {
			t.Fatalf("record length %d of %d", n, len(b)-5)
		}
		types = append(types, b[0])
		bodies = append(bodies, b[5:5+n])
		b = b[5+n:]
	}
	return types, bodies
}

func TestServerHelloAndRecords(t *testing.T) {
	for _, v13 := range []bool{false, true} {
		h := ServerHello{TLS13: v13, SessionID: make([]byte, 32), ALPN: "h2"}
		b := append(h.Record(), TLSChangeCipherSpec()...)
		b = append(b, TLSApplicationData(40000).Materialize(1)...)
		// gopacket decodes no ServerHello (only ClientHello and
		// ClientKeyExchange), so it checks the records after it.
		var l layers.TLS
		if err := l.DecodeFromBytes(b[len(h.Record()):], gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if len(l.ChangeCipherSpec) != 1 || len(l.AppData) != 3 {
			t.Fatalf("gopacket records: %d ccs, %d data", len(l.ChangeCipherSpec), len(l.AppData))
		}
		types, bodies := tlsRecords(t, b)
		if !bytes.Equal(types, []byte{22, 20, 23, 23, 23}) {
			t.Fatalf("record types %v", types)
		}
		if n := len(bodies[2]) + len(bodies[3]) + len(bodies[4]); n != 40000 {
			t.Errorf("application data %d bytes", n)
		}
		hs := bodies[0]
		if hs[0] != 2 || int(hs[1])<<16|int(hs[2])<<8|int(hs[3]) != len(hs)-4 {
			t.Fatalf("handshake header % x", hs[:4])
		}
		body := hs[4:]
		sid := int(body[34])
		cs := binary.BigEndian.Uint16(body[35+sid:])
		ext := body[35+sid+3:]
		if int(binary.BigEndian.Uint16(ext)) != len(ext)-2 {
			t.Fatalf("extensions length %d of %d", binary.BigEndian.Uint16(ext), len(ext)-2)
		}
		found := map[uint16][]byte{}
		for e := ext[2:]; len(e) >= 4; {
			n := int(binary.BigEndian.Uint16(e[2:]))
			found[binary.BigEndian.Uint16(e)] = e[4 : 4+n]
			e = e[4+n:]
		}
		if v13 {
			if cs != 0x1301 || !bytes.Equal(found[43], []byte{3, 4}) || len(found[51]) != 36 {
				t.Errorf("1.3 ServerHello: suite %#x, extensions %v", cs, found)
			}
		} else if cs != 0xc02f || !bytes.Equal(found[16], []byte{0, 3, 2, 'h', '2'}) {
			t.Errorf("1.2 ServerHello: suite %#x, alpn % x", cs, found[16])
		}
	}
}

func TestHTTPBuilders(t *testing.T) {
	reqs := []HTTPRequest{
		{Host: "a.example", Path: "/x?y=1", UserAgent: "curl/8.5.0"},
		{Method: "POST", Host: "b.example", Path: "/up", ContentType: "application/octet-stream", Body: Random(5000),
			Header: [][2]string{{"X-Id", "7"}}},
		{Method: "POST", Host: "c.example"},
	}
	for _, r := range reqs {
		raw := r.Payload().Materialize(3)
		q, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("%s %s: %v", r.Method, r.Host, err)
		}
		body, err := io.ReadAll(q.Body)
		if err != nil {
			t.Fatal(err)
		}
		wantM := r.Method
		if wantM == "" {
			wantM = "GET"
		}
		if q.Method != wantM || q.Host != r.Host || q.UserAgent() != r.UserAgent || len(body) != r.Body.Len() ||
			q.Header.Get("Content-Type") != r.ContentType || (r.Path != "" && q.RequestURI != r.Path) {
			t.Errorf("parsed %s %s host %s ua %q body %d", q.Method, q.RequestURI, q.Host, q.UserAgent(), len(body))
		}
		if r.Method == "POST" && q.ContentLength != int64(r.Body.Len()) {
			t.Errorf("Content-Length %d", q.ContentLength)
		}
	}
	for _, st := range []int{0, 201, 404} {
		raw := HTTPResponse{Status: st, Server: "nginx", ContentType: "text/html", Body: Text(777)}.Payload().Materialize(1)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if want := max(st, 200); resp.StatusCode != want || len(body) != 777 || resp.Header.Get("Server") != "nginx" {
			t.Errorf("status %d body %d", resp.StatusCode, len(body))
		}
	}
}

// sshPackets splits unencrypted SSH binary packets and checks framing.
func sshPackets(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint32(b))
		pad := int(b[4])
		if (n+4)%8 != 0 || pad < 4 || n > len(b)-4 || pad >= n {
			t.Fatalf("packet length %d padding %d of %d", n, pad, len(b))
		}
		out = append(out, b[5:4+n-pad])
		b = b[4+n:]
	}
	return out
}

func sshStrings(t *testing.T, b []byte, n int) ([][]byte, []byte) {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
			t.Fatalf("string %d overruns", i)
		}
		k := int(binary.BigEndian.Uint32(b))
		out = append(out, b[4:4+k])
		b = b[4+k:]
	}
	return out, b
}

func TestSSHBuilders(t *testing.T) {
	if b := SSHBanner("SSH-2.0-x"); string(b) != "SSH-2.0-x\r\n" {
		t.Errorf("banner %q", b)
	}
	for _, server := range []bool{false, true} {
		p := sshPackets(t, SSHKexInit([16]byte{1}, server))
		if len(p) != 1 || p[0][0] != sshMsgKexInit {
			t.Fatal("KEXINIT framing")
		}
		lists, rest := sshStrings(t, p[0][17:], 10)
		if !bytes.HasPrefix(lists[0], []byte("curve25519-sha256,")) || len(rest) != 5 {
			t.Errorf("kex %q, %d trailing bytes", lists[0], len(rest))
		}
	}
	var q [32]byte
	p := sshPackets(t, append(SSHKexECDHReply(q, q, [64]byte{}), SSHNewKeys()...))
	if len(p) != 2 || p[0][0] != sshMsgKexECDHReply || p[1][0] != sshMsgNewKeys {
		t.Fatal("ECDH reply / NEWKEYS framing")
	}
	f, rest := sshStrings(t, p[0][1:], 3)
	key, _ := sshStrings(t, f[0], 2)
	sig, _ := sshStrings(t, f[2], 2)
	if len(rest) != 0 || string(key[0]) != "ssh-ed25519" || len(key[1]) != 32 || len(f[1]) != 32 || len(sig[1]) != 64 {
		t.Error("ECDH reply fields")
	}
	if p := sshPackets(t, SSHKexECDHInit(q)); len(p[0]) != 1+4+32 {
		t.Error("ECDH init length")
	}
}

// smbMsg is one parsed SMB2 message.
type smbMsg struct {
	cmd, structSize uint16
	status          uint32
	response        bool
	msgID, session  uint64
	tree            uint32
	body            []byte // after the 64-byte header
}

func parseSMB2(t *testing.T, b []byte) smbMsg {
	t.Helper()
	if len(b) < 4+64 || b[0] != 0 {
		t.Fatalf("short or not a session message: % x", b[:min(len(b), 8)])
	}
	if n := int(b[1])<<16 | int(b[2])<<8 | int(b[3]); n != len(b)-4 {
		t.Fatalf("NetBIOS length %d, message %d", n, len(b)-4)
	}
	h := b[4:]
	if !bytes.Equal(h[:4], []byte{0xfe, 'S', 'M', 'B'}) || binary.LittleEndian.Uint16(h[4:]) != 64 {
		t.Fatalf("SMB2 header % x", h[:8])
	}
	return smbMsg{
		cmd: binary.LittleEndian.Uint16(h[12:]), status: binary.LittleEndian.Uint32(h[8:]),
		response: binary.LittleEndian.Uint32(h[16:])&1 == 1, msgID: binary.LittleEndian.Uint64(h[24:]),
		tree: binary.LittleEndian.Uint32(h[36:]), session: binary.LittleEndian.Uint64(h[40:]),
		structSize: binary.LittleEndian.Uint16(h[64:]), body: h[64:],
	}
}

func TestSMB2Builders(t *testing.T) {
	c := SMB2Conn{SessionID: 0x1122, TreeID: 5, FileID: [16]byte{9}}
	type step struct {
		req, resp             Payload
		cmd, reqSize, rspSize uint16
	}
	var steps []step
	add := func(cmd, qs, rs uint16) func(q, r Payload) {
		return func(q, r Payload) { steps = append(steps, step{q, r, cmd, qs, rs}) }
	}
	add(smb2Negotiate, 36, 65)(c.Negotiate([16]byte{1}, [16]byte{2}))
	add(smb2SessionSetup, 25, 9)(c.SessionSetup(NTLMNegotiate(), NTLMChallenge([8]byte{3}, "CORP", "fs1"), StatusMoreProcessingRequired))
	auth := NTLMAuthenticate("CORP", "alice", "WS1", [40]byte{})
	add(smb2SessionSetup, 25, 9)(c.SessionSetup(auth, nil, StatusSuccess))
	add(smb2TreeConnect, 9, 16)(c.TreeConnect(`\\fs1\data`))
	add(smb2Create, 57, 89)(c.Create(`dir\naïve.txt`, true))
	add(smb2Write, 49, 17)(c.Write(4096, Random(3000)))
	add(smb2Read, 49, 17)(c.Read(0, Random(1000)))
	add(smb2Close, 24, 60)(c.Close())
	for i, s := range steps {
		q, r := parseSMB2(t, s.req.Materialize(1)), parseSMB2(t, s.resp.Materialize(1))
		if q.cmd != s.cmd || r.cmd != s.cmd || q.response || !r.response || q.msgID != uint64(i) || r.msgID != uint64(i) {
			t.Fatalf("step %d: cmd %#x/%#x, ids %d/%d", i, q.cmd, r.cmd, q.msgID, r.msgID)
		}
		if q.structSize != s.reqSize || r.structSize != s.rspSize {
			t.Errorf("step %d: structure sizes %d/%d", i, q.structSize, r.structSize)
		}
		if wantSess := i >= 2; (q.session == 0x1122) != wantSess {
			t.Errorf("step %d: request session id %#x", i, q.session)
		}
		if wantTree := i >= 4; (q.tree == 5) != wantTree {
			t.Errorf("step %d: request tree id %d", i, q.tree)
		}
		switch s.cmd {
		case smb2SessionSetup:
			off, n := binary.LittleEndian.Uint16(q.body[12:]), binary.LittleEndian.Uint16(q.body[14:])
			blob := q.body[int(off)-64 : int(off)-64+int(n)]
			if !bytes.HasPrefix(blob, []byte("NTLMSSP\x00")) {
				t.Errorf("session setup blob % x", blob[:8])
			}
		case smb2TreeConnect:
			off, n := binary.LittleEndian.Uint16(q.body[4:]), binary.LittleEndian.Uint16(q.body[6:])
			if got := fromUTF16(q.body[int(off)-64 : int(off)-64+int(n)]); got != `\\fs1\data` {
				t.Errorf("tree path %q", got)
			}
		case smb2Create:
			off, n := binary.LittleEndian.Uint16(q.body[44:]), binary.LittleEndian.Uint16(q.body[46:])
			if got := fromUTF16(q.body[int(off)-64 : int(off)-64+int(n)]); got != `dir\naïve.txt` {
				t.Errorf("create name %q", got)
			}
			if !bytes.Equal(r.body[64:80], c.FileID[:]) {
				t.Error("create response file id")
			}
		case smb2Write:
			if off, n := binary.LittleEndian.Uint16(q.body[2:]), binary.LittleEndian.Uint32(q.body[4:]); off != 112 || n != 3000 || len(q.body)-48 != 3000 {
				t.Errorf("write offset %d length %d body %d", off, n, len(q.body)-48)
			}
			if binary.LittleEndian.Uint64(q.body[8:]) != 4096 || binary.LittleEndian.Uint32(r.body[4:]) != 3000 {
				t.Error("write file offset or count")
			}
		case smb2Read:
			if binary.LittleEndian.Uint32(q.body[4:]) != 1000 || r.body[2] != 80 ||
				binary.LittleEndian.Uint32(r.body[4:]) != 1000 || len(r.body)-16 != 1000 {
				t.Error("read lengths")
			}
		}
	}
	// The AUTHENTICATE message's user field points at the UTF-16 name.
	uLen, uOff := binary.LittleEndian.Uint16(auth[36:]), binary.LittleEndian.Uint32(auth[40:])
	dLen, dOff := binary.LittleEndian.Uint16(auth[28:]), binary.LittleEndian.Uint32(auth[32:])
	if fromUTF16(auth[uOff:uOff+uint32(uLen)]) != "alice" || fromUTF16(auth[dOff:dOff+uint32(dLen)]) != "CORP" {
		t.Error("NTLM user/domain fields")
	}
	ntLen, ntOff := binary.LittleEndian.Uint16(auth[20:]), binary.LittleEndian.Uint32(auth[24:])
	kLen, kOff := binary.LittleEndian.Uint16(auth[52:]), binary.LittleEndian.Uint32(auth[56:])
	if int(kOff)+int(kLen) != len(auth) || kOff != ntOff+uint32(ntLen) {
		t.Error("NTLM payload layout")
	}
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func TestNFSBuilders(t *testing.T) {
	c := NFSConn{XID: 77, UID: 1000, GID: 100}
	fh := []byte{1, 2, 3, 4, 5, 6, 7} // odd length: padded on the wire
	for _, n := range []int{1, 4, 4095} {
		wc, wr := c.Write(fh, 8192, Random(n))
		rc, rr := c.Read(fh, 0, Random(n), true)
		for i, m := range []Payload{wc, wr, rc, rr} {
			b := m.Materialize(2)
			mark := binary.BigEndian.Uint32(b)
			if mark&rpcLastFrag == 0 || int(mark&^rpcLastFrag) != len(b)-4 || len(b)%4 != 0 {
				t.Fatalf("n=%d msg %d: record mark %#x for %d bytes", n, i, mark, len(b))
			}
			x := be32s(b[4:])
			wantXID := uint32(77 + 2*(n2i(n)) + i/2)
			if x[0] != wantXID || x[1] != uint32(i%2) {
				t.Fatalf("n=%d msg %d: xid %d type %d", n, i, x[0], x[1])
			}
			if i%2 == 0 { // call
				if x[2] != 2 || x[3] != nfsProgram || x[4] != 3 || x[5] != [...]uint32{nfsProcWrite, nfsProcRead}[i/2] || x[6] != authUnix {
					t.Fatalf("call header %v", x[:7])
				}
				credLen := int(x[7])
				args := b[4+32+credLen+8:]
				a := be32s(args)
				if int(a[0]) != len(fh) || !bytes.Equal(args[4:4+len(fh)], fh) {
					t.Fatal("file handle")
				}
				a = be32s(args[12:]) // after padded handle
				if off := uint64(a[0])<<32 | uint64(a[1]); (i == 0 && off != 8192) || a[2] != uint32(n) {
					t.Errorf("offset %d count %d", off, a[2])
				}
				if i == 0 && (a[3] != nfsFileSync || a[4] != uint32(n)) {
					t.Error("write stable/data length")
				}
			} else if x[2] != 0 || x[3] != authNone || x[5] != 0 || x[6] != 0 {
				t.Fatalf("reply header %v", x[:7])
			} else if i == 1 && x[9] != uint32(n) {
				t.Errorf("write reply count %d", x[9])
			} else if i == 3 && (x[8] != uint32(n) || x[9] != 1 || x[10] != uint32(n)) {
				t.Errorf("read reply count/eof/len %v", x[8:11])
			}
		}
	}
}

func n2i(n int) int { return map[int]int{1: 0, 4: 1, 4095: 2}[n] }

func be32s(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return out
}

func TestTFTPBuilders(t *testing.T) {
	if b := TFTPRequest(true, "a.cfg", "octet"); !bytes.Equal(b, []byte("\x00\x02a.cfg\x00octet\x00")) {
		t.Errorf("WRQ % x", b)
	}
	if b := TFTPRequest(false, "b", "netascii"); !bytes.Equal(b, []byte("\x00\x01b\x00netascii\x00")) {
		t.Errorf("RRQ % x", b)
	}
	if b := TFTPData(258, String("xy")).Materialize(0); !bytes.Equal(b, []byte{0, 3, 1, 2, 'x', 'y'}) {
		t.Errorf("DATA % x", b)
	}
	if b := TFTPAck(7); !bytes.Equal(b, []byte{0, 4, 0, 7}) {
		t.Errorf("ACK % x", b)
	}
}

func TestPayload(t *testing.T) {
	p := Concat(String("head"), Random(1000), Text(500), String("tail"))
	full := p.Materialize(9)
	if len(full) != p.Len() || p.Len() != 1508 || string(full[:4]) != "head" || string(full[1504:]) != "tail" {
		t.Fatal("concat")
	}
	for _, c := range []byte(string(full[1004:1504])) {
		if c != ' ' && c != '\n' && (c < 'a' || c > 'z') {
			t.Fatalf("text filler byte %q", c)
		}
	}
	for _, r := range [][2]int{{0, 4}, {2, 10}, {500, 700}, {1000, 508}, {1400, 1000}, {-5, 3}} {
		got := p.Slice(r[0], r[1]).Materialize(9)
		lo := max(r[0], 0)
		hi := min(lo+r[1], len(full))
		if !bytes.Equal(got, full[lo:hi]) {
			t.Errorf("Slice(%d, %d) differs", r[0], r[1])
		}
	}
	// Reading in segments through one cursor gives the same bytes.
	var cur cursor
	var seg []byte
	for off := 0; off < p.Len(); off += 333 {
		b := make([]byte, min(333, p.Len()-off))
		cur.read(p, b, off, 9)
		seg = append(seg, b...)
	}
	if !bytes.Equal(seg, full) {
		t.Error("segmented read differs")
	}
	if bytes.Equal(Random(64).Materialize(1), Random(64).Materialize(2)) {
		t.Error("filler ignores the seed")
	}
}
