package dns

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

var (
	ctx = &l7.Context{}
	udp = &l7.FlowInfo{Transport: l7.UDP}
	tcp = &l7.FlowInfo{Transport: l7.TCP}
)

// serialize builds a message with gopacket's DNS layer.
func serialize(t testing.TB, d *layers.DNS) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func gpQuery(name string, typ layers.DNSType) *layers.DNS {
	return &layers.DNS{ID: 0xbeef, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: typ, Class: layers.DNSClassIN}}}
}

func gpResponse(q *layers.DNS, answers ...layers.DNSResourceRecord) *layers.DNS {
	r := *q
	r.QR, r.RA = true, true
	r.Answers = answers
	return &r
}

func rrA(name, ip string, ttl uint32) layers.DNSResourceRecord {
	typ := layers.DNSTypeA
	if strings.Contains(ip, ":") {
		typ = layers.DNSTypeAAAA
	}
	return layers.DNSResourceRecord{Name: []byte(name), Type: typ, Class: layers.DNSClassIN, TTL: ttl, IP: net.ParseIP(ip)}
}

func rrCNAME(name, target string) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 60, CNAME: []byte(target)}
}

func tcpFrame(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// compressed is a hand-built response using compression pointers:
// www.example.com CNAME edge.example.net, edge.example.net A 192.0.2.7,
// an unrelated A record, and an EDNS OPT with DO set.
func compressed() []byte {
	m := []byte{0x12, 0x34, 0x81, 0xa0, 0, 1, 0, 3, 0, 0, 0, 1}
	m = append(m, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
	// answer 1: ptr to 12 (www.example.com) CNAME edge.example.net
	cname := []byte{4, 'e', 'd', 'g', 'e', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0}
	m = append(m, 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, byte(len(cname)))
	edge := len(m)
	m = append(m, cname...)
	// answer 2: ptr to edge A 192.0.2.7, ttl 300
	m = append(m, 0xc0, byte(edge), 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 7)
	// answer 3: other.com (pointer to "com" of the question) A 198.51.100.1
	m = append(m, 5, 'o', 't', 'h', 'e', 'r', 0xc0, 12+12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 198, 51, 100, 1)
	// additional: OPT, DO bit
	m = append(m, 0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0)
	return m
}

func TestProbe(t *testing.T) {
	q := serialize(t, gpQuery("www.example.com", layers.DNSTypeA))
	r := serialize(t, gpResponse(gpQuery("www.example.com", layers.DNSTypeA), rrA("www.example.com", "192.0.2.1", 30)))
	edns := serialize(t, &layers.DNS{ID: 1, RD: true, ARCount: 1,
		Questions:   []layers.DNSQuestion{{Name: []byte("example.org"), Type: layers.DNSTypeAAAA, Class: layers.DNSClassIN}},
		Additionals: []layers.DNSResourceRecord{{Type: layers.DNSTypeOPT, Class: 4096}}})
	mdns := serialize(t, &layers.DNS{Questions: []layers.DNSQuestion{
		{Name: []byte("_googlecast._tcp.local"), Type: layers.DNSTypePTR, Class: layers.DNSClassIN | 0x8000},
		{Name: []byte("_spotify-connect._tcp.local"), Type: layers.DNSTypePTR, Class: layers.DNSClassIN}}})
	mod := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	tests := []struct {
		name string
		f    *l7.FlowInfo
		in   []byte
		want l7.Verdict
	}{
		{"query", udp, q, l7.VerdictYes},
		{"response", udp, r, l7.VerdictYes},
		{"query with EDNS", udp, edns, l7.VerdictYes},
		{"mDNS two questions", udp, mdns, l7.VerdictYes},
		{"root query", udp, []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1}, l7.VerdictYes},
		{"compressed response", udp, compressed(), l7.VerdictYes},
		{"nil flow is UDP", nil, q, l7.VerdictYes},
		{"tcp", tcp, tcpFrame(q), l7.VerdictYes},
		{"tcp partial", tcp, tcpFrame(q)[:20], l7.VerdictMaybe},
		{"tcp length only", tcp, tcpFrame(q)[:2], l7.VerdictMaybe},
		{"tcp one byte", tcp, []byte{0}, l7.VerdictMaybe},
		{"tcp tiny length", tcp, []byte{0, 5, 1, 2, 3, 4, 5}, l7.VerdictNo},
		{"udp bytes on tcp", tcp, q, l7.VerdictNo},
		{"empty", udp, nil, l7.VerdictNo},
		{"header only", udp, q[:12], l7.VerdictNo},
		{"truncated question", udp, q[:20], l7.VerdictNo},
		{"trailing bytes", udp, append(append([]byte(nil), q...), 0, 0), l7.VerdictNo},
		{"Z bit", udp, mod(q, 3, q[3]|0x40), l7.VerdictNo},
		{"opcode 3", udp, mod(q, 2, q[2]|3<<3), l7.VerdictNo},
		{"opcode 15", udp, mod(q, 2, q[2]|15<<3), l7.VerdictNo},
		{"rcode 12", udp, mod(r, 3, r[3]|12), l7.VerdictNo},
		{"no question", udp, mod(q, 5, 0), l7.VerdictNo},
		{"5 questions", udp, mod(q, 5, 5), l7.VerdictNo},
		{"query with answers", udp, mod(q, 7, 1), l7.VerdictNo},
		{"response counts beyond datagram", udp, mod(r, 7, 9), l7.VerdictNo},
		{"label too long", udp, mod(q, 12, 64), l7.VerdictNo},
		{"pointer in first name", udp, mod(q, 12, 0xc0), l7.VerdictNo},
		{"non-printable name", udp, mod(q, 13, 0x01), l7.VerdictNo},
		{"class 2", udp, mod(q, len(q)-1, 2), l7.VerdictNo},
		{"type 0", udp, mod(mod(q, len(q)-3, 0), len(q)-4, 0), l7.VerdictNo},
		{"ntp", udp, append([]byte{0x23, 0, 6, 0xe9}, make([]byte, 44)...), l7.VerdictNo},
		{"http", tcp, []byte("GET / HTTP/1.1\r\n\r\n"), l7.VerdictNo},
	}
	p := New()
	for _, tt := range tests {
		if got := p.Probe(tt.f, l7.FromClient, tt.in); got != tt.want {
			t.Errorf("%s: Probe = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestProbeRandom checks that random datagrams are not taken for DNS.
func TestProbeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := New()
	buf := make([]byte, 1500)
	yes := 0
	const n = 200000
	for i := 0; i < n; i++ {
		b := buf[:12+rng.IntN(500)]
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 0 { // header fields a little more DNS-like: flags clear
			b[2], b[3], b[4], b[5] = 0, 0, 0, 1
		}
		if p.Probe(udp, l7.FromClient, b) == l7.VerdictYes {
			yes++
		}
	}
	if yes > 0 {
		t.Errorf("%d of %d random datagrams taken for DNS", yes, n)
	}
}

func TestSession(t *testing.T) {
	s := New().NewSession(udp).(*session)
	q := serialize(t, gpQuery("www.Example.com", layers.DNSTypeA))
	rctx, rec := l7.NewRecordingContext(udp)
	s.Feed(rctx, l7.FromClient, q)
	if !s.Feed(rctx, l7.FromServer, compressed()) {
		t.Fatal("UDP session stopped")
	}
	got := l7test.Fields(t, s)
	want := map[string]any{
		"dns.id": "48879", "dns.op_code": "QUERY", "dns.type": "answer",
		"dns.question.name": "www.Example.com", "dns.question.type": "A", "dns.question.class": "IN",
		"dns.response_code": "NOERROR", "dns.header_flags": []any{"RD", "RA", "AD", "DO"},
		"dns.resolved_ip":     []any{"192.0.2.7", "198.51.100.1"},
		"outflow.dns.queries": 1.0, "outflow.dns.responses": 1.0,
		"outflow.dns.names":            []any{"www.Example.com"},
		"outflow.dns.max_name_length":  15.0,
		"outflow.dns.max_label_length": 7.0,
		"dns.answers": []any{
			map[string]any{"name": "www.example.com", "type": "CNAME", "class": "IN", "ttl": 60.0, "data": "edge.example.net"},
			map[string]any{"name": "edge.example.net", "type": "A", "class": "IN", "ttl": 300.0, "data": "192.0.2.7"},
			map[string]any{"name": "other.com", "type": "A", "class": "IN", "ttl": 5.0, "data": "198.51.100.1"},
		},
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// Only the address on the question's CNAME chain is learned, under
	// the name the client asked.
	wantLearn := []l7.LearnedName{{Addr: netip.MustParseAddr("192.0.2.7"), Name: "www.example.com", TTL: 300}}
	if !reflect.DeepEqual(rec.Names, wantLearn) {
		t.Errorf("learned %v, want %v", rec.Names, wantLearn)
	}
	var sum l7.Summary
	s.Summary(&sum)
	if sum.Protocol != "dns" || sum.Domain != "www.Example.com" {
		t.Errorf("summary %+v", sum)
	}
}

// TestLearnOnly: a session that only learns (another worker's answer)
// teaches the engine the same names as a full one, and builds no record.
func TestLearnOnly(t *testing.T) {
	q := gpQuery("api.example.org", layers.DNSTypeA)
	tests := []struct {
		name string
		resp []byte
	}{
		{"compressed chain", compressed()},
		{"A and AAAA", serialize(t, gpResponse(q, rrA("api.example.org", "192.0.2.1", 30), rrA("api.example.org", "2001:db8::1", 40)))},
		{"CNAME chain", serialize(t, gpResponse(q, rrCNAME("api.example.org", "lb.example.net"), rrCNAME("lb.example.net", "n1.example.com"),
			rrA("n1.example.com", "198.51.100.9", 60), rrA("unrelated.example", "203.0.113.5", 60)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			full, lo := New().NewSession(udp).(*session), New().NewSession(udp).(*session)
			fctx, frec := l7.NewRecordingContext(udp)
			lctx, lrec := l7.NewRecordingContext(udp)
			lctx.LearnOnly = true
			full.Feed(fctx, l7.FromServer, tc.resp)
			lo.Feed(lctx, l7.FromServer, tc.resp)
			if len(frec.Names) == 0 {
				t.Fatal("the full session learned nothing: the case tests nothing")
			}
			if !reflect.DeepEqual(lrec.Names, frec.Names) {
				t.Errorf("learn-only learned %v, full %v", lrec.Names, frec.Names)
			}
			got := l7test.Fields(t, lo)
			for _, k := range []string{"dns.answers", "dns.resolved_ip", "dns.question.name", "outflow.dns.names"} {
				if v, ok := got[k]; ok {
					t.Errorf("learn-only session built %s = %v", k, v)
				}
			}
		})
	}
}

// TestAgainstGopacket builds responses with gopacket and checks that both
// decoders read the same records.
func TestAgainstGopacket(t *testing.T) {
	q := gpQuery("api.example.com", layers.DNSTypeAAAA)
	resp := gpResponse(q,
		rrCNAME("api.example.com", "api.cdn.example"),
		rrCNAME("api.cdn.example", "edge7.cdn.example"),
		rrA("edge7.cdn.example", "2001:db8::7", 120),
		rrA("edge7.cdn.example", "2001:db8::8", 121),
		layers.DNSResourceRecord{Name: []byte("api.example.com"), Type: layers.DNSTypeMX, Class: layers.DNSClassIN, TTL: 9,
			MX: layers.DNSMX{Preference: 10, Name: []byte("mail.example.com")}},
		layers.DNSResourceRecord{Name: []byte("api.example.com"), Type: layers.DNSTypeTXT, Class: layers.DNSClassIN, TTL: 9,
			TXTs: [][]byte{[]byte("v=spf1 "), []byte("-all")}},
		layers.DNSResourceRecord{Name: []byte("api.example.com"), Type: layers.DNSTypeNS, Class: layers.DNSClassIN, TTL: 1, NS: []byte("ns1.example.com")},
	)
	resp.ResponseCode = layers.DNSResponseCodeNoErr
	for _, m := range [][]byte{serialize(t, resp), compressed()} {
		var gp layers.DNS
		if err := gp.DecodeFromBytes(m, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket: %v", err)
		}
		s := New().NewSession(udp).(*session)
		s.Feed(ctx, l7.FromServer, m)
		got := l7test.Fields(t, s)
		if got["dns.question.name"] != string(gp.Questions[0].Name) || got["dns.id"] != fmt.Sprint(gp.ID) ||
			got["dns.question.type"] != gp.Questions[0].Type.String() {
			t.Errorf("question: ours %v %v %v, gopacket %s %d %s", got["dns.question.name"], got["dns.id"], got["dns.question.type"],
				gp.Questions[0].Name, gp.ID, gp.Questions[0].Type)
		}
		answers, _ := got["dns.answers"].([]any)
		if len(answers) != len(gp.Answers) {
			t.Fatalf("answers: ours %d, gopacket %d", len(answers), len(gp.Answers))
		}
		var ips []any
		for i, a := range gp.Answers {
			ours := answers[i].(map[string]any)
			if ours["name"] != string(a.Name) || ours["ttl"] != float64(a.TTL) {
				t.Errorf("answer %d: ours %v, gopacket %s %d", i, ours, a.Name, a.TTL)
			}
			var data string
			switch a.Type {
			case layers.DNSTypeA, layers.DNSTypeAAAA:
				data = a.IP.String()
				ips = append(ips, data)
			case layers.DNSTypeCNAME:
				data = string(a.CNAME)
			case layers.DNSTypeNS:
				data = string(a.NS)
			case layers.DNSTypeMX:
				data = fmt.Sprint(a.MX.Preference, " ", string(a.MX.Name))
			case layers.DNSTypeTXT:
				for _, x := range a.TXTs {
					data += string(x)
				}
			}
			if d, _ := ours["data"].(string); d != data {
				t.Errorf("answer %d data: ours %q, gopacket %q", i, d, data)
			}
		}
		if !reflect.DeepEqual(got["dns.resolved_ip"], ips) {
			t.Errorf("resolved_ip: ours %v, gopacket %v", got["dns.resolved_ip"], ips)
		}
	}
	// The CNAME chain leads to both AAAA records.
	s := New().NewSession(udp).(*session)
	rctx, rec := l7.NewRecordingContext(udp)
	s.Feed(rctx, l7.FromServer, serialize(t, resp))
	if len(rec.Names) != 2 || rec.Names[0].Name != "api.example.com" || rec.Names[1].Name != "api.example.com" || rec.Names[1].TTL != 121 {
		t.Errorf("learned %v", rec.Names)
	}
}

func TestNameDecoding(t *testing.T) {
	hdr := []byte{0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}
	question := []byte{1, 'a', 0, 0, 1, 0, 1}
	msg := func(answerName ...byte) []byte {
		m := append(append(append([]byte{}, hdr...), question...), answerName...)
		return append(m, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1)
	}
	labels := func(sizes ...int) []byte {
		var b []byte
		for _, n := range sizes {
			b = append(b, byte(n))
			b = append(b, strings.Repeat("x", n)...)
		}
		return append(b, 0)
	}
	// 40 pointers, each to the one before: strictly backwards, but too many jumps.
	chain := append(append([]byte{}, hdr...), question...)
	chain[7] = 0 // no answers
	first := len(chain)
	chain = append(chain, 0xc0, 12)
	for i := 1; i < 40; i++ {
		chain = append(chain, 0xc0, byte(first+2*(i-1)))
	}
	tests := []struct {
		name string
		m    []byte
		ok   bool
		want string
	}{
		{"pointer to question", msg(0xc0, 12), true, "a"},
		{"labels then pointer", msg(1, 'b', 0xc0, 12), true, "b.a"},
		{"escapes", msg(3, 'a', '.', 0x07, 0), true, `a\.\007`},
		{"root", msg(0), true, "."},
		{"pointer to itself", msg(0xc0, 19), false, ""},
		{"forward pointer", msg(0xc0, 40), false, ""},
		{"pointer loop through a label", msg(1, 'b', 0xc0, 19), false, ""},
		{"pointer out of range", msg(0xff, 0xff), false, ""},
		{"extended label type", msg(0x40, 0), false, ""},
		{"257 bytes", msg(labels(63, 63, 63, 63)...), false, ""},
		{"256 bytes", msg(labels(63, 63, 63, 62)...), false, ""},
		{"255 bytes", msg(labels(63, 63, 63, 61)...), true, ""},
		{"too many jumps", chain, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nb nameBuf
			off := len(hdr) + len(question)
			if tt.name == "too many jumps" {
				off = len(chain) - 2
			}
			_, _, _, ok := readName(tt.m, off, &nb)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (%q)", ok, tt.ok, nb.bytes())
			}
			if tt.want != "" && string(nb.bytes()) != tt.want {
				t.Errorf("name = %q, want %q", nb.bytes(), tt.want)
			}
			s := New().NewSession(udp).(*session)
			s.Feed(ctx, l7.FromServer, tt.m)
			if (s.malformed == 0) != tt.ok && tt.name != "too many jumps" {
				t.Errorf("malformed = %d", s.malformed)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	q1 := serialize(t, gpQuery("one.example", layers.DNSTypeA))
	q2 := serialize(t, gpQuery("two.example", layers.DNSTypeTXT))
	r1 := serialize(t, gpResponse(gpQuery("one.example", layers.DNSTypeA), rrA("one.example", "192.0.2.1", 10)))
	r2 := serialize(t, gpResponse(gpQuery("two.example", layers.DNSTypeTXT),
		layers.DNSResourceRecord{Name: []byte("two.example"), Type: layers.DNSTypeTXT, Class: layers.DNSClassIN, TTL: 9, TXTs: [][]byte{[]byte("hello")}}))
	streams := [2][]byte{tcpFrame(q1, q2), tcpFrame(r1, r2)}
	ref := New().NewSession(tcp)
	ref.Feed(ctx, l7.FromClient, streams[0])
	ref.Feed(ctx, l7.FromServer, streams[1])
	want := l7test.Fields(t, ref)
	if want["outflow.dns.queries"] != 2.0 || want["outflow.dns.responses"] != 2.0 ||
		!reflect.DeepEqual(want["outflow.dns.names"], []any{"one.example", "two.example"}) {
		t.Fatalf("reference %v", want)
	}
	for side := range streams {
		for i := 0; i <= len(streams[side]); i++ {
			s := New().NewSession(tcp)
			for d := range streams {
				if d != side {
					s.Feed(ctx, l7.Dir(d), streams[d])
					continue
				}
				s.Feed(ctx, l7.Dir(d), streams[d][:i])
				s.Feed(ctx, l7.Dir(d), streams[d][i:])
			}
			if got := l7test.Fields(t, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("stream %d split at %d: %v", side, i, got)
			}
		}
	}

	// A message longer than the buffer is parsed from its first part.
	var answers []layers.DNSResourceRecord
	for i := 0; i < 600; i++ {
		answers = append(answers, rrA("big.example", fmt.Sprintf("10.0.%d.%d", i/256, i%256), 1))
	}
	big := serialize(t, gpResponse(gpQuery("big.example", layers.DNSTypeA), answers...))
	if len(big) <= maxTCPMsg {
		t.Fatalf("test message of %d bytes fits the buffer", len(big))
	}
	s := New().NewSession(tcp).(*session)
	s.Feed(ctx, l7.FromServer, tcpFrame(big, r1))
	if s.responses != 2 || s.malformed != 0 || len(s.ips) != maxIPs || cap(s.dir[1].buf) > 2*maxTCPMsg {
		t.Errorf("big: responses %d malformed %d ips %d buf %d", s.responses, s.malformed, len(s.ips), cap(s.dir[1].buf))
	}

	// A gap inside a message loses that message only.
	s = New().NewSession(tcp).(*session)
	f := tcpFrame(q1, q2)
	s.Feed(ctx, l7.FromClient, f[:10])
	s.Gap(ctx, l7.FromClient, len(q1)-8)
	s.Feed(ctx, l7.FromClient, f[2+len(q1):])
	if s.queries != 1 || s.qname != "two.example" {
		t.Errorf("after gap: queries %d first %q", s.queries, s.qname)
	}
	// A gap in a length prefix loses the framing.
	s.Feed(ctx, l7.FromClient, f[:1])
	if s.Gap(ctx, l7.FromClient, 3); !s.dir[0].dead {
		t.Error("framing survived a gap in a length prefix")
	}
}

func TestExfiltrationShape(t *testing.T) {
	s := New().NewSession(udp).(*session)
	for i := 0; i < 40; i++ {
		label := fmt.Sprintf("%02d%s", i, strings.Repeat("a", 58))
		name := label + "." + strings.Repeat("b", 63) + ".t.example"
		s.Feed(ctx, l7.FromClient, serialize(t, gpQuery(name, layers.DNSTypeTXT)))
	}
	got := l7test.Fields(t, s)
	if got["outflow.dns.queries"] != 40.0 || got["outflow.dns.max_label_length"] != 63.0 ||
		got["outflow.dns.max_name_length"] != float64(60+1+63+10) || got["outflow.dns.names_dropped"] != 24.0 ||
		len(got["outflow.dns.names"].([]any)) != maxNames || got["dns.type"] != "query" {
		t.Errorf("fields %v", got)
	}
}

func TestBoundedAnswers(t *testing.T) {
	var answers []layers.DNSResourceRecord
	for i := 0; i < 40; i++ {
		answers = append(answers, rrA("many.example", fmt.Sprintf("10.1.0.%d", i), 1))
	}
	s := New().NewSession(udp).(*session)
	rctx, rec := l7.NewRecordingContext(udp)
	s.Feed(rctx, l7.FromServer, serialize(t, gpResponse(gpQuery("many.example", layers.DNSTypeA), answers...)))
	got := l7test.Fields(t, s)
	if len(got["dns.answers"].([]any)) != maxAnswers || len(got["dns.resolved_ip"].([]any)) != maxIPs || len(rec.Names) != maxIPs {
		t.Errorf("answers %d ips %d learned %d", len(got["dns.answers"].([]any)), len(got["dns.resolved_ip"].([]any)), len(rec.Names))
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{typeName(1), "A"}, {typeName(65), "HTTPS"}, {typeName(65280), "TYPE65280"},
		{className(1), "IN"}, {className(7), "CLASS7"},
		{rcodeName(3), "NXDOMAIN"}, {rcodeName(16), "BADVERS"}, {rcodeName(30), "RCODE30"},
		{opcodeName(5), "UPDATE"}, {opcodeName(9), "OPCODE9"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestReset(t *testing.T) {
	q := serialize(t, gpQuery("other.example", layers.DNSTypeAAAA))
	framed := append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)
	first := [2][]byte{serialize(t, gpQuery("www.Example.com", layers.DNSTypeA)), compressed()}
	l7test.CheckReset(t, New(), udp, tcp, first, [2][]byte{framed, nil})
}
