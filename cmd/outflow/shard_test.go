package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"outflow/capture"
	"outflow/capture/synth"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// canonical turns output lines into comparable strings: keys sorted, and
// without the fields that are not the input's (event.created: when the
// alert was written) or that the pipeline documents as order-dependent
// (drop lists them).
func canonical(t *testing.T, out []byte, drop ...string) []string {
	t.Helper()
	var docs []string
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, line)
		}
		for _, k := range append([]string{"event.created"}, drop...) {
			deleteKey(m, k)
		}
		b, _ := json.Marshal(m) // encoding/json sorts map keys
		docs = append(docs, string(b))
	}
	slices.Sort(docs)
	return docs
}

func deleteKey(m map[string]any, dotted string) {
	parts := strings.Split(dotted, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, parts[len(parts)-1])
}

// readOut runs `outflow read` in process and returns standard output.
func readOut(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"read"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("outflow read %v: exit %d: %s", args, code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "read done") {
		t.Fatalf("no summary line: %s", stderr.String())
	}
	return stdout.Bytes()
}

// diff describes how two canonical outputs differ.
func diff(a, b []string) string {
	ina, inb := map[string]int{}, map[string]int{}
	for _, x := range a {
		ina[x]++
	}
	for _, x := range b {
		inb[x]++
	}
	var out []string
	for x, n := range ina {
		if inb[x] != n {
			out = append(out, fmt.Sprintf("- (%d vs %d) %.400s", n, inb[x], x))
		}
	}
	for x, n := range inb {
		if ina[x] == 0 {
			out = append(out, fmt.Sprintf("+ (%d) %.400s", n, x))
		}
	}
	slices.Sort(out)
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("... %d more", len(out)-8))
	}
	return strings.Join(out, "\n")
}

// shardingScenario is traffic whose L7 state meets across flows and host
// pairs: FTP with data channels in all four modes, TFTP transfers the
// server opens, DNS answers naming the servers of later flows (other host
// pairs), beacons from several entities to shared destinations, volume,
// UDP flows that time out mid-capture, and IPv6.
func shardingScenario(t *testing.T, path string) {
	t.Helper()
	s := synth.NewScenario("sharding", 7, time.Time{})
	r := s.Rand()
	ip := netip.MustParseAddr
	resolver := ip("10.0.0.53")
	clients := []netip.Addr{ip("172.17.0.2"), ip("172.17.0.3"), ip("172.17.0.4"), ip("172.17.0.5"), ip("172.17.0.6"),
		ip("172.17.0.7"), ip("fd00:17::8"), ip("fd00:17::9")}
	ep := func(c, srv netip.Addr, port uint16) synth.Endpoints {
		return synth.Endpoints{Client: c, Server: srv, ClientPort: s.EphemeralPort(c), ServerPort: port}
	}
	ftpSrv := []netip.Addr{ip("203.0.113.21"), ip("2001:db8::21")}
	for i, mode := range []synth.FTPMode{synth.FTPPassive, synth.FTPExtPassive, synth.FTPActive, synth.FTPExtActive} {
		for j, c := range clients {
			if j%2 != i%2 {
				continue
			}
			srv := ftpSrv[0]
			if c.Is6() {
				srv = ftpSrv[1]
			}
			cmd := []string{"STOR", "RETR"}[j%2]
			s.FTP(ep(c, srv, 21), sec(float64(5*i+j)), synth.FTPSession{Mode: mode, Command: cmd, File: fmt.Sprintf("f%d-%d.bin", i, j),
				Data: synth.Random(20<<10 + r.IntN(40<<10))}, synth.TCPOptions{})
		}
	}
	for j, c := range clients[:4] {
		s.TFTP(ep(c, ip("198.51.100.69"), 69), sec(float64(30+j)), synth.TFTPTransfer{Write: j%2 == 0, File: fmt.Sprintf("t%d.cfg", j),
			Data: synth.Text(3000 + 700*j)}, synth.UDPOptions{})
	}
	// Names, then the flows to the named servers, and periodic check-ins
	// from every client to two shared destinations.
	c2 := []netip.Addr{ip("198.51.100.80"), ip("203.0.113.90")}
	names := []string{"cdn.example.com", "c2.example.net"}
	for k := 0; k < 24; k++ {
		for j, c := range clients {
			if c.Is6() {
				continue
			}
			at := float64(40+k*30) + float64(j)*0.7 + r.Float64()*3
			dst := c2[(j+k)%2]
			s.DNS(ep(c, resolver, 53), sec(at), names[(j+k)%2], synth.DNSTypeA, 60, []netip.Addr{dst}, synth.UDPOptions{})
			s.TLS(ep(c, dst, 443), sec(at+0.02), synth.TLSSession{ServerName: names[(j+k)%2], TLS13: true,
				Exchanges: []synth.Exchange{{Up: 300 + r.IntN(500), Down: 1000 + r.IntN(4000)}}}, synth.TCPOptions{})
			// A name only this client asks for, and a flow to it without
			// SNI: its name can only come from that DNS answer, which
			// another worker may have seen (another host pair).
			own := netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + j)})
			s.DNS(ep(c, resolver, 53), sec(at+0.9), fmt.Sprintf("svc%d.example.org", j), synth.DNSTypeA, 60, []netip.Addr{own}, synth.UDPOptions{})
			u := s.UDP(ep(c, own, 7000+uint16(j)), sec(at+1), "", synth.UDPOptions{})
			u.Send(synth.ToServer, synth.Random(100), 0)
		}
	}
	// Overlay traffic (VXLAN, tagged): workers are picked by the inner
	// host pair; DNS inside the tunnel names flows of other inner pairs.
	for j := 0; j < 3; j++ {
		c := netip.AddrFrom4([4]byte{172, 17, 1, byte(2 + j)})
		vx := func(srv netip.Addr, port uint16) synth.Endpoints {
			e := ep(c, srv, port)
			e.VLANs = []uint16{100 + uint16(j)}
			e.VXLAN = &synth.VXLAN{VNI: 4242, ClientVTEP: ip("10.10.0.1"), ServerVTEP: ip("10.10.0.2")}
			return e
		}
		own := netip.AddrFrom4([4]byte{203, 0, 113, byte(150 + j)})
		for k := 0; k < 6; k++ {
			at := float64(50+k*45) + float64(j)
			s.DNS(vx(resolver, 53), sec(at), fmt.Sprintf("tun%d.example.org", j), synth.DNSTypeA, 60, []netip.Addr{own}, synth.UDPOptions{})
			u := s.UDP(vx(own, 9000), sec(at+0.5), "", synth.UDPOptions{})
			u.Send(synth.ToServer, synth.Random(80), 0)
		}
		s.FTP(vx(ftpSrv[0], 21), sec(float64(60+j)), synth.FTPSession{Mode: synth.FTPPassive, File: fmt.Sprintf("vx%d.bin", j),
			Data: synth.Random(30 << 10)}, synth.TCPOptions{})
	}
	var ex []synth.Exchange
	for i := 0; i < 40; i++ {
		ex = append(ex, synth.Exchange{Up: 200_000, Down: 200, Think: 200 * time.Millisecond})
	}
	s.TLS(ep(clients[5], ip("198.51.100.99"), 443), sec(100), synth.TLSSession{ServerName: "bulk.example.org", TLS13: true, Exchanges: ex},
		synth.TCPOptions{})
	if _, err := synth.WriteFile(path, s, synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestShardedReadEquivalence checks that read --workers N writes the same
// flow records and alerts as one worker, on generated captures.
func TestShardedReadEquivalence(t *testing.T) {
	dir := t.TempDir()
	mixed := filepath.Join(dir, "mixed.pcap")
	shardingScenario(t, mixed)
	bench := filepath.Join(dir, "bench.pcap")
	sc, err := synth.Bench(60000, 1500, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFile(bench, sc, synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	demo := filepath.Join("..", "..", "testdata", "demo.pcap")
	for _, in := range []struct {
		name  string
		files []string
		extra []string
	}{
		{"demo", []string{demo}, nil},
		{"mixed", []string{mixed}, nil},
		{"bench-like", []string{bench}, nil},
		{"two files", []string{demo, mixed}, nil},
		{"small table", []string{bench}, []string{"--max-flows", "400"}},
	} {
		args := append([]string{"--flows"}, in.extra...)
		one := canonical(t, readOut(t, append(args, in.files...)...))
		var alerts, records int
		for _, d := range one {
			if strings.Contains(d, `"dataset":"outflow.alert"`) {
				alerts++
			} else {
				records++
			}
		}
		if records == 0 {
			t.Fatalf("%s: no flow records", in.name)
		}
		for _, tc := range []struct{ workers, shards int }{{2, 1}, {3, 1}, {4, 2}, {2, 3}} {
			if in.name == "small table" && tc.workers > 2 {
				continue
			}
			t.Run(fmt.Sprintf("%s/workers=%d,shards=%d", in.name, tc.workers, tc.shards), func(t *testing.T) {
				out := readOut(t, append(append(args, "--workers", fmt.Sprint(tc.workers), "--detect-shards", fmt.Sprint(tc.shards)), in.files...)...)
				if in.name == "small table" {
					// Which flows are evicted depends on each worker's
					// share of the limit; every packet is still counted
					// once.
					if a, b := totals(t, one), totals(t, canonical(t, out)); a != b {
						t.Fatalf("records count %v packets and bytes with one worker, %v with %d", a, b, tc.workers)
					}
					return
				}
				a, got := one, canonical(t, out)
				if tc.shards > 1 {
					// Documented: beacon prevalence (entities beaconing to
					// one destination, a severity hint) is counted per
					// shard. Beacon alerts then compare by who beacons to
					// what.
					a, got = beaconPairs(t, a), beaconPairs(t, got)
				}
				if !slices.Equal(a, got) {
					t.Fatalf("%d documents with one worker, %d with %d:\n%s", len(a), len(got), tc.workers, diff(a, got))
				}
			})
		}
		t.Logf("%s: %d records, %d alerts", in.name, records, alerts)
	}
}

// totals sums the packets and bytes of the flow records.
func totals(t *testing.T, docs []string) [2]float64 {
	var sum [2]float64
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		if str(m, "event.dataset") == "outflow.flow" {
			sum[0] += float64(num(m, "network.packets"))
			sum[1] += float64(num(m, "network.bytes"))
		}
	}
	return sum
}

// beaconPairs replaces beacon alerts by one line per entity, destination
// and port.
func beaconPairs(t *testing.T, docs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		if str(m, "rule.name") != "beacon" {
			out = append(out, d)
			continue
		}
		k := fmt.Sprintf("beacon %s -> %s %s:%v", str(m, "source.ip"), str(m, "destination.domain"), str(m, "destination.ip"), field(m, "destination.port"))
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestShardedL7AcrossFlows checks what the equivalence rests on where L7
// state crosses flows: FTP data channels are identified (same host pair,
// same worker), and flows get the names DNS answers gave (other host
// pairs: the answers are replicated to every worker).
func TestShardedL7AcrossFlows(t *testing.T) {
	mixed := filepath.Join(t.TempDir(), "mixed.pcap")
	shardingScenario(t, mixed)
	var out bytes.Buffer
	var stderr bytes.Buffer
	if code := run([]string{"read", "--flows", "--workers", "4", mixed}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, named := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if str(m, "network.protocol") == "ftp-data" {
			data++
		}
		if str(m, "network.transport") == "udp" && num(m, "destination.port") >= 7000 && str(m, "destination.domain") != "" {
			named++
		}
	}
	if data < 11 {
		t.Fatalf("%d ftp-data flows identified, want the 11 data channels", data)
	}
	if named < 100 {
		t.Fatalf("%d of the 144 UDP flows carry the name their DNS answer gave (DNS names must reach every worker)", named)
	}
	if !strings.Contains(stderr.String(), "workers=4") || !strings.Contains(stderr.String(), "worker_packets=") {
		t.Fatalf("summary lacks the per-worker counters: %s", stderr.String())
	}
}

// TestShardedReadInterrupted checks that a cancelled read stops, flushes
// what it has and does not hang.
func TestShardedReadInterrupted(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo.pcap")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runRead(ctx, []string{"--flows", "--workers", "3", demo}, &out, &stderr) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("read --workers did not return after cancellation")
	}
	if !strings.Contains(stderr.String(), "read interrupted") {
		t.Fatalf("no interruption in the summary: %s", stderr.String())
	}
}

// TestShardedReadErrors checks the flags' limits and unreadable files.
func TestShardedReadErrors(t *testing.T) {
	var out, stderr bytes.Buffer
	if code := run([]string{"read", "--workers", "0", "x.pcap"}, &out, &stderr); code != 2 {
		t.Fatalf("--workers 0: exit %d, want 2 (%s)", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"read", "--workers", "2", "--detect-shards", "0", "x.pcap"}, &out, &stderr); code != 2 {
		t.Fatalf("--detect-shards 0: exit %d, want 2 (%s)", code, stderr.String())
	}
	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "not.pcap")
	os.WriteFile(bad, []byte("not a capture at all"), 0o644)
	if code := run([]string{"read", "--workers", "2", bad}, &out, &stderr); code != 1 || !strings.Contains(stderr.String(), "could not be read") {
		t.Fatalf("unreadable file: exit %d: %s", code, stderr.String())
	}
}

// TestReduce: the mask for powers of two gives what the division gives.
func TestReduce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 16, 24, 1024} {
		for i := uint64(0); i < 2000; i++ {
			h := mix64(i)
			if got, want := reduce(h, n), int(h%uint64(n)); got != want {
				t.Fatalf("reduce(%#x, %d) = %d, want %d", h, n, got, want)
			}
		}
	}
}

// TestWorkerOfIsSymmetric checks that both directions of a host pair go
// to one worker, and that pairs spread over the workers.
func TestWorkerOfIsSymmetric(t *testing.T) {
	const n = 4
	seen := make([]int, n)
	for i := 0; i < 1000; i++ {
		var h decode.Headers
		h.Src = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).As16()
		h.Dst = netip.MustParseAddr("2001:db8::1").As16()
		if i%2 == 0 {
			h.Dst = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).As16()
		}
		w := workerOf(&h, n)
		h.Src, h.Dst = h.Dst, h.Src
		if workerOf(&h, n) != w {
			t.Fatalf("pair %d: %d one way, %d the other", i, w, workerOf(&h, n))
		}
		seen[w]++
	}
	for w, c := range seen {
		if c < 150 {
			t.Fatalf("worker %d got %d of 1000 host pairs: %v", w, c, seen)
		}
	}
}

// TestShardOfSpreadsEntities checks that entities spread over shards and
// that one entity always has the same shard.
func TestShardOfSpreadsEntities(t *testing.T) {
	const n = 3
	seen := make([]int, n)
	for i := 0; i < 900; i++ {
		e := detect.Entity{IP: netip.AddrFrom4([4]byte{172, 17, byte(i >> 8), byte(i)})}
		if i%3 == 0 {
			e = detect.Entity{ContainerID: fmt.Sprintf("%064x", i)}
		}
		s := shardOf(e, n)
		if shardOf(e, n) != s {
			t.Fatal("shard not stable")
		}
		seen[s]++
	}
	for s, c := range seen {
		if c < 200 {
			t.Fatalf("shard %d got %d of 900 entities: %v", s, c, seen)
		}
	}
}

// TestFrozenAppMatchesLive checks that what a shard sees of a flow's
// application state is what the worker saw: every event of a table
// running the real parsers is snapshotted and compared field by field.
func TestFrozenAppMatchesLive(t *testing.T) {
	mixed := filepath.Join(t.TempDir(), "mixed.pcap")
	shardingScenario(t, mixed)
	w := &worker{p: &shardedPipeline{wants: [4]bool{true, true, true, true}}, batches: []*eventBatch{{}}}
	checked := 0
	probe := flows.ObserverFunc(func(ev flows.Event, f *flows.Flow) {
		if f.App == nil {
			return
		}
		b := w.batches[0]
		w.FlowEvent(ev, f)
		e := b.at(b.n - 1)
		e.app.thaw(b)
		a := &e.app
		if a.Protocol() != f.App.Protocol() || a.Domain() != f.App.Domain() || a.Reversed() != f.App.Reversed() || a.Done() != f.App.Done() {
			t.Fatalf("snapshot %q %q %v %v, live %q %q %v %v", a.Protocol(), a.Domain(), a.Reversed(), a.Done(),
				f.App.Protocol(), f.App.Domain(), f.App.Reversed(), f.App.Done())
		}
		got, want := detect.Flow{Flow: &flows.Flow{}}, detect.Flow{Flow: &flows.Flow{}}
		gs, ws := got.Summary(), want.Summary() // empty, with room for the files
		a.Summary(gs)
		f.App.Summary(ws)
		if fmt.Sprint(*gs) != fmt.Sprint(*ws) {
			t.Fatalf("summary %+v, live %+v", *gs, *ws)
		}
		if e.flow.Key != f.Key || e.flow.Bytes != f.Bytes || e.flow.Packets != f.Packets || e.flow.App != nil {
			t.Fatal("flow copy differs")
		}
		if len(ws.Files) > 0 {
			checked++
		}
		b.reset()
	})
	tab := flows.NewTable(flows.Config{}, flows.NewL7Inspector(l7.NewEngine(parsers(), l7.EngineConfig{})), probe)
	src, err := capture.Open(mixed)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec := decode.New(decode.Config{})
	var pkt capture.Packet
	var h decode.Headers
	for src.Next(&pkt) == nil {
		if dec.Decode(&pkt, &h) == decode.OK {
			tab.Add(&h, pkt.Timestamp, 0)
		}
	}
	tab.Flush(flows.EndEndOfInput)
	if checked < 20 {
		t.Fatalf("only %d events with file operations", checked)
	}
}

// summaryApp is live application state with a given summary.
type summaryApp struct{ sum l7.Summary }

func (a *summaryApp) Done() bool       { return true }
func (a *summaryApp) Reversed() bool   { return false }
func (a *summaryApp) Protocol() string { return a.sum.Protocol }
func (a *summaryApp) Domain() string   { return a.sum.Domain }
func (a *summaryApp) Fields(*ecs.Doc)  {}
func (a *summaryApp) Summary(s *l7.Summary) {
	files := append(s.Files[:0], a.sum.Files...)
	*s = a.sum
	s.Files = files
}

// TestFrozenAppSummaryComplete sets each field of l7.Summary alone and
// checks that the shard's copy carries it: a field added to Summary that
// the snapshot leaves out fails here.
func TestFrozenAppSummaryComplete(t *testing.T) {
	typ := reflect.TypeOf(l7.Summary{})
	for i := 0; i < typ.NumField(); i++ {
		t.Run(typ.Field(i).Name, func(t *testing.T) {
			var sum l7.Summary
			v := reflect.ValueOf(&sum).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("x" + typ.Field(i).Name)
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Int, reflect.Int64, reflect.Int32:
				v.SetInt(int64(7 + i))
			case reflect.Uint, reflect.Uint64, reflect.Uint32:
				v.SetUint(uint64(9 + i))
			case reflect.Slice:
				v.Set(reflect.ValueOf([]l7.FileOp{{Op: "STOR", Name: "f", Bytes: 3}}))
			default:
				t.Fatalf("field %s of kind %s: teach this test to set it", typ.Field(i).Name, v.Kind())
			}
			w := &worker{p: &shardedPipeline{wants: [4]bool{true, true, true, true}}, batches: []*eventBatch{{}}}
			b := w.batches[0]
			// An event with an empty summary first, so that the one under
			// test is not at index 0 of the batch's lists.
			w.FlowEvent(flows.EventEnd, &flows.Flow{App: &summaryApp{}})
			w.FlowEvent(flows.EventEnd, &flows.Flow{App: &summaryApp{sum: sum}})
			e := b.at(1)
			e.app.thaw(b)
			got := l7.Summary{}
			e.app.Summary(&got)
			if !reflect.DeepEqual(got, sum) {
				t.Errorf("shard sees %+v, worker had %+v", got, sum)
			}
		})
	}
}

// testFlow is a flow with application state, as a worker's table hands
// it to FlowEvent.
func testFlow() *flows.Flow {
	f := &flows.Flow{Proto: decode.ProtoTCP, Packets: [2]uint64{3, 2}, Bytes: [2]uint64{400, 900}, First: 1e9, Last: 2e9}
	f.Key.A = netip.MustParseAddr("172.17.0.2").As16()
	f.Key.B = netip.MustParseAddr("198.51.100.7").As16()
	f.Key.APort, f.Key.BPort, f.Key.Proto = 40000, 21, decode.ProtoTCP
	f.App = &frozenApp{protocol: "ftp", domain: "files.example", sumProtocol: "ftp", x: &appExt{user: "u",
		files: []l7.FileOp{{Op: "STOR", Name: "a.bin", Bytes: 100}, {Op: "RETR", Name: "b.bin", Bytes: 7}}}}
	return f
}

// TestShardedPathNoAlloc checks that the per-packet and per-event paths
// allocate nothing once their buffers have grown: the reader's decode and
// batching, and a worker's event snapshots.
func TestShardedPathNoAlloc(t *testing.T) {
	p := &shardedPipeline{cfg: shardConfig{}, workers: []*worker{{}, {}}}
	r := newShardReader(p)
	// Stand-in workers: finish every round straight away.
	stop := make(chan struct{})
	defer close(stop)
	for i := range r.in {
		go func() {
			for {
				select {
				case b := <-r.in[i]:
					r.done[i].Store(b.round)
				case <-stop:
					return
				}
			}
		}()
	}
	frames := tcpConn(t, "10.0.0.1", "10.0.0.2", 40000, 80, 20)
	pkts := make([]capture.Packet, len(frames))
	for i, fr := range frames {
		pkts[i] = capture.Packet{Data: fr, OrigLen: len(fr), LinkType: capture.LinkEthernet, Timestamp: int64(i) * 1e6}
	}
	n := 0
	add := func() {
		pk := pkts[n%len(pkts)]
		pk.Timestamp = int64(n) * 1e6
		r.add(&pk, 0)
		n++
	}
	for i := 0; i < 4*batchSlots*len(r.in); i++ {
		add()
	}
	if a := testing.AllocsPerRun(5000, add); a != 0 {
		t.Errorf("reader: %v allocations per packet", a)
	}

	w := &worker{p: &shardedPipeline{wants: [4]bool{true, true, true, true}}, batches: []*eventBatch{{}}}
	f := testFlow()
	ev := func() {
		w.FlowEvent(flows.EventUpdate, f)
		if b := w.batches[0]; b.n >= 3*eventChunk {
			b.reset()
		}
	}
	for i := 0; i < 4*eventChunk; i++ {
		ev()
	}
	if w.events == 0 {
		t.Fatal("no event was copied: the test measures nothing")
	}
	if a := testing.AllocsPerRun(5000, ev); a != 0 {
		t.Errorf("worker: %v allocations per event", a)
	}
}

// BenchmarkFlowEventSnapshot is a worker's cost per flow event: the copy
// a detector shard reads.
func BenchmarkFlowEventSnapshot(b *testing.B) {
	w := &worker{p: &shardedPipeline{wants: [4]bool{true, true, true, true}}, batches: []*eventBatch{{}}}
	f := testFlow()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.FlowEvent(flows.EventUpdate, f)
		if bt := w.batches[0]; bt.n >= 4*eventChunk {
			bt.reset()
		}
	}
}

// BenchmarkShardedRead reads the demo capture through two workers and a
// detector shard; allocs/op is per run of the whole pipeline.
func BenchmarkShardedRead(b *testing.B) {
	demo := filepath.Join("..", "..", "testdata", "demo.pcap")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var out, stderr bytes.Buffer
		if code := run([]string{"read", "--flows", "--workers", "2", demo}, &out, &stderr); code != 0 {
			b.Fatal(stderr.String())
		}
	}
}
