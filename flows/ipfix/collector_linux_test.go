//go:build linux

package ipfix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outflow/capture"
	"outflow/capture/synth"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// Tests against a real collector: Debian's nfcapd listening on loopback,
// read back with nfdump. They skip when nfdump is not installed, and fail
// instead when OUTFLOW_NETLAB_REQUIRE is set (as the netlab tests do).

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if v := os.Getenv("OUTFLOW_NETLAB_REQUIRE"); v != "" && v != "0" {
		t.Fatalf("%s (and OUTFLOW_NETLAB_REQUIRE is set)", reason)
	}
	t.Skip(reason)
}

func (n *nfcapd) port() int {
	_, p, _ := net.SplitHostPort(n.addr)
	port, _ := strconv.Atoi(p)
	return port
}

type nfcapd struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

// startNfcapd runs nfcapd on a free loopback port, storing into a temp dir.
func startNfcapd(t testing.TB) *nfcapd {
	t.Helper()
	for _, tool := range []string{"nfcapd", "nfdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, tool+" not installed (Debian package nfdump)")
		}
	}
	// A free port: bind, note it, release. nfcapd binds it a moment later.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	// OUTFLOW_IPFIX_COLLECTOR_DIR puts nfcapd's files elsewhere (tmpfs:
	// keeps a busy disk from stalling the collector in measurements).
	if base := os.Getenv("OUTFLOW_IPFIX_COLLECTOR_DIR"); base != "" {
		d, err := os.MkdirTemp(base, "nfcapd-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	n := &nfcapd{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, done: make(chan error, 1)}
	// -t: one file for the whole test, whatever the wall clock.
	n.cmd = exec.Command("nfcapd", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-w", n.dir, "-t", "3600")
	n.cmd.Stdout, n.cmd.Stderr = &n.stderr, &n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nfcapd: %v", err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	})
	// Ready when the socket is bound.
	for i := 0; ; i++ {
		if _, ok := udpRxQueue(port); ok {
			break
		}
		if i == 100 {
			t.Fatalf("nfcapd did not bind %s within 5 s:\n%s", n.addr, n.stderr.String())
		}
		select {
		case err := <-n.done:
			t.Fatalf("nfcapd exited: %v\n%s", err, n.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return n
}

// udpRxQueue returns the bytes waiting in the receive queue of the UDP
// socket bound to addr (/proc/net/udp), and whether the socket exists.
func udpRxQueue(port int) (uint64, bool) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, false
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		q, err := strconv.ParseUint(rx, 16, 64)
		return q, err == nil
	}
	return 0, false
}

// stop ends nfcapd the way an operator does (SIGTERM): it writes out and
// closes its file. It returns nfcapd's log. nfcapd quits without reading
// what is still queued on its socket, so stop first waits for the queue
// to drain.
func (n *nfcapd) stop(t testing.TB) string {
	t.Helper()
	port := n.port()
	for i := 0; i < 200; i++ {
		if q, ok := udpRxQueue(port); !ok || q == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("nfcapd: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("nfcapd did not stop:\n%s", n.stderr.String())
	}
	return n.stderr.String()
}

// nfdump runs nfdump over everything nfcapd stored.
func (n *nfcapd) nfdump(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("nfdump", append([]string{"-R", n.dir}, args...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nfdump %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// info is nfdump -I: the collector's own counters.
func (n *nfcapd) info(t testing.TB) map[string]uint64 {
	t.Helper()
	out := n.nfdump(t, "-I")
	m := map[string]uint64{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if x, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			m[strings.TrimSpace(k)] = x
		}
	}
	return m
}

// flowKey identifies one flow record on both sides: protocol, endpoints,
// ports (ICMP: 0 and type<<8|code) and start in milliseconds.
type flowKey struct {
	proto          uint8
	src, dst       netip.Addr
	sport, dport   uint16
	startMS, endMS int64
}

type counts struct{ pkts, bytes [2]uint64 }

// ownRecords parses outflow's ECS flow records.
func ownRecords(t *testing.T, r io.Reader) map[flowKey][]counts {
	t.Helper()
	out := map[flowKey][]counts{}
	dec := json.NewDecoder(r)
	for {
		var doc struct {
			Source, Destination struct {
				IP             netip.Addr
				Port           uint16
				Packets, Bytes uint64
			}
			Network struct {
				IanaNumber string `json:"iana_number"`
			}
			Event   struct{ Start, End time.Time }
			Outflow struct {
				ICMP struct{ Type, Code uint16 }
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		proto, err := strconv.ParseUint(doc.Network.IanaNumber, 10, 8)
		if err != nil {
			t.Fatalf("network.iana_number %q", doc.Network.IanaNumber)
		}
		k := flowKey{proto: uint8(proto), src: doc.Source.IP, dst: doc.Destination.IP, sport: doc.Source.Port, dport: doc.Destination.Port,
			startMS: doc.Event.Start.UnixMilli(), endMS: doc.Event.End.UnixMilli()}
		if proto == 1 || proto == 58 {
			k.dport = doc.Outflow.ICMP.Type<<8 | doc.Outflow.ICMP.Code
		}
		out[k] = append(out[k], counts{pkts: [2]uint64{doc.Source.Packets, doc.Destination.Packets}, bytes: [2]uint64{doc.Source.Bytes, doc.Destination.Bytes}})
	}
	return out
}

// collectorRecords parses nfdump -o json.
func collectorRecords(t *testing.T, b []byte) map[flowKey][]counts {
	t.Helper()
	var recs []struct {
		Type       string `json:"type"`
		First      string `json:"first"`
		Last       string `json:"last"`
		Proto      uint8  `json:"proto"`
		Src4Addr   string `json:"src4_addr"`
		Dst4Addr   string `json:"dst4_addr"`
		Src6Addr   string `json:"src6_addr"`
		Dst6Addr   string `json:"dst6_addr"`
		SrcPort    uint16 `json:"src_port"`
		DstPort    uint16 `json:"dst_port"`
		ICMPType   uint16 `json:"icmp_type"`
		ICMPCode   uint16 `json:"icmp_code"`
		InPackets  uint64 `json:"in_packets"`
		InBytes    uint64 `json:"in_bytes"`
		OutPackets uint64 `json:"out_packets"`
		OutBytes   uint64 `json:"out_bytes"`
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatalf("nfdump json: %v\n%.500s", err, b)
	}
	out := map[flowKey][]counts{}
	ts := func(s string) int64 {
		tm, err := time.ParseInLocation("2006-01-02T15:04:05.000", s, time.UTC)
		if err != nil {
			t.Fatalf("nfdump time %q: %v", s, err)
		}
		return tm.UnixMilli()
	}
	for _, r := range recs {
		if r.Type != "FLOW" {
			continue
		}
		k := flowKey{proto: r.Proto, sport: r.SrcPort, dport: r.DstPort, startMS: ts(r.First), endMS: ts(r.Last)}
		for _, a := range [][2]string{{r.Src4Addr, r.Dst4Addr}, {r.Src6Addr, r.Dst6Addr}} {
			if a[0] != "" {
				k.src, k.dst = netip.MustParseAddr(a[0]), netip.MustParseAddr(a[1])
			}
		}
		if r.Proto == 1 || r.Proto == 58 {
			k.sport, k.dport = 0, r.ICMPType<<8|r.ICMPCode
		}
		out[k] = append(out[k], counts{pkts: [2]uint64{r.InPackets, r.OutPackets}, bytes: [2]uint64{r.InBytes, r.OutBytes}})
	}
	return out
}

// demoPlus is the demo capture plus IPv6 flows of each transport.
func demoPlus() *synth.Scenario {
	s := synth.Demo(3)
	c, srv := netip.MustParseAddr("fd00:17::2"), netip.MustParseAddr("2001:db8:10::10")
	ep := func(port uint16) synth.Endpoints {
		return synth.Endpoints{Client: c, Server: srv, ClientPort: s.EphemeralPort(c), ServerPort: port}
	}
	tc := s.TCP(ep(8443), 2*time.Second, "", synth.TCPOptions{})
	tc.Send(synth.ToServer, synth.Random(3000), 0)
	tc.Send(synth.ToClient, synth.Random(40000), 0)
	tc.Close(synth.ToServer, 0)
	u := s.UDP(ep(4500), 3*time.Second, "", synth.UDPOptions{})
	u.Send(synth.ToServer, synth.Random(200), 0)
	u.Send(synth.ToClient, synth.Random(900), 10*time.Millisecond)
	s.Ping(ep(0), 4*time.Second, 3, time.Second, 56, 5*time.Millisecond)
	return s
}

// runCapture reads a capture through decode and the flow table into
// outflow's own records and the exporter, as outflow read --flows --ipfix.
func runCapture(t *testing.T, path string, exp *Exporter) *bytes.Buffer {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	out := ecs.NewWriter(&buf)
	table := flows.NewTable(flows.Config{}, nil, flows.Observers{flows.NewRecordWriter(out), exp})
	dec := decode.New(decode.Config{})
	var pkt capture.Packet
	var h decode.Headers
	for {
		if err := src.Next(&pkt); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if dec.Decode(&pkt, &h) == decode.OK {
			table.Add(&h, pkt.Timestamp, pkt.Interface)
		}
	}
	table.Flush(flows.EndEndOfInput)
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestCollectorReadsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   func() (*synth.Scenario, error)
	}{
		{"demo and IPv6", func() (*synth.Scenario, error) { return demoPlus(), nil }},
		{"bench", func() (*synth.Scenario, error) { return synth.Bench(40_000, 400, 11) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := tc.sc()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "in.pcap")
			if _, err := synth.WriteFile(path, sc, synth.WriterOptions{}); err != nil {
				t.Fatal(err)
			}
			col := startNfcapd(t)
			exp, err := New(Config{Addr: col.addr, Wait: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			own := ownRecords(t, runCapture(t, path, exp))
			if err := exp.Close(); err != nil {
				t.Fatal(err)
			}
			st := exp.Stats()
			log := col.stop(t)
			got := collectorRecords(t, col.nfdump(t, "-o", "json"))

			n := 0
			for k, want := range own {
				n += len(want)
				g := got[k]
				if len(g) != len(want) {
					t.Errorf("%+v: collector has %d records, outflow %d", k, len(g), len(want))
					continue
				}
				for i := range want {
					if g[i] != want[i] {
						t.Errorf("%+v: collector counts %+v, outflow %+v", k, g[i], want[i])
					}
				}
			}
			for k := range got {
				if _, ok := own[k]; !ok {
					t.Errorf("collector has a record outflow did not write: %+v", k)
				}
			}
			if n == 0 || st.Exported != uint64(n) || st.Dropped != 0 {
				t.Errorf("outflow wrote %d records, exporter stats %+v", n, st)
			}
			info := col.info(t)
			if info["Flows"] != uint64(n) || info["Sequence failures"] != 0 {
				t.Errorf("nfdump -I: %v, want %d flows and no sequence failures\nnfcapd log:\n%s", info, n, log)
			}
			t.Logf("%d flow records, %d messages; nfdump read back all of them", n, st.Messages)
		})
	}
}

// TestCollectorMillion sends 1,000,000 flow records at the default rate
// and checks, by the collector's own counters, that every one arrived.
// Opt-in (OUTFLOW_IPFIX_1M=1): it takes about half a minute.
func TestCollectorMillion(t *testing.T) {
	if os.Getenv("OUTFLOW_IPFIX_1M") != "1" {
		t.Skip("set OUTFLOW_IPFIX_1M=1 to export a million flows to nfcapd")
	}
	const n = 1_000_000
	rate := DefaultRate
	if v := os.Getenv("OUTFLOW_IPFIX_RATE"); v != "" {
		rate, _ = strconv.Atoi(v)
	}
	col := startNfcapd(t)
	exp, err := New(Config{Addr: col.addr, Rate: rate, Wait: time.Minute, Container: nameOf("payments-api")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wantPkts, wantBytes uint64
	var f flows.Flow
	for i := range n {
		millionFlow(&f, i)
		wantPkts += f.Packets[0] + f.Packets[1]
		wantBytes += f.Bytes[0] + f.Bytes[1]
		exp.FlowEvent(flows.EventEnd, &f)
	}
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	st := exp.Stats()
	log := col.stop(t)
	info := col.info(t)
	t.Logf("%d records in %d messages in %v at rate %d/s (%.0f records/s); collector: flows %d, packets %d, bytes %d, sequence failures %d",
		st.Exported, st.Messages, el.Round(time.Millisecond), rate, float64(st.Exported)/el.Seconds(),
		info["Flows"], info["Packets"], info["Bytes"], info["Sequence failures"])
	if st.Dropped != 0 || st.SendErrors != 0 || st.Exported != n {
		t.Errorf("exporter: %+v", st)
	}
	if info["Flows"] != n || info["Packets"] != wantPkts || info["Bytes"] != wantBytes || info["Sequence failures"] != 0 {
		t.Errorf("collector counted %v; want %d flows, %d packets, %d bytes\nnfcapd log:\n%s", info, n, wantPkts, wantBytes, log)
	}
}

// millionFlow fills f with the i-th of a million distinct flows, one in
// ten over IPv6.
func millionFlow(f *flows.Flow, i int) {
	*f = flows.Flow{Proto: 6, Packets: [2]uint64{uint64(i%50 + 1), uint64(i % 40)}, Bytes: [2]uint64{uint64(i%50+1) * 80, uint64(i%40) * 1400},
		First: t0 + int64(i)*1e6, Last: t0 + int64(i)*1e6 + 3e9, Reason: flows.EndFIN, Flags: [2]uint8{0x1b, 0x1b}}
	var a decode.Addr
	a[10], a[11], a[12], a[13], a[14], a[15] = 0xff, 0xff, 10, byte(i>>16), byte(i>>8), byte(i)
	f.Key = flows.Key{A: a, B: addr("198.51.100.7"), APort: uint16(32768 + i%28000), BPort: 443, Proto: 6}
	if i%10 == 0 {
		f.IPv6 = true
		f.Key.A = netip.AddrFrom16([16]byte{0: 0xfd, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}).As16()
		f.Key.B = addr("2001:db8::7")
	}
}
