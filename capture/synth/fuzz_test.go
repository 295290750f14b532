package synth

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzDNSBuilders: for any name the builders either refuse it or produce
// messages gopacket decodes back to the same question.
func FuzzDNSBuilders(f *testing.F) {
	f.Add("www.example.com", uint16(1))
	f.Add("a.b.", uint16(28))
	f.Add("x\x00y.\xc0", uint16(255))
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		q, err := DNSQuery(7, name, qtype)
		if err != nil {
			return
		}
		r, err := DNSResponse(7, name, qtype, 60, nil)
		if err != nil {
			t.Fatalf("query accepted, response refused: %v", err)
		}
		for _, b := range [][]byte{q, r} {
			var d layers.DNS
			if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("decode %q: %v", name, err)
			}
			if len(d.Questions) != 1 || string(d.Questions[0].Name) != strings.TrimSuffix(name, ".") {
				t.Fatalf("question %v, want %q", d.Questions, name)
			}
		}
	})
}

// FuzzClientHello: any accepted server name and ALPN list come back out of
// the extensions, whose lengths add up.
func FuzzClientHello(f *testing.F) {
	f.Add("api.example.com", "h2,http/1.1", true)
	f.Add("", "", false)
	f.Add(strings.Repeat("x", 255), ",", true)
	f.Fuzz(func(t *testing.T, sni, alpn string, v13 bool) {
		var protos []string
		if alpn != "" {
			protos = strings.Split(alpn, ",")
		}
		rec, err := ClientHello{ServerName: sni, ALPN: protos, TLS13: v13}.Record()
		if err != nil {
			return
		}
		if len(rec) < 9 || int(binary.BigEndian.Uint16(rec[3:])) != len(rec)-5 {
			t.Fatal("record length")
		}
		hs := rec[5:]
		if hs[0] != 1 || int(hs[1])<<16|int(hs[2])<<8|int(hs[3]) != len(hs)-4 {
			t.Fatal("handshake length")
		}
		b := hs[4+2+32:]
		b = b[1+int(b[0]):]                              // session id
		b = b[2+int(binary.BigEndian.Uint16(b)):]        // cipher suites
		b = b[1+int(b[0]):]                              // compression
		if int(binary.BigEndian.Uint16(b)) != len(b)-2 { // extensions
			t.Fatal("extensions length")
		}
		var gotSNI string
		var gotALPN []string
		for e := b[2:]; len(e) > 0; {
			if len(e) < 4 || int(binary.BigEndian.Uint16(e[2:])) > len(e)-4 {
				t.Fatal("extension overruns")
			}
			typ, n := binary.BigEndian.Uint16(e), int(binary.BigEndian.Uint16(e[2:]))
			body := e[4 : 4+n]
			switch typ {
			case 0:
				gotSNI = string(body[5:])
			case 16:
				for l := body[2:]; len(l) > 0; l = l[1+int(l[0]):] {
					gotALPN = append(gotALPN, string(l[1:1+int(l[0])]))
				}
			}
			e = e[4+n:]
		}
		if gotSNI != sni || strings.Join(gotALPN, ",") != strings.Join(protos, ",") {
			t.Fatalf("got %q %q", gotSNI, gotALPN)
		}
	})
}

// FuzzPayloadSlice: slicing and segmented reads agree with the materialised
// payload for any layout.
func FuzzPayloadSlice(f *testing.F) {
	f.Add([]byte("abc"), uint16(100), uint16(7), uint16(5), uint16(50), uint16(13))
	f.Add([]byte{}, uint16(0), uint16(0), uint16(0), uint16(0), uint16(1))
	f.Fuzz(func(t *testing.T, lit []byte, nRand, nText uint16, off, n, seg uint16) {
		p := Concat(Bytes(lit), Random(int(nRand)), Text(int(nText)), Bytes(lit))
		full := p.Materialize(3)
		if len(full) != p.Len() {
			t.Fatal("length")
		}
		lo := min(int(off), len(full))
		hi := min(lo+int(n), len(full))
		if got := p.Slice(int(off), int(n)).Materialize(3); !bytes.Equal(got, full[lo:hi]) {
			t.Fatalf("Slice(%d, %d)", off, n)
		}
		step := int(seg%2000) + 1
		var cur cursor
		buf := make([]byte, step)
		for o := 0; o < len(full); o += step {
			k := min(step, len(full)-o)
			cur.read(p, buf[:k], o, 3)
			if !bytes.Equal(buf[:k], full[o:o+k]) {
				t.Fatalf("segment at %d", o)
			}
		}
	})
}
