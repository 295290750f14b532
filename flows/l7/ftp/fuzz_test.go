package ftp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// FuzzControl runs a control connection through the engine: after a fixed
// greeting, the input is cut into segments (byte: bit 7 direction, low bits
// length) carrying whatever follows. Data flows for the announced channels
// are then opened. Nothing may panic and every bound must hold.
func FuzzControl(f *testing.F) {
	f.Add([]byte("\x08USER bob\x06\r\nPASV\x80\x2f227 Entering Passive Mode (10,0,0,2,195,80).\r\n\x0bRETR a.txt\r\n"))
	f.Add([]byte("\x1bEPRT |2|2001:db8::1|50005|\r\n\x09STOR x\r\n\x0cAUTH TLS\r\n\x80\x06234 ok"))
	f.Add([]byte("\x80\x05230-a\n\x80\x0c230 b\r\n229 (\x80\x0a|||6446|)\n"))
	f.Add([]byte("\x7fPORT 10,0,0,1,200,10\r\nLIST\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e := l7.NewEngine([]l7.Parser{New()}, l7.EngineConfig{StreamBuffer: 256})
		fl := l7.FlowInfo{Transport: l7.TCP, Client: netip.MustParseAddrPort("10.0.0.1:40000"),
			Server: netip.MustParseAddrPort("10.0.0.2:21")}
		s := e.Begin(fl, 1)
		seq := [2]uint32{1, 1}
		send := func(dir l7.Dir, b []byte) {
			h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Seq: seq[dir], Payload: b, PayloadLen: len(b)}
			e.Packet(s, dir, h, 2)
			seq[dir] += uint32(len(b))
		}
		send(l7.FromServer, []byte("220 FTP server ready\r\n"))
		if s.Protocol() != Name {
			t.Fatal("greeting not identified")
		}
		for len(in) > 0 {
			dir := l7.Dir(in[0] >> 7)
			n := min(int(in[0]&0x7f), len(in)-1)
			if in[0]&0x7f == 0x7f {
				seq[dir] += 7 // a hole
			}
			send(dir, in[1:1+n])
			in = in[1+n:]
		}
		e.End(s, 3)
		var d ecs.Doc
		s.Fields(&d)
		var m map[string]any
		if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
			t.Fatalf("fields not JSON: %v", err)
		}
		cmds, _ := get(m, "outflow.ftp.commands").([]any)
		codes, _ := get(m, "outflow.ftp.reply_codes").([]any)
		if len(cmds) > MaxCommands || len(codes) > MaxReplyCodes {
			t.Fatalf("bounds broken: %d commands %d codes", len(cmds), len(codes))
		}
		var sum l7.Summary
		s.Summary(&sum)
		if len(sum.Files) > l7.MaxFileOps {
			t.Fatalf("%d files", len(sum.Files))
		}
		// Open whatever data flows might match and push bytes through.
		for i, srv := range []string{"10.0.0.2:50000", "10.0.0.1:51210", "[2001:db8::1]:50005", "10.0.0.2:6446"} {
			ds := e.Begin(l7.FlowInfo{Transport: l7.TCP, Client: netip.MustParseAddrPort(fmt.Sprintf("10.0.0.%d:20", i)),
				Server: netip.MustParseAddrPort(srv)}, 4)
			e.Packet(ds, l7.FromServer, &decode.Headers{Proto: decode.ProtoTCP, Seq: 9, Payload: []byte("data"), PayloadLen: 4}, 5)
			e.End(ds, 6)
			ds.Fields(&d)
			ds.Summary(&sum)
			e.Release(ds)
		}
		s.Summary(&sum)
		e.Release(s)
	})
}

// FuzzParsers checks the address parsers never panic, and that what they
// accept formats back to itself.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"(192,168,1,2,19,137)", "10,0,0,1,200,10", "|1|132.235.1.2|6275|",
		"|2|1080::8:800:200C:417A|5282|", "(|||6446|)", "(!!!1!)", "=1,2,3,4,5,6", "|2|::ffff:1.2.3.4|1|"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ap, ok := ParsePASV(b); ok {
			if !ap.Addr().Is4() || ap.Port() == 0 {
				t.Fatalf("PASV %v", ap)
			}
		}
		if ap, ok := ParsePORT(b); ok {
			a := ap.Addr().As4()
			s := fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], ap.Port()>>8, ap.Port()&0xff)
			if again, ok := ParsePORT([]byte(s)); !ok || again != ap {
				t.Fatalf("PORT %q -> %v -> %q -> %v", b, ap, s, again)
			}
		}
		if ap, ok := ParseEPRT(b); ok {
			af := 1
			if ap.Addr().Is6() {
				af = 2
			}
			s := fmt.Sprintf("|%d|%s|%d|", af, ap.Addr(), ap.Port())
			if again, ok := ParseEPRT([]byte(s)); !ok || again != ap {
				t.Fatalf("EPRT %q -> %v -> %q -> %v", b, ap, s, again)
			}
		}
		if port, ok := ParseEPSV(b); ok && port == 0 {
			t.Fatal("EPSV port 0")
		}
		v, arg, ok := splitCommand(b)
		if ok && len(arg) > len(b) || !ok && v != 0 {
			t.Fatal("splitCommand")
		}
		parseReply(b)
	})
}

// FuzzProbe checks Probe never panics in either direction.
func FuzzProbe(f *testing.F) {
	for _, s := range []string{"220 FTP\r\n", "220-a\r\n220 b\r\n331 x\r\n", "USER a\r\n", "AUTH TLS\r\n", "\xff\xf4\xff\xf2ABOR\r\n", "22"} {
		f.Add([]byte(s), uint16(21))
	}
	p := New()
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		fl := &l7.FlowInfo{Transport: l7.TCP, Server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)}
		for _, dir := range []l7.Dir{l7.FromClient, l7.FromServer} {
			if v := p.Probe(fl, dir, b); v > l7.VerdictYes {
				t.Fatalf("verdict %d", v)
			}
		}
	})
}
