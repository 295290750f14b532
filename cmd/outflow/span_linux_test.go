//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"outflow/capture/netlab"
	"outflow/capture/synth"
)

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// spanRun is `outflow span` running in process.
type spanRun struct {
	cancel context.CancelFunc
	done   chan error
	stderr *lockedBuffer
	out    string // records file
}

// startSpan runs span on the lab server's interface with args added, and
// waits until it captures.
func startSpan(t *testing.T, l *netlab.Lab, args ...string) *spanRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &spanRun{cancel: cancel, done: make(chan error, 1), stderr: &lockedBuffer{}, out: filepath.Join(t.TempDir(), "span.json")}
	all := append([]string{"-i", l.Server.Iface, "--netns", "/var/run/netns/" + l.Server.NS, "--flows", "-o", r.out}, args...)
	go func() { r.done <- runSpan(ctx, all, io.Discard, r.stderr) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(netlab.WaitTimeout)
	for !strings.Contains(r.stderr.String(), "span running") {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("span ended before it ran: %v\n%s", err, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("span not running after %v:\n%s", netlab.WaitTimeout, r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// stop ends span (as SIGINT would) and waits for it, bounded.
func (r *spanRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a later stop (Cleanup)
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("span did not stop within 30s after cancel:\n%s", r.stderr.String())
		return nil
	}
}

var statRe = regexp.MustCompile(`\b(kernel_packets|kernel_drops)=(\d+)`)

// lastStat is a counter from the last stats (or summary) line.
func (r *spanRun) lastStat(name string) int64 {
	v := int64(-1)
	for _, m := range statRe.FindAllStringSubmatch(r.stderr.String(), -1) {
		if m[1] == name {
			v, _ = strconv.ParseInt(m[2], 10, 64)
		}
	}
	return v
}

// waitPackets waits, bounded, until the kernel counted n packets.
func (r *spanRun) waitPackets(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(netlab.WaitTimeout)
	for r.lastStat("kernel_packets") < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// flowKey names a flow record by its 5-tuple.
func flowKey(m map[string]any) string {
	return fmt.Sprintf("%s %s:%v > %s:%v", str(m, "network.transport"), str(m, "source.ip"), field(m, "source.port"),
		str(m, "destination.ip"), field(m, "destination.port"))
}

func readRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("record is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// spanTraffic writes a capture of many small flows between addresses
// that are not the lab's (the server's stack drops them: frames are not
// addressed to it, so nothing answers), and returns its flow records as
// read offline.
func spanTraffic(t *testing.T, dir string) (string, map[string]map[string]any) {
	t.Helper()
	s := synth.NewScenario("span", 11, time.Time{})
	for i := 0; i < 64; i++ {
		c := netip.AddrFrom4([4]byte{172, 18, byte(i / 16), byte(2 + i%16)})
		srv := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i%7)})
		ep := synth.Endpoints{Client: c, Server: srv, ClientPort: s.EphemeralPort(c), ServerPort: uint16(8000 + i)}
		at := time.Duration(i) * 3 * time.Millisecond
		if i%2 == 0 {
			s.HTTP(ep, at, []synth.HTTPExchange{{Request: synth.HTTPRequest{Host: "h.example", Path: fmt.Sprintf("/%d", i)},
				Response: synth.HTTPResponse{Body: synth.Text(500 + 300*(i%5))}}}, synth.TCPOptions{})
		} else {
			u := s.UDP(ep, at, "", synth.UDPOptions{})
			for k := 0; k < 1+i%6; k++ {
				u.Send(synth.ToServer, synth.Random(60+10*k), time.Millisecond)
				u.Send(synth.ToClient, synth.Random(200), time.Millisecond)
			}
		}
	}
	pcap := filepath.Join(dir, "traffic.pcap")
	if _, err := synth.WriteFile(pcap, s, synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	var out, stderr bytes.Buffer
	if code := run([]string{"read", "--flows", "--no-detect", pcap}, &out, &stderr); code != 0 {
		t.Fatalf("read: %s", stderr.String())
	}
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		want[flowKey(m)] = m
	}
	if len(want) != 64 {
		t.Fatalf("the capture has %d flows, want 64", len(want))
	}
	return pcap, want
}

// TestSpanLab replays generated traffic into one end of a veth pair and
// runs span, with two workers, on the other end: every flow is seen once,
// with the counters an offline read of the same capture gives, the
// kernel spreads the flows over both workers, and per-worker counters
// are logged while it runs and at the end.
func TestSpanLab(t *testing.T) {
	netlab.Require(t, "tcpreplay")
	l := netlab.New(t)
	pcap, want := spanTraffic(t, t.TempDir())
	var total int64
	for _, m := range want {
		total += num(m, "network.packets")
	}
	r := startSpan(t, l, "--workers", "2", "--stats-interval", "100ms", "--filter", "net 172.18.0.0/16 or net 198.51.100.0/24")
	l.Run(l.Client.NS, "tcpreplay", "--topspeed", "-i", l.Client.Iface, pcap)
	r.waitPackets(t, total)
	if err := r.stop(t); err != nil {
		t.Fatalf("span: %v\n%s", err, r.stderr.String())
	}
	logs := r.stderr.String()
	got := map[string]int{}
	for _, m := range readRecords(t, r.out) {
		k := flowKey(m)
		got[k]++
		w, ok := want[k]
		if !ok {
			t.Errorf("record of a flow not in the capture (the filter should keep the lab's own traffic out): %s", k)
			continue
		}
		for _, f := range []string{"source.packets", "source.bytes", "destination.packets", "destination.bytes", "network.bytes"} {
			if num(m, f) != num(w, f) {
				t.Errorf("%s: %s %d, offline %d", k, f, num(m, f), num(w, f))
			}
		}
		if str(m, "network.protocol") != str(w, "network.protocol") {
			t.Errorf("%s: protocol %q, offline %q", k, str(m, "network.protocol"), str(w, "network.protocol"))
		}
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s: %d records, want 1", k, got[k])
		}
	}
	if !strings.Contains(logs, `msg="span stats"`) || !strings.Contains(logs, "worker_kernel_drops=") {
		t.Errorf("no periodic per-worker counters:\n%s", logs)
	}
	sum := regexp.MustCompile(`msg="span stopped; open flows flushed".*\bworker_packets=(\d+),(\d+)\b`).FindStringSubmatch(logs)
	if sum == nil {
		t.Fatalf("no summary with per-worker packets:\n%s", logs)
	}
	a, _ := strconv.ParseInt(sum[1], 10, 64)
	b, _ := strconv.ParseInt(sum[2], 10, 64)
	if a == 0 || b == 0 || a+b != total {
		t.Errorf("workers got %d and %d packets, want %d in all, spread over both", a, b, total)
	}
	if d := r.lastStat("kernel_drops"); d != 0 {
		t.Errorf("%d kernel drops for %d packets", d, total)
	}
	t.Logf("%d flows, %d packets: workers %d and %d", len(want), total, a, b)
}

// TestSpanErrors checks the errors for what span cannot start with.
func TestSpanErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no interface"},
		{[]string{"-i", "eth0", "--filter", "vlan 3"}, "--filter"},
		{[]string{"-i", "eth0", "--workers", "0"}, "--workers"},
		{[]string{"-i", "eth0", "extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		err := runSpan(context.Background(), tc.args, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("span %v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the rest needs root")
	}
	var stderr bytes.Buffer
	err := runSpan(context.Background(), []string{"-i", "outflow-none0", "--workers", "1"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), `interface "outflow-none0"`) || !strings.Contains(err.Error(), "no such network interface") {
		t.Errorf("missing interface: %v", err)
	}
}

// TestSpanLiveRate measures span live (opt-in: OUTFLOW_LIVEBENCH=1, root,
// tcpreplay): a bench capture is replayed with tcpreplay into one end of a
// veth pair inside a lab namespace at rising --pps steps, and at
// --topspeed, with span capturing on the other end with 1 and 2 workers.
// It logs the kernel's packet and drop counts per step: the highest rate
// without drops, and the drop rate at full speed. It asserts nothing
// about rates: the machines it runs on are shared and noisy.
func TestSpanLiveRate(t *testing.T) {
	if os.Getenv("OUTFLOW_LIVEBENCH") == "" {
		t.Skip("set OUTFLOW_LIVEBENCH=1 to measure (takes a few minutes)")
	}
	netlab.Require(t, "tcpreplay")
	l := netlab.New(t)
	packets := 300_000
	if v, err := strconv.Atoi(os.Getenv("OUTFLOW_LIVEBENCH_PACKETS")); err == nil && v > 0 {
		packets = v
	}
	// More span flags, e.g. smaller rings to find where drops start:
	// OUTFLOW_LIVEBENCH_ARGS="--ring-blocks 2 --ring-block-size 262144".
	extra := strings.Fields(os.Getenv("OUTFLOW_LIVEBENCH_ARGS"))
	pcap := filepath.Join(t.TempDir(), "bench.pcap")
	sc, err := synth.Bench(packets, packets/40, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFile(pcap, sc, synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	// 0: --topspeed; -1: two tcpreplay at --topspeed at once (one sender
	// cannot outrun the capture here).
	steps := []int{50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 0, -1}
	rateRe := regexp.MustCompile(`Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps`)
	type row struct {
		workers, pps      int
		sent, seen, drops int64
		achieved          float64
	}
	var rows []row
	for _, workers := range []int{1, 2} {
		for _, pps := range steps {
			// The filter keeps the lab's own IPv6 neighbour discovery out
			// of the counts.
			args := append([]string{"--workers", strconv.Itoa(workers), "--stats-interval", "200ms",
				"--filter", "not (ip6 and (src net fe80::/10 or dst net ff00::/8 or src host ::))"}, extra...)
			r := startSpan(t, l, args...)
			rargs := []string{"-i", l.Client.Iface, "--topspeed"}
			limit := packets
			if pps > 0 {
				// About three seconds of traffic per step.
				limit = min(packets, 3*pps)
				rargs = []string{"-i", l.Client.Iface, "--pps", strconv.Itoa(pps)}
			}
			rargs = append(rargs, "--limit", strconv.Itoa(limit), pcap)
			senders := 1
			if pps < 0 {
				senders = 2
			}
			outs := make([]string, senders)
			var wg sync.WaitGroup
			for i := range outs {
				cmd := l.Command(l.Client.NS, "tcpreplay", rargs...)
				wg.Add(1)
				go func() {
					defer wg.Done()
					b, err := cmd.CombinedOutput()
					if err != nil {
						b = append(b, []byte(err.Error())...)
					}
					outs[i] = string(b)
				}()
			}
			wg.Wait()
			limit *= senders
			out := strings.Join(outs, "\n")
			r.waitPackets(t, int64(limit))
			if err := r.stop(t); err != nil {
				t.Fatalf("span: %v", err)
			}
			rw := row{workers: workers, pps: pps, sent: int64(limit), seen: r.lastStat("kernel_packets"), drops: r.lastStat("kernel_drops")}
			for _, m := range rateRe.FindAllStringSubmatch(out, -1) {
				v, _ := strconv.ParseFloat(m[1], 64)
				rw.achieved += v
			}
			rows = append(rows, rw)
			t.Logf("workers=%d pps=%d: tcpreplay %0.f pps, kernel saw %d of %d, dropped %d", workers, pps, rw.achieved, rw.seen, rw.sent, rw.drops)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-8s %-10s %-14s %-10s %-10s %s\n", "workers", "--pps", "tcpreplay pps", "packets", "dropped", "drop rate")
	best := map[int]float64{}
	for _, r := range rows {
		rate := 0.0
		if r.seen > 0 {
			rate = float64(r.drops) / float64(r.seen)
		}
		p := "topspeed"
		switch {
		case r.pps > 0:
			p = strconv.Itoa(r.pps)
		case r.pps < 0:
			p = "topspeed x2"
		}
		if r.drops == 0 && r.achieved > best[r.workers] {
			best[r.workers] = r.achieved
		}
		fmt.Fprintf(&b, "%-8d %-10s %-14.0f %-10d %-10d %.4f\n", r.workers, p, r.achieved, r.seen, r.drops, rate)
	}
	for _, w := range []int{1, 2} {
		fmt.Fprintf(&b, "highest rate without kernel drops, %d worker(s): %.0f pps (as tcpreplay measured it)\n", w, best[w])
	}
	t.Log(b.String())
}
