package ftp

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// conn drives one TCP flow through the engine with hand-built headers.
type conn struct {
	t   testing.TB
	e   *l7.Engine
	s   *l7.State
	seq [2]uint32
}

var now int64 = 1e9

func tick() int64 { now += 1e6; return now }

// open begins a flow from client to server and sends the handshake.
func open(t testing.TB, e *l7.Engine, client, server string) *conn {
	t.Helper()
	f := l7.FlowInfo{Transport: l7.TCP, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)}
	c := &conn{t: t, e: e, s: e.Begin(f, tick()), seq: [2]uint32{1000, 90000}}
	e.Packet(c.s, l7.FromClient, &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn, Seq: c.seq[0]}, tick())
	e.Packet(c.s, l7.FromServer, &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPSyn | decode.TCPAck, Seq: c.seq[1]}, tick())
	c.seq[0]++
	c.seq[1]++
	return c
}

func (c *conn) send(dir l7.Dir, payload string) {
	c.sendAt(dir, c.seq[dir], payload)
	c.seq[dir] += uint32(len(payload))
}

func (c *conn) sendAt(dir l7.Dir, seq uint32, payload string) {
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck | decode.TCPPsh, Seq: seq,
		Payload: []byte(payload), PayloadLen: len(payload)}
	c.e.Packet(c.s, dir, h, tick())
}

// lines sends each line terminated by CRLF, one packet per line.
func (c *conn) lines(dir l7.Dir, lines ...string) {
	for _, l := range lines {
		c.send(dir, l+"\r\n")
	}
}

func (c *conn) cmd(l string)   { c.lines(l7.FromClient, l) }
func (c *conn) reply(l string) { c.lines(l7.FromServer, l) }

func (c *conn) end() { c.e.End(c.s, tick()) }

// fields renders the flow's session fields as decoded JSON.
func (c *conn) fields() map[string]any {
	c.t.Helper()
	var d ecs.Doc
	c.s.Fields(&d)
	var m map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
		c.t.Fatalf("fields are not JSON: %v", err)
	}
	return m
}

func (c *conn) summary() l7.Summary {
	var s l7.Summary
	c.s.Summary(&s)
	return s
}

// get walks a dotted path in decoded JSON.
func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func newEngine() *l7.Engine { return l7.NewEngine([]l7.Parser{New()}, l7.EngineConfig{}) }

// login runs the usual greeting and login.
func login(c *conn, banner string) {
	c.reply(banner)
	c.cmd("USER alice")
	c.reply("331 Please specify the password.")
	c.cmd("PASS secret")
	c.reply("230 Login successful.")
	c.cmd("TYPE I")
	c.reply("200 Switching to Binary mode.")
}

func wantData(t *testing.T, d *conn, cmd, name, dir string, n uint64) {
	t.Helper()
	if d.s.Protocol() != DataName {
		t.Fatalf("data flow protocol %q", d.s.Protocol())
	}
	f := d.fields()
	if get(f, "file.name") != nilIfEmpty(name) || get(f, "outflow.ftp_data.command") != cmd ||
		get(f, "outflow.ftp_data.direction") != dir || get(f, "outflow.ftp_data.bytes") != float64(n) {
		t.Fatalf("data fields %v, want %s %q %s %d", f, cmd, name, dir, n)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestTransfers(t *testing.T) {
	const v4c, v4s = "10.0.0.1:40000", "10.0.0.2:21"
	const v6c, v6s = "[2001:db8::1]:40000", "[2001:db8::2]:21"
	tests := []struct {
		name       string
		client     string
		server     string
		setup      func(c *conn) // ends with the data channel announced
		dataClient string        // initiator of the data flow
		dataServer string
		before     bool // data flow opens before the transfer command
		cmd        string
		file       string
		upload     bool
	}{
		{"PASV download, data opens first", v4c, v4s, func(c *conn) {
			c.cmd("PASV")
			c.reply("227 Entering Passive Mode (10,0,0,2,195,80).")
		}, "10.0.0.1:40001", "10.0.0.2:50000", true, "RETR", "report.pdf", false},
		{"PASV without parentheses", v4c, v4s, func(c *conn) {
			c.cmd("PASV")
			c.reply("227 Entering Passive Mode 10,0,0,2,195,81")
		}, "10.0.0.1:40001", "10.0.0.2:50001", false, "STOR", "up.bin", true},
		{"EPSV upload", v4c, v4s, func(c *conn) {
			c.cmd("EPSV")
			c.reply("229 Entering Extended Passive Mode (|||50002|)")
		}, "10.0.0.1:40002", "10.0.0.2:50002", false, "STOR", "secrets.tar", true},
		{"EPSV over IPv6", v6c, v6s, func(c *conn) {
			c.cmd("EPSV")
			c.reply("229 Extended Passive Mode Entered (!!!50003!)")
		}, "[2001:db8::1]:40003", "[2001:db8::2]:50003", true, "APPE", "log.txt", true},
		{"PORT active download", v4c, v4s, func(c *conn) {
			c.cmd("PORT 10,0,0,1,200,10")
			c.reply("200 PORT command successful.")
		}, "10.0.0.2:20", "10.0.0.1:51210", false, "RETR", "a.iso", false},
		{"PORT active, data opens first", v4c, v4s, func(c *conn) {
			c.cmd("PORT 10,0,0,1,200,11")
			c.reply("200 PORT command successful.")
		}, "10.0.0.2:20", "10.0.0.1:51211", true, "STOU", "", true},
		{"EPRT IPv4", v4c, v4s, func(c *conn) {
			c.cmd("EPRT |1|10.0.0.1|50004|")
			c.reply("200 EPRT command successful.")
		}, "10.0.0.2:20", "10.0.0.1:50004", false, "NLST", "", false},
		{"EPRT IPv6", v6c, v6s, func(c *conn) {
			c.cmd("EPRT |2|2001:db8::1|50005|")
			c.reply("200 EPRT command successful.")
		}, "[2001:db8::2]:20", "[2001:db8::1]:50005", false, "RETR", "dir/file name.txt", false},
		{"PASV behind NAT uses control address", "10.0.0.1:40000", "203.0.113.5:21", func(c *conn) {
			c.cmd("PASV")
			c.reply("227 Entering Passive Mode (192,168,1,5,195,82).")
		}, "10.0.0.1:40005", "203.0.113.5:50002", true, "MLSD", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine()
			c := open(t, e, tc.client, tc.server)
			login(c, "220 (vsFTPd 3.0.5)")
			if c.s.Protocol() != Name {
				t.Fatalf("control protocol %q", c.s.Protocol())
			}
			tc.setup(c)
			if st := e.Stats(); st.Expectations != 1 {
				t.Fatalf("%d expectations after the announcement", st.Expectations)
			}
			transferCmd := tc.cmd
			if tc.file != "" {
				transferCmd += " " + tc.file
			}
			var d *conn
			if !tc.before {
				c.cmd(transferCmd)
			}
			d = open(t, e, tc.dataClient, tc.dataServer)
			if d.s.Protocol() != DataName {
				t.Fatalf("data flow not matched: %q (stats %+v)", d.s.Protocol(), e.Stats())
			}
			// The file crosses in its direction, in two segments; the
			// other side sends nothing.
			fileDir := l7.FromServer // download in passive mode: server -> client
			active := strings.HasSuffix(tc.dataClient, ":20")
			if tc.upload != active {
				fileDir = l7.FromClient
			}
			d.send(fileDir, strings.Repeat("x", 1400))
			if tc.before {
				c.cmd(transferCmd)
			}
			d.send(fileDir, strings.Repeat("y", 600))
			d.end()
			c.reply("226 Transfer complete.")
			c.end()

			dir := "download"
			if tc.upload {
				dir = "upload"
			}
			wantData(t, d, tc.cmd, tc.file, dir, 2000)
			sum := c.summary()
			wantFiles := []l7.FileOp{{Op: tc.cmd, Name: tc.file, Dir: map[bool]l7.TransferDir{true: l7.TransferUpload, false: l7.TransferDownload}[tc.upload], Bytes: 2000}}
			if !reflect.DeepEqual(sum.Files, wantFiles) {
				t.Fatalf("control files %+v, want %+v", sum.Files, wantFiles)
			}
			if tc.upload && (sum.Uploaded != 2000 || sum.Downloaded != 0) || !tc.upload && (sum.Downloaded != 2000 || sum.Uploaded != 0) {
				t.Fatalf("control totals up %d down %d", sum.Uploaded, sum.Downloaded)
			}
			if sum.User != "alice" || sum.Protocol != Name {
				t.Fatalf("summary %+v", sum)
			}
			var dsum l7.Summary
			d.s.Summary(&dsum)
			if dsum.Protocol != DataName || dsum.User != "alice" || len(dsum.Files) != 1 || dsum.Files[0].Bytes != 2000 {
				t.Fatalf("data summary %+v", dsum)
			}
			f := c.fields()
			if get(f, "user.name") != "alice" || get(f, "outflow.ftp.user") != "alice" || get(f, "outflow.ftp.tls") != false {
				t.Fatalf("control fields %v", f)
			}
			if cmds, _ := get(f, "outflow.ftp.commands").([]any); len(cmds) != 1 || cmds[0] != transferCmd {
				t.Fatalf("commands %v, want [%s]", get(f, "outflow.ftp.commands"), transferCmd)
			}
			if st := e.Stats(); st.ExpectMatched != 1 || st.Expectations != 0 {
				t.Fatalf("expectation stats %+v", st)
			}
		})
	}
}

func TestIdentification(t *testing.T) {
	tests := []struct {
		name   string
		server string
		talk   func(c *conn)
		want   string
	}{
		{"banner naming FTP on port 8000", "10.0.0.2:8000", func(c *conn) { c.reply("220 ProFTPD Server (Debian) [10.0.0.2]") }, Name},
		{"plain banner then USER on 2121", "10.0.0.2:2121", func(c *conn) {
			c.reply("220 Welcome")
			c.cmd("USER bob")
		}, Name},
		{"plain banner on port 21", "10.0.0.2:21", func(c *conn) { c.reply("220 Welcome") }, Name},
		{"multi-line banner", "10.0.0.2:8021", func(c *conn) {
			c.reply("220-Hello")
			c.reply("220-FileZilla Server 1.8.0")
			c.reply("220 Please visit https://filezilla-project.org/")
		}, Name},
		{"client speaks first (banner lost)", "10.0.0.2:8000", func(c *conn) { c.cmd("AUTH TLS") }, Name},
		{"reply code after plain banner", "10.0.0.2:8000", func(c *conn) {
			c.reply("220 Welcome")
			c.cmd("NOOP")
			c.reply("331 Password required")
		}, Name},
		{"SMTP", "10.0.0.2:25", func(c *conn) {
			c.reply("220 mail.example.com ESMTP Postfix")
			c.cmd("EHLO me")
		}, ""},
		{"SMTP plain banner", "10.0.0.2:2525", func(c *conn) {
			c.reply("220 mail.example.com")
			c.cmd("EHLO me")
		}, ""},
		{"POP3", "10.0.0.2:110", func(c *conn) {
			c.reply("+OK POP3 ready")
			c.cmd("USER bob")
		}, ""},
		{"NNTP", "10.0.0.2:119", func(c *conn) { c.reply("200 news.example.com InterNetNews server") }, ""},
		{"HTTP", "10.0.0.2:8000", func(c *conn) { c.cmd("GET / HTTP/1.1") }, ""},
		{"binary", "10.0.0.2:21", func(c *conn) { c.send(l7.FromServer, "\x16\x03\x01\x00\x10hello") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, newEngine(), "10.0.0.1:40000", tc.server)
			tc.talk(c)
			c.end()
			if c.s.Protocol() != tc.want {
				t.Fatalf("protocol %q, want %q", c.s.Protocol(), tc.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	p := New()
	f21 := &l7.FlowInfo{Transport: l7.TCP, Server: netip.MustParseAddrPort("10.0.0.2:21")}
	f8k := &l7.FlowInfo{Transport: l7.TCP, Server: netip.MustParseAddrPort("10.0.0.2:8000")}
	f110 := &l7.FlowInfo{Transport: l7.TCP, Server: netip.MustParseAddrPort("10.0.0.2:110")}
	tests := []struct {
		f    *l7.FlowInfo
		dir  l7.Dir
		data string
		want l7.Verdict
	}{
		{f8k, l7.FromServer, "22", l7.VerdictMaybe},
		{f8k, l7.FromServer, "220 Microsoft FTP Service\r\n", l7.VerdictYes},
		{f8k, l7.FromServer, "220 Welcome\r\n", l7.VerdictMaybe},
		{f21, l7.FromServer, "220 Welcome\r\n", l7.VerdictYes},
		{f21, l7.FromServer, "220-Welcome\r\n", l7.VerdictMaybe},
		{f8k, l7.FromServer, "220 x ESMTP\r\n", l7.VerdictNo},
		{f8k, l7.FromServer, "220 Welcome\r\n230 Login ok\r\n", l7.VerdictYes},
		{f8k, l7.FromServer, "2x0", l7.VerdictNo},
		{f8k, l7.FromServer, "HTTP/1.1 200 OK\r\n", l7.VerdictNo},
		{f8k, l7.FromServer, "220 ok\x00\r\n", l7.VerdictNo},
		{f8k, l7.FromClient, "US", l7.VerdictMaybe},
		{f8k, l7.FromClient, "USER anonymous\r\n", l7.VerdictYes},
		{f110, l7.FromClient, "USER anonymous\r\n", l7.VerdictMaybe},
		{f8k, l7.FromClient, "user x\r\n", l7.VerdictYes},
		{f8k, l7.FromClient, "AUTH TLS\r\n", l7.VerdictYes},
		{f8k, l7.FromClient, "AUTH PLAIN\r\n", l7.VerdictMaybe},
		{f8k, l7.FromClient, "QUIT\r\nFEAT\r\n", l7.VerdictYes},
		{f8k, l7.FromClient, "\xff\xf4\xff\xf2ABOR\r\n", l7.VerdictYes},
		{f8k, l7.FromClient, "EHLO x\r\n", l7.VerdictNo},
		{f8k, l7.FromClient, "STARTTLS\r\n", l7.VerdictNo},
		{f8k, l7.FromClient, "GET / HTTP/1.1\r\n", l7.VerdictNo},
		{f8k, l7.FromClient, "G3T", l7.VerdictNo},
		{f8k, l7.FromClient, "\x16\x03\x01", l7.VerdictNo},
	}
	for _, tc := range tests {
		if got := p.Probe(tc.f, tc.dir, []byte(tc.data)); got != tc.want {
			t.Errorf("Probe(port %d, dir %d, %q) = %d, want %d", tc.f.Server.Port(), tc.dir, tc.data, got, tc.want)
		}
	}
	data := []byte("220 Welcome\r\n230 Login ok\r\n")
	if n := testing.AllocsPerRun(100, func() { p.Probe(f8k, l7.FromServer, data) }); n != 0 {
		t.Errorf("Probe allocates %v times", n)
	}
}

func TestAuthTLS(t *testing.T) {
	e := newEngine()
	c := open(t, e, "10.0.0.1:40000", "10.0.0.2:21")
	c.reply("220 FTP ready")
	c.cmd("AUTH TLS")
	c.reply("234 Proceed with negotiation.")
	if !c.s.Done() {
		t.Fatal("still parsing after AUTH TLS succeeded")
	}
	c.send(l7.FromClient, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
	if sum := c.summary(); !sum.Encrypted {
		t.Fatalf("summary %+v not encrypted", sum)
	}
	if get(c.fields(), "outflow.ftp.tls") != true {
		t.Fatal("outflow.ftp.tls not set")
	}

	// AUTH refused: parsing goes on.
	c = open(t, e, "10.0.0.1:40001", "10.0.0.2:21")
	c.reply("220 FTP ready")
	c.cmd("AUTH TLS")
	c.reply("534 Not available")
	c.cmd("USER bob")
	if c.s.Done() || c.summary().User != "bob" || c.summary().Encrypted {
		t.Fatalf("after refused AUTH: done %v summary %+v", c.s.Done(), c.summary())
	}
}

func TestEndlessLine(t *testing.T) {
	e := newEngine()
	c := open(t, e, "10.0.0.1:40000", "10.0.0.2:21")
	c.reply("220 FTP ready")
	c.send(l7.FromClient, "USER ")
	for range 3 {
		c.send(l7.FromClient, strings.Repeat("A", 1000))
	}
	if !c.s.Done() {
		t.Fatal("session not stopped by an endless line")
	}
	ps := e.Protocols(nil)
	if ps[0].Protocol != Name || ps[0].Malformed != 1 {
		t.Fatalf("per-protocol stats %+v", ps)
	}
	if get(c.fields(), "outflow.ftp.malformed") != true {
		t.Fatal("malformed not recorded")
	}
}

func TestControlDetails(t *testing.T) {
	e := newEngine()
	c := open(t, e, "10.0.0.1:40000", "10.0.0.2:21")
	c.reply("220-Welcome")
	c.reply("220-227 this is not a PASV reply (1,2,3,4,5,6)")
	c.reply("220 ready")
	// A command split over packets, lower case.
	c.send(l7.FromClient, "us")
	c.send(l7.FromClient, "er carol\r")
	c.send(l7.FromClient, "\n")
	c.reply("331 ok")
	c.cmd("PASS x")
	c.reply("230 ok")
	for i := range MaxCommands + 3 {
		c.cmd("DELE f" + strings.Repeat("z", i%3))
	}
	c.cmd("RNFR a")
	c.cmd("RNTO b")
	// A transfer without any announced channel still counts as a file op.
	c.cmd("RETR lost.txt")
	c.reply("425 Use PORT or PASV first.")
	// Lost bytes on the control channel: resynchronise at the next line.
	c.seq[0] += 10
	c.cmd("SITE CHMOD 777 x")
	c.cmd("MKD newdir")
	c.end()
	if st := e.Stats(); st.Expectations != 0 || st.Gaps != 1 {
		t.Fatalf("stats %+v", st)
	}
	f := c.fields()
	cmds, _ := get(f, "outflow.ftp.commands").([]any)
	if len(cmds) != MaxCommands || cmds[0] != "DELE f" {
		t.Fatalf("commands %v", cmds)
	}
	if get(f, "outflow.ftp.commands_dropped") != float64(3+2+1+1) {
		t.Fatalf("dropped %v", get(f, "outflow.ftp.commands_dropped"))
	}
	if !reflect.DeepEqual(get(f, "outflow.ftp.reply_codes"), []any{220.0, 331.0, 230.0, 425.0}) {
		t.Fatalf("reply codes %v", get(f, "outflow.ftp.reply_codes"))
	}
	sum := c.summary()
	if sum.User != "carol" || len(sum.Files) != 1 || sum.Files[0] != (l7.FileOp{Op: "RETR", Name: "lost.txt", Dir: l7.TransferDownload}) {
		t.Fatalf("summary %+v", sum)
	}
}

func TestFileOpsBounded(t *testing.T) {
	e := newEngine()
	c := open(t, e, "10.0.0.1:40000", "10.0.0.2:21")
	login(c, "220 FTP")
	for i := range l7.MaxFileOps + 4 {
		c.cmd("PASV")
		c.reply("227 Entering Passive Mode (10,0,0,2,100," + string(rune('0'+i%10)) + ").")
		c.cmd("STOR f")
	}
	sum := c.summary()
	if len(sum.Files) != l7.MaxFileOps || sum.FilesDropped != 4 {
		t.Fatalf("files %d dropped %d", len(sum.Files), sum.FilesDropped)
	}
}

func TestPortableParsers(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		fn   string
		in   string
		want netip.AddrPort
		ok   bool
	}{
		{"PASV", "Entering Passive Mode (192,168,1,2,19,137).", ap("192.168.1.2:5001"), true},
		{"PASV", "=192,168,1,2,19,137", ap("192.168.1.2:5001"), true},
		{"PASV", "Entering Passive Mode (192, 168, 1, 2, 19, 137)", ap("192.168.1.2:5001"), true},
		{"PASV", "(1,2,3,4,5) 10,0,0,1,0,21", ap("10.0.0.1:21"), true},
		{"PASV", "(256,1,1,1,1,1)", netip.AddrPort{}, false},
		{"PASV", "(1,1,1,1,0,0)", netip.AddrPort{}, false},
		{"PASV", "Entering Passive Mode", netip.AddrPort{}, false},
		{"PASV", "(1234,1,1,1,1,1)", netip.AddrPort{}, false},
		{"PORT", "10,0,0,1,200,10", ap("10.0.0.1:51210"), true},
		{"PORT", "10,0,0,1,200,10 ", ap("10.0.0.1:51210"), true},
		{"PORT", "10,0,0,1,200", netip.AddrPort{}, false},
		{"PORT", "10,0,0,1,200,10,5", netip.AddrPort{}, false},
		{"EPRT", "|1|132.235.1.2|6275|", ap("132.235.1.2:6275"), true},
		{"EPRT", "|2|1080::8:800:200C:417A|5282|", ap("[1080::8:800:200c:417a]:5282"), true},
		{"EPRT", "!2!2001:db8::1!65535!", ap("[2001:db8::1]:65535"), true},
		{"EPRT", "|1|2001:db8::1|5282|", netip.AddrPort{}, false},
		{"EPRT", "|2|10.0.0.1|5282|", netip.AddrPort{}, false},
		{"EPRT", "|2|::ffff:10.0.0.1|5282|", netip.AddrPort{}, false},
		{"EPRT", "|3|10.0.0.1|5282|", netip.AddrPort{}, false},
		{"EPRT", "|1|10.0.0.1|65536|", netip.AddrPort{}, false},
		{"EPRT", "|1|10.0.0.1|0|", netip.AddrPort{}, false},
		{"EPRT", "|1|10.0.0.1|80", netip.AddrPort{}, false},
		{"EPRT", "|2|fe80::1%eth0|5282|", netip.AddrPort{}, false},
		{"EPRT", "1|10.0.0.1|80|", netip.AddrPort{}, false},
	}
	for _, tc := range tests {
		var got netip.AddrPort
		var ok bool
		switch tc.fn {
		case "PASV":
			got, ok = ParsePASV([]byte(tc.in))
		case "PORT":
			got, ok = ParsePORT([]byte(tc.in))
		case "EPRT":
			got, ok = ParseEPRT([]byte(tc.in))
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse%s(%q) = %v %v, want %v %v", tc.fn, tc.in, got, ok, tc.want, tc.ok)
		}
	}
	epsv := []struct {
		in   string
		port uint16
		ok   bool
	}{
		{"Entering Extended Passive Mode (|||6446|)", 6446, true},
		{"(!!!1!)", 1, true},
		{"(|||65536|)", 0, false},
		{"(|||0|)", 0, false},
		{"(||6446|)", 0, false},
		{"(|||6446)", 0, false},
		{"(111161)", 0, false},
		{"(", 0, false},
		{"no parens |||6446|", 0, false},
	}
	for _, tc := range epsv {
		if port, ok := ParseEPSV([]byte(tc.in)); port != tc.port || ok != tc.ok {
			t.Errorf("ParseEPSV(%q) = %d %v, want %d %v", tc.in, port, ok, tc.port, tc.ok)
		}
	}
}

// dataChannel sets up a bound passive download and returns its data flow.
func dataChannel(tb testing.TB) (*l7.Engine, *l7.State) {
	e := newEngine()
	c := open(tb, e, "10.0.0.1:40000", "10.0.0.2:21")
	login(c, "220 FTP")
	c.cmd("PASV")
	c.reply("227 Entering Passive Mode (10,0,0,2,195,80).")
	c.cmd("RETR big.iso")
	d := open(tb, e, "10.0.0.1:40001", "10.0.0.2:50000")
	if d.s.Protocol() != DataName {
		tb.Fatalf("data flow %q", d.s.Protocol())
	}
	return e, d.s
}

func TestDataAllocs(t *testing.T) {
	e, s := dataChannel(t)
	payload := make([]byte, 1448)
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Seq: 90001, Payload: payload, PayloadLen: len(payload)}
	if n := testing.AllocsPerRun(1000, func() {
		e.Packet(s, l7.FromServer, h, 1)
		h.Seq += uint32(len(payload))
	}); n != 0 {
		t.Fatalf("%v allocs per data packet", n)
	}
	var sum l7.Summary
	s.Summary(&sum)
	if sum.Downloaded != 1001*1448 {
		t.Fatalf("downloaded %d", sum.Downloaded)
	}
}

func BenchmarkDataChannel(b *testing.B) {
	e, s := dataChannel(b)
	payload := make([]byte, 1448)
	h := &decode.Headers{Proto: decode.ProtoTCP, TCPFlags: decode.TCPAck, Seq: 90001, Payload: payload, PayloadLen: len(payload)}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		e.Packet(s, l7.FromServer, h, 1)
		h.Seq += uint32(len(payload))
	}
}

// BenchmarkControlLines feeds replies and commands that record nothing, the
// steady state of a long session.
func BenchmarkControlLines(b *testing.B) {
	c := &control{}
	cmd := []byte("NOOP\r\n")
	rep := []byte("200 NOOP ok.\r\n")
	var ctx l7.Context
	b.ReportAllocs()
	for b.Loop() {
		c.Feed(&ctx, l7.FromClient, cmd)
		c.Feed(&ctx, l7.FromServer, rep)
	}
}

func BenchmarkProbe(b *testing.B) {
	p := New()
	f := &l7.FlowInfo{Transport: l7.TCP, Server: netip.MustParseAddrPort("10.0.0.2:8000")}
	data := []byte("220 Welcome\r\n")
	b.ReportAllocs()
	for b.Loop() {
		p.Probe(f, l7.FromServer, data)
	}
}
