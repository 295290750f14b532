package synth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/capture"
)

var (
	cli4 = netip.MustParseAddr("172.17.0.9")
	srv4 = netip.MustParseAddr("203.0.113.7")
	cli6 = netip.MustParseAddr("fd00::9")
	srv6 = netip.MustParseAddr("2001:db8::7")
)

// encapScenario exercises every encapsulation and flow option.
func encapScenario(seed uint64) *Scenario {
	s := NewScenario("encap", seed, time.Time{})
	ep := func(c, sv netip.Addr, port uint16) Endpoints {
		return Endpoints{Client: c, Server: sv, ClientPort: s.EphemeralPort(c), ServerPort: port}
	}
	vx4 := &VXLAN{VNI: 4242, ClientVTEP: netip.MustParseAddr("10.0.0.1"), ServerVTEP: netip.MustParseAddr("10.0.0.2")}
	vx6 := &VXLAN{VNI: 7, ClientVTEP: netip.MustParseAddr("fd10::1"), ServerVTEP: netip.MustParseAddr("fd10::2"), SourcePort: 51000}

	e := ep(cli4, srv4, 80)
	e.VLANs = []uint16{100}
	s.HTTP(e, time.Second, []HTTPExchange{{Request: HTTPRequest{Host: "a.example", UserAgent: "t"}, Response: HTTPResponse{Body: Text(4000)}}}, TCPOptions{})
	e = ep(cli6, srv6, 443)
	e.VLANs = []uint16{10, 20}
	s.TLS(e, 1100*time.Millisecond, TLSSession{ServerName: "v6.example", TLS13: true, Exchanges: []Exchange{{Up: 100, Down: 20000}}}, TCPOptions{})
	e = ep(cli4, srv4, 2121)
	e.VXLAN = vx4
	s.FTP(e, 2*time.Second, FTPSession{Mode: FTPActive, Command: "RETR", File: "f.bin", Data: Random(30000)}, TCPOptions{RTT: 5 * time.Millisecond})
	e = ep(cli6, srv6, 21)
	e.VXLAN = vx6
	s.FTP(e, 2*time.Second, FTPSession{Mode: FTPExtActive, Command: "STOR", Data: Random(5000)}, TCPOptions{})
	s.FTP(ep(cli6, srv6, 21), 3*time.Second, FTPSession{Mode: FTPExtPassive, Command: "LIST", Data: FTPListing([]string{"a", "b"}, []int{1, 2})}, TCPOptions{})
	s.TFTP(ep(cli4, srv4, 69), 3*time.Second, TFTPTransfer{File: "boot.img", Data: Random(2048)}, UDPOptions{})
	s.NFS(Endpoints{Client: cli4, Server: srv4, ClientPort: 876}, 4*time.Second, NFSSession{Write: Random(70000), Read: 40000}, TCPOptions{RTT: time.Millisecond})
	s.SMB2(ep(cli6, srv6, 445), 4*time.Second, SMB2Session{Write: Random(70000), Read: 70000}, TCPOptions{})
	s.SSH(ep(cli4, srv4, 22), 5*time.Second, SSHSession{Exchanges: []Exchange{{Up: 64, Down: 200}}}, TCPOptions{})
	s.DNS(ep(cli6, srv6, 53), 5*time.Second, "six.example", DNSTypeAAAA, 60, []netip.Addr{srv6, srv4}, UDPOptions{})
	s.Ping(Endpoints{Client: cli4, Server: srv4, ClientPort: 99}, 6*time.Second, 3, 500*time.Millisecond, 56, 0)
	s.Ping(Endpoints{Client: cli6, Server: srv6, ClientPort: 98}, 6*time.Second, 2, 500*time.Millisecond, 24, 0)
	mid := s.TCP(ep(cli4, srv4, 9000), 6*time.Second, "", TCPOptions{MidStream: true, ServerLocal: true})
	mid.Send(ToClient, Random(9000), 0)
	mid.Send(ToServer, Random(100), time.Millisecond)
	mid.Reset(ToClient, 0)
	return s
}

// multiIfScenario puts flows on an Ethernet, a raw-IP and a Linux cooked
// interface of one pcapng file.
func multiIfScenario(seed uint64) *Scenario {
	s := NewScenario("multi-if", seed, time.Time{})
	for i := 0; i < 3; i++ {
		e := Endpoints{Client: cli4, Server: srv4, ClientPort: uint16(40000 + i), ServerPort: 80, Interface: i}
		s.HTTP(e, time.Duration(i)*time.Millisecond, []HTTPExchange{{Request: HTTPRequest{Host: "x"}, Response: HTTPResponse{Body: Random(3000)}}}, TCPOptions{})
		e6 := Endpoints{Client: cli6, Server: srv6, ClientPort: uint16(40000 + i), ServerPort: 53, Interface: i}
		s.DNS(e6, time.Second, "q.example", DNSTypeAAAA, 5, []netip.Addr{srv6}, UDPOptions{})
	}
	return s
}

var multiIf = []Interface{
	{Name: "eth0", Link: capture.LinkEthernet},
	{Name: "tun0", Link: capture.LinkRaw},
	{Name: "any", Link: capture.LinkLinuxSLL},
}

type scenarioCase struct {
	name string
	make func(seed uint64) *Scenario
	opts []WriterOptions
}

func scenarioCases() []scenarioCase {
	all := []WriterOptions{{}, {Gzip: true}, {Format: PCAPNG}, {Format: PCAPNG, Gzip: true}}
	return []scenarioCase{
		{"demo", Demo, all},
		{"bench", func(seed uint64) *Scenario {
			s, err := Bench(6000, 300, seed)
			if err != nil {
				panic(err)
			}
			return s
		}, all},
		{"encap", encapScenario, all},
		{"multi-if", multiIfScenario, []WriterOptions{{Format: PCAPNG, Interfaces: multiIf}}},
	}
}

func TestDeterministic(t *testing.T) {
	for _, sc := range scenarioCases() {
		for _, opt := range sc.opts {
			t.Run(sc.name+"/"+opt.Format.String()+gzName(opt), func(t *testing.T) {
				a, _ := writeScenario(t, sc.make(11), opt)
				b, _ := writeScenario(t, sc.make(11), opt)
				if sha256.Sum256(a) != sha256.Sum256(b) {
					t.Fatal("same seed, different bytes")
				}
				// Running one scenario twice gives the same file too.
				s := sc.make(11)
				c, _ := writeScenario(t, s, opt)
				d, _ := writeScenario(t, s, opt)
				if !bytes.Equal(a, c) || !bytes.Equal(c, d) {
					t.Fatal("rerun of a scenario differs")
				}
				e, _ := writeScenario(t, sc.make(12), opt)
				if bytes.Equal(a, e) {
					t.Fatal("different seeds, same bytes")
				}
			})
		}
	}
}

func gzName(o WriterOptions) string {
	if o.Gzip {
		return "+gz"
	}
	return ""
}

// TestManifestMatchesFile re-reads each file with pcapgo and gopacket and
// checks the manifest against what is there: per-flow packets and IP bytes
// by direction, first and last times, checksums and time order.
func TestManifestMatchesFile(t *testing.T) {
	for _, sc := range scenarioCases() {
		for _, opt := range sc.opts {
			t.Run(sc.name+"/"+opt.Format.String()+gzName(opt), func(t *testing.T) {
				file, m := writeScenario(t, sc.make(5), opt)
				pkts := readCapture(t, file)
				checkManifest(t, m, pkts)
			})
		}
	}
}

func checkManifest(t *testing.T, m *Manifest, pkts []readPkt) {
	t.Helper()
	type slot struct {
		rec *FlowRecord
		dir Dir
	}
	keys := make(map[string]slot)
	for _, r := range m.Flows {
		a, b := recordKeys(r)
		if _, dup := keys[a]; dup {
			t.Fatalf("two flows share %s", a)
		}
		keys[a], keys[b] = slot{r, ToServer}, slot{r, ToClient}
	}
	got := make(map[*FlowRecord]*[2]Counters)
	first := make(map[*FlowRecord][2]int64)
	var last int64
	var bytes int64
	for i, p := range pkts {
		if p.ts < last {
			t.Fatalf("packet %d goes back in time", i+1)
		}
		last = p.ts
		bytes += int64(len(p.frame))
		if err := verifyChecksums(p.pkt); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		s, ok := keys[p.key]
		if !ok {
			t.Fatalf("packet %d (%s) belongs to no manifest flow", i+1, p.key)
		}
		c := got[s.rec]
		if c == nil {
			c = new([2]Counters)
			got[s.rec] = c
			first[s.rec] = [2]int64{p.ts, p.ts}
		}
		c[s.dir].Packets++
		c[s.dir].IPBytes += int64(p.ipLen)
		fl := first[s.rec]
		fl[1] = p.ts
		first[s.rec] = fl
	}
	if int64(len(pkts)) != m.Packets || bytes != m.Bytes {
		t.Errorf("file has %d packets / %d bytes, manifest says %d / %d", len(pkts), bytes, m.Packets, m.Bytes)
	}
	np, nb := m.Totals()
	var fb int64
	for _, p := range pkts {
		fb += int64(p.ipLen)
	}
	if np != int64(len(pkts)) || nb != fb {
		t.Errorf("manifest totals %d packets / %d IP bytes, file %d / %d", np, nb, len(pkts), fb)
	}
	for _, r := range m.Flows {
		c := got[r]
		if c == nil {
			t.Errorf("flow %d (%s) has no packets in the file", r.ID, r.Key())
			continue
		}
		if c[ToServer] != r.ToServer || c[ToClient] != r.ToClient {
			t.Errorf("flow %d (%s): file %+v/%+v, manifest %+v/%+v", r.ID, r.Key(), c[ToServer], c[ToClient], r.ToServer, r.ToClient)
		}
		if fl := first[r]; fl[0] != r.First.UnixNano() || fl[1] != r.Last.UnixNano() {
			t.Errorf("flow %d: file spans %d-%d, manifest %v-%v", r.ID, fl[0], fl[1], r.First, r.Last)
		}
	}
}

// TestEncapsulation checks the headers each option puts on the wire.
func TestEncapsulation(t *testing.T) {
	file, m := writeScenario(t, encapScenario(3), WriterOptions{Format: PCAPNG})
	pkts := readCapture(t, file)
	byKey := make(map[string][]readPkt)
	for _, p := range pkts {
		byKey[p.key] = append(byKey[p.key], p)
	}
	seen := map[string]bool{}
	for _, r := range m.Flows {
		a, _ := recordKeys(r)
		ps := byKey[a]
		if len(ps) == 0 {
			t.Fatalf("flow %s: no client packets", a)
		}
		p := ps[0]
		var tags []uint16
		var vni *uint32
		var ips int
		for _, l := range p.pkt.Layers() {
			switch v := l.(type) {
			case *layers.Dot1Q:
				tags = append(tags, v.VLANIdentifier)
			case *layers.VXLAN:
				n := v.VNI
				vni = &n
				if !v.ValidIDFlag {
					t.Errorf("flow %s: VXLAN I flag not set", a)
				}
			case *layers.IPv4, *layers.IPv6:
				ips++
			}
		}
		if !equalU16(tags, r.VLANs) {
			t.Errorf("flow %s: VLAN tags %v, want %v", a, tags, r.VLANs)
		}
		if (vni == nil) != (r.VXLAN == nil) || (vni != nil && *vni != *r.VXLAN) {
			t.Errorf("flow %s: VXLAN %v, want %v", a, vni, r.VXLAN)
		}
		if want := 1 + btoi(r.VXLAN != nil); ips != want {
			t.Errorf("flow %s: %d IP headers, want %d", a, ips, want)
		}
		for _, q := range ps {
			if q.tcp != nil && q.tcp.SYN && !q.tcp.ACK {
				seen["syn"] = true
			}
		}
		if len(tags) > 0 {
			seen["vlan"] = true
		}
		if vni != nil {
			seen["vxlan"] = true
		}
		if r.Meta["midstream"] == "true" {
			seen["midstream"] = true
			for _, q := range append(byKey[a], byKey[strings.Replace(a, ">", "<", 1)]...) {
				if q.tcp != nil && q.tcp.SYN {
					t.Errorf("mid-stream flow %s has a SYN", a)
				}
			}
		}
	}
	// Segments fill but never exceed a 1500-byte MTU, encapsulation
	// included.
	full := false
	for _, p := range pkts {
		for _, l := range p.pkt.Layers() {
			var n int
			switch v := l.(type) {
			case *layers.IPv4:
				n = int(v.Length)
			case *layers.IPv6:
				n = 40 + int(v.Length)
			default:
				continue
			}
			if n > 1500 {
				t.Fatalf("%s: %d-byte IP packet", p.key, n)
			}
			full = full || n == 1500
			break
		}
	}
	if !full {
		t.Error("no full-size packet")
	}
	for _, k := range []string{"syn", "vlan", "vxlan", "midstream"} {
		if !seen[k] {
			t.Errorf("scenario covers no %s flow", k)
		}
	}
}

func TestMultipleInterfaces(t *testing.T) {
	file, m := writeScenario(t, multiIfScenario(1), WriterOptions{Format: PCAPNG, Interfaces: multiIf})
	pkts := readCapture(t, file)
	checkManifest(t, m, pkts)
	first := map[gopacket.LayerType]bool{}
	for _, p := range pkts {
		first[p.pkt.Layers()[0].LayerType()] = true
	}
	for _, lt := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeIPv6, layers.LayerTypeLinuxSLL} {
		if !first[lt] {
			t.Errorf("no packet starts with %v", lt)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, WriterOptions{Interfaces: multiIf}); err == nil {
		t.Error("pcap with three interfaces accepted")
	}
	if _, err := NewWriter(&buf, WriterOptions{Interfaces: []Interface{{Link: capture.LinkNull}}}); err == nil {
		t.Error("unsupported link type accepted")
	}
	cases := []struct {
		name  string
		build func(s *Scenario)
		opt   WriterOptions
	}{
		{"mixed families", func(s *Scenario) {
			s.TCP(Endpoints{Client: cli4, Server: srv6}, 0, "", TCPOptions{}).Close(ToServer, 0)
		}, WriterOptions{}},
		{"no addresses", func(s *Scenario) { s.UDP(Endpoints{}, 0, "", UDPOptions{}).Send(ToServer, Text(1), 0) }, WriterOptions{}},
		{"send after close", func(s *Scenario) {
			c := s.TCP(Endpoints{Client: cli4, Server: srv4}, 0, "", TCPOptions{})
			c.Close(ToServer, 0)
			c.Send(ToServer, Text(10), 0)
		}, WriterOptions{}},
		{"udp back in time", func(s *Scenario) {
			u := s.UDP(Endpoints{Client: cli4, Server: srv4}, 0, "", UDPOptions{})
			u.SendAt(ToServer, Text(1), time.Second)
			u.SendAt(ToServer, Text(1), 0)
		}, WriterOptions{}},
		{"bad vlan", func(s *Scenario) {
			s.UDP(Endpoints{Client: cli4, Server: srv4, VLANs: []uint16{5000}}, 0, "", UDPOptions{}).Send(ToServer, Text(1), 0)
		}, WriterOptions{}},
		{"vlan on raw interface", func(s *Scenario) {
			s.UDP(Endpoints{Client: cli4, Server: srv4, VLANs: []uint16{5}}, 0, "", UDPOptions{}).Send(ToServer, Text(1), 0)
		}, WriterOptions{Interfaces: []Interface{{Link: capture.LinkRaw}}}},
		{"oversized datagram", func(s *Scenario) {
			s.UDP(Endpoints{Client: cli4, Server: srv4}, 0, "", UDPOptions{}).Send(ToServer, Random(70000), 0)
		}, WriterOptions{}},
		{"oversized echo", func(s *Scenario) { s.Ping(Endpoints{Client: cli4, Server: srv4}, 0, 1, 0, 70000, 0) }, WriterOptions{}},
		{"bad ALPN", func(s *Scenario) {
			s.TLS(Endpoints{Client: cli4, Server: srv4}, 0, TLSSession{ALPN: []string{""}}, TCPOptions{})
		}, WriterOptions{}},
		{"missing interface", func(s *Scenario) {
			s.UDP(Endpoints{Client: cli4, Server: srv4, Interface: 2}, 0, "", UDPOptions{}).Send(ToServer, Text(1), 0)
		}, WriterOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScenario(c.name, 1, time.Time{})
			c.build(s)
			w, err := NewWriter(&bytes.Buffer{}, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Run(s); err == nil {
				t.Error("Run accepted a broken scenario")
			}
		})
	}
	if _, err := Bench(10, 6, 1); err == nil {
		t.Error("Bench accepted packets < 2*concurrent")
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCommittedDemo keeps testdata/demo.pcap in step with Demo(1), so that
// the committed file and the manifest Demo(1) produces are the same ground
// truth. Regenerate with: go run ./testdata/gen -scenario demo -o testdata/demo.pcap
func TestCommittedDemo(t *testing.T) {
	want, err := os.ReadFile("../../testdata/demo.pcap")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("testdata/demo.pcap not generated")
	}
	if err != nil {
		t.Fatal(err)
	}
	got, m := writeScenario(t, Demo(1), WriterOptions{})
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/demo.pcap differs from Demo(1); regenerate it: go run ./testdata/gen -scenario demo -o testdata/demo.pcap")
	}
	if len(want) >= 300_000 {
		t.Errorf("demo is %d bytes, meant to stay under 300 KB", len(want))
	}
	apps := map[string]bool{}
	for _, f := range m.Flows {
		apps[f.App] = true
	}
	for _, a := range []string{"dns", "tls", "http", "ssh", "ftp", "ftp-data", "tftp", "smb2", "icmp-echo"} {
		if !apps[a] {
			t.Errorf("demo has no %s flow", a)
		}
	}
}
