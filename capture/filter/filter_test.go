package filter

import (
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"outflow/capture"
)

// pkt describes a test packet.
type pkt struct {
	name     string
	v6       bool
	proto    string // tcp, udp, sctp, icmp, icmp6, arp, gre
	src, dst string
	sp, dp   uint16
	fragOff  uint16 // IPv4 fragment offset (8-byte units); nonzero: a later fragment
	v6frag   bool   // IPv6 with a fragment header before the transport
	srcMAC   string
	pad      int // payload bytes
}

func build(t testing.TB, p pkt, link capture.LinkType) []byte {
	t.Helper()
	smac, _ := net.ParseMAC(p.srcMAC)
	if smac == nil {
		smac = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	payload := gopacket.Payload(bytes.Repeat([]byte{'x'}, p.pad))
	if p.proto == "arp" {
		eth.EthernetType = layers.EthernetTypeARP
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: smac, SourceProtAddress: net.ParseIP(p.src).To4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(p.dst).To4()}
		ls = append(ls, eth, arp)
	} else {
		var nl gopacket.NetworkLayer
		var next layers.IPProtocol
		switch p.proto {
		case "tcp":
			next = layers.IPProtocolTCP
		case "udp":
			next = layers.IPProtocolUDP
		case "sctp":
			next = layers.IPProtocolSCTP
		case "icmp":
			next = layers.IPProtocolICMPv4
		case "icmp6":
			next = layers.IPProtocolICMPv6
		case "gre":
			next = layers.IPProtocolGRE
		}
		if p.v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(p.src), DstIP: net.ParseIP(p.dst)}
			nl = ip
			ls = append(ls, eth, ip)
			if p.v6frag {
				ip.NextHeader = layers.IPProtocolIPv6Fragment
				ls = append(ls, &layers.IPv6Fragment{NextHeader: next, Identification: 7})
			}
		} else {
			eth.EthernetType = layers.EthernetTypeIPv4
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: next, SrcIP: net.ParseIP(p.src), DstIP: net.ParseIP(p.dst), FragOffset: p.fragOff}
			nl = ip
			ls = append(ls, eth, ip)
		}
		switch p.proto {
		case "tcp":
			tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sp), DstPort: layers.TCPPort(p.dp), SYN: true, Window: 1000}
			tcp.SetNetworkLayerForChecksum(nl)
			if p.fragOff != 0 {
				ls = append(ls, gopacket.Payload([]byte{byte(p.sp >> 8), byte(p.sp), byte(p.dp >> 8), byte(p.dp), 0, 0, 0, 0}))
			} else {
				ls = append(ls, tcp)
			}
		case "udp":
			udp := &layers.UDP{SrcPort: layers.UDPPort(p.sp), DstPort: layers.UDPPort(p.dp)}
			udp.SetNetworkLayerForChecksum(nl)
			ls = append(ls, udp)
		case "sctp":
			ls = append(ls, &layers.SCTP{SrcPort: layers.SCTPPort(p.sp), DstPort: layers.SCTPPort(p.dp)})
		case "icmp":
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
		case "icmp6":
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			icmp.SetNetworkLayerForChecksum(nl)
			ls = append(ls, icmp)
		}
	}
	ls = append(ls, payload)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	b := buf.Bytes()
	if link == capture.LinkRaw {
		b = b[14:]
	}
	return append([]byte(nil), b...)
}

var corpus = []pkt{
	{name: "tcp4 web", proto: "tcp", src: "10.1.2.3", dst: "93.184.216.34", sp: 40000, dp: 80},
	{name: "tcp4 reply", proto: "tcp", src: "93.184.216.34", dst: "10.1.2.3", sp: 80, dp: 40000},
	{name: "udp4 dns", proto: "udp", src: "10.1.2.3", dst: "10.0.0.53", sp: 5353, dp: 53},
	{name: "udp4 ntp", proto: "udp", src: "192.168.7.9", dst: "10.0.0.123", sp: 123, dp: 123},
	{name: "sctp4", proto: "sctp", src: "10.9.9.9", dst: "10.8.8.8", sp: 3868, dp: 3868},
	{name: "icmp4", proto: "icmp", src: "10.1.2.3", dst: "8.8.8.8"},
	{name: "gre4", proto: "gre", src: "172.16.0.1", dst: "172.16.0.2"},
	{name: "tcp4 later fragment", proto: "tcp", src: "10.1.2.3", dst: "93.184.216.34", sp: 40000, dp: 80, fragOff: 100},
	{name: "tcp6", v6: true, proto: "tcp", src: "2001:db8::1", dst: "2001:db8:1::2", sp: 50000, dp: 443},
	{name: "udp6 dns", v6: true, proto: "udp", src: "fd00::5", dst: "fd00::53", sp: 6000, dp: 53},
	{name: "icmp6", v6: true, proto: "icmp6", src: "fe80::1", dst: "ff02::1"},
	{name: "udp6 behind fragment header", v6: true, v6frag: true, proto: "udp", src: "2001:db8::9", dst: "2001:db8::10", sp: 7, dp: 53},
	{name: "arp", proto: "arp", src: "10.1.2.3", dst: "10.1.2.1", srcMAC: "02:aa:bb:cc:dd:ee"},
	{name: "big tcp4", proto: "tcp", src: "10.1.2.4", dst: "10.1.2.5", sp: 2000, dp: 2049, pad: 1200, srcMAC: "02:aa:bb:cc:dd:ee"},
}

func match(t testing.TB, prog []bpf.Instruction, b []byte) bool {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("program rejected by the VM: %v", err)
	}
	n, err := vm.Run(b)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return n > 0
}

// TestMatches checks what expressions select, packet by packet, on both
// link types.
func TestMatches(t *testing.T) {
	tests := []struct {
		expr string
		want []string // names of the corpus packets that match
	}{
		{"", names(corpus)},
		{"tcp", []string{"tcp4 web", "tcp4 reply", "tcp4 later fragment", "tcp6", "big tcp4"}},
		{"udp", []string{"udp4 dns", "udp4 ntp", "udp6 dns", "udp6 behind fragment header"}},
		{"ip and udp", []string{"udp4 dns", "udp4 ntp"}},
		{"ip6", []string{"tcp6", "udp6 dns", "icmp6", "udp6 behind fragment header"}},
		{"icmp or icmp6", []string{"icmp4", "icmp6"}},
		{"port 53", []string{"udp4 dns", "udp6 dns"}},
		{"port 53 or 123", []string{"udp4 dns", "udp4 ntp", "udp6 dns"}},
		{"udp dst port domain", []string{"udp4 dns", "udp6 dns"}},
		{"tcp port 80", []string{"tcp4 web", "tcp4 reply"}},
		{"src port 80", []string{"tcp4 reply"}},
		{"src and dst port 123", []string{"udp4 ntp"}},
		{"sctp port 3868", []string{"sctp4"}},
		{"portrange 440-450", []string{"tcp6"}},
		{"tcp portrange 2000-2049 and greater 1000", []string{"big tcp4"}},
		{"host 10.1.2.3", []string{"tcp4 web", "tcp4 reply", "udp4 dns", "icmp4", "tcp4 later fragment", "arp"}},
		{"ip host 10.1.2.3", []string{"tcp4 web", "tcp4 reply", "udp4 dns", "icmp4", "tcp4 later fragment"}},
		{"src host 10.1.2.3 and not arp", []string{"tcp4 web", "udp4 dns", "icmp4", "tcp4 later fragment"}},
		{"dst 10.1.2.3", []string{"tcp4 reply"}},
		{"net 10.1.0.0/16", []string{"tcp4 web", "tcp4 reply", "udp4 dns", "icmp4", "tcp4 later fragment", "arp", "big tcp4"}},
		{"net 10.1 and tcp", []string{"tcp4 web", "tcp4 reply", "tcp4 later fragment", "big tcp4"}},
		{"dst net 10.0.0.0 mask 255.255.255.0", []string{"udp4 dns", "udp4 ntp"}},
		{"net 2001:db8::/32", []string{"tcp6", "udp6 behind fragment header"}},
		{"host fd00::53", []string{"udp6 dns"}},
		{"ip6 src net fe80::/10", []string{"icmp6"}},
		{"proto 47", []string{"gre4"}},
		{"ip proto \\tcp", []string{"tcp4 web", "tcp4 reply", "tcp4 later fragment", "big tcp4"}},
		{"ip6 proto 17", []string{"udp6 dns", "udp6 behind fragment header"}},
		{"not (tcp or udp) and not arp", []string{"sctp4", "icmp4", "gre4", "icmp6"}},
		{"!tcp && !udp && ip", []string{"sctp4", "icmp4", "gre4"}},
		// Ethernet frame lengths: TCP/IPv4 54, UDP/IPv4 42, ICMPv6 58, UDP/IPv6 62, TCP/IPv6 74.
		{"less 60", []string{"tcp4 web", "tcp4 reply", "udp4 dns", "udp4 ntp", "sctp4", "icmp4", "gre4", "tcp4 later fragment", "icmp6", "arp"}},
		{"ether src 02:aa:bb:cc:dd:ee", []string{"arp", "big tcp4"}},
		{"arp", []string{"arp"}},
		// A later fragment has no ports: "not port 80" holds.
		{"host 10.1.2.3 and not port 80", []string{"udp4 dns", "icmp4", "arp", "tcp4 later fragment"}},
	}
	for _, link := range []capture.LinkType{capture.LinkEthernet, capture.LinkRaw} {
		for _, tc := range tests {
			if link == capture.LinkRaw && (strings.Contains(tc.expr, "ether") || strings.Contains(tc.expr, "less")) {
				continue // no link header: other lengths, no MACs
			}
			t.Run(link.String()+"/"+tc.expr, func(t *testing.T) {
				prog, err := Compile(tc.expr, link, 65535)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]bool{}
				for _, n := range tc.want {
					want[n] = true
				}
				for _, p := range corpus {
					if link == capture.LinkRaw && p.proto == "arp" {
						want[p.name] = false
						continue
					}
					if got := match(t, prog, build(t, p, link)); got != want[p.name] {
						t.Errorf("%s: match %v, want %v", p.name, got, want[p.name])
					}
				}
			})
		}
	}
}

func names(ps []pkt) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.name)
	}
	return out
}

// TestSnaplen checks that an accepted packet is kept up to the snap
// length.
func TestSnaplen(t *testing.T) {
	prog, err := Compile("tcp", capture.LinkEthernet, 96)
	if err != nil {
		t.Fatal(err)
	}
	vm, _ := bpf.NewVM(prog)
	n, err := vm.Run(build(t, corpus[len(corpus)-1], capture.LinkEthernet))
	if err != nil || n != 96 {
		t.Fatalf("kept %d bytes (%v), want 96", n, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"vlan 10", "not supported"},
		{"tcp[13] & 2 != 0", "packet-data expressions"},
		{"host example.com", "not resolved"},
		{"port", "expected an address"},
		{"port 70000", "not a port"},
		{"tcp and", "ends where a primitive"},
		{"(tcp", "missing )"},
		{"tcp)", "unexpected"},
		{"a & b", "&&"},
		{"ip6 host 10.0.0.1", "IPv4 address"},
		{"ether net 10.0.0.0/8", "not supported"},
		{"portrange 10", "LOW-HIGH"},
		{"net 10.0.0.0 mask 255.0.255.0", "not contiguous"},
		{"ether", "needs host"},
		{strings.Repeat("(", 100) + "tcp" + strings.Repeat(")", 100), "nested"},
		{"icmp port 7", "not a valid combination"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Compile(tc.expr, capture.LinkEthernet, 65535)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Compile("tcp", capture.LinkLinuxSLL, 65535); err == nil {
		t.Fatal("compiled for a link type it does not know")
	}
}

// TestAgainstTcpdump compiles expressions with tcpdump (libpcap) as well
// and checks that both programs select the same packets of the corpus.
// It runs where tcpdump is installed.
func TestAgainstTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	exprs := []string{"tcp", "udp", "ip6", "icmp", "icmp6", "arp", "port 53", "tcp port 80", "src port 80", "dst port 53",
		"portrange 440-450", "host 10.1.2.3", "src host 10.1.2.3", "dst host 10.1.2.1", "net 10.1.0.0/16", "net 10.1",
		"dst net 10.0.0.0 mask 255.255.255.0", "host fd00::53", "net 2001:db8::/32", "ip6 src net fe80::/10", "proto 47",
		"ip proto \\tcp", "ip6 proto 17", "not tcp", "tcp or udp", "udp and not port 53", "less 60", "greater 1000",
		"ether src 02:aa:bb:cc:dd:ee", "ether host 02:00:00:00:00:02", "src or dst port 123", "src and dst port 123",
		"port 53 or 123", "host 10.1.2.3 and not port 80", "sctp", "udp portrange 50-60"}
	for _, link := range []capture.LinkType{capture.LinkEthernet, capture.LinkRaw} {
		dlt := "EN10MB"
		if link == capture.LinkRaw {
			dlt = "RAW"
		}
		for _, e := range exprs {
			if link == capture.LinkRaw && (strings.Contains(e, "ether") || strings.Contains(e, "arp")) {
				continue
			}
			out, err := exec.Command("tcpdump", "-ddd", "-y", dlt, e).Output()
			if err != nil {
				t.Fatalf("tcpdump -ddd %q: %v", e, err)
			}
			ref := parseDDD(t, string(out))
			ours, err := Compile(e, link, 262144)
			if err != nil {
				t.Fatalf("%q: %v", e, err)
			}
			for _, p := range corpus {
				if link == capture.LinkRaw && p.proto == "arp" {
					continue
				}
				b := build(t, p, link)
				if got, want := match(t, ours, b), matchRaw(t, ref, b); got != want {
					t.Errorf("%s %q on %s: outflow %v, tcpdump %v", dlt, e, p.name, got, want)
				}
			}
		}
	}
}

// parseDDD reads tcpdump -ddd output: a count, then "code jt jf k" lines.
func parseDDD(t *testing.T, s string) []bpf.RawInstruction {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var prog []bpf.RawInstruction
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("tcpdump -ddd line %q", l)
		}
		var v [4]uint64
		for i := range f {
			var err error
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				t.Fatal(err)
			}
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	return prog
}

func matchRaw(t *testing.T, prog []bpf.RawInstruction, b []byte) bool {
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		// x/net/bpf cannot run everything libpcap emits; say so rather
		// than compare with nothing.
		t.Skip("tcpdump's program uses instructions the Go VM does not run")
	}
	return match(t, insns, b)
}
