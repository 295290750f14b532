package ipfix

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

func addr(s string) decode.Addr { return netip.MustParseAddr(s).As16() }

// appState stands in for the l7 engine's per-flow state.
type appState string

func (a appState) Done() bool            { return true }
func (a appState) Reversed() bool        { return false }
func (a appState) Protocol() string      { return string(a) }
func (a appState) Domain() string        { return "" }
func (a appState) Fields(*ecs.Doc)       {}
func (a appState) Summary(s *l7.Summary) {}

func nameOf(name string) func(*flows.Flow) string {
	return func(*flows.Flow) string { return name }
}

const t0 = int64(1_709_294_400_123_456_789) // 2024-03-01T12:00:00.123456789Z

// testFlows are flows as the table hands them to observers at EventEnd.
func testFlows() map[string]flows.Flow {
	return map[string]flows.Flow{
		"tcp4": {Key: flows.Key{A: addr("172.17.0.2"), B: addr("203.0.113.10"), APort: 40000, BPort: 443, Proto: 6},
			Proto: 6, Packets: [2]uint64{10, 8}, Bytes: [2]uint64{1000, 8000}, Flags: [2]uint8{0x1b, 0x12},
			First: t0, Last: t0 + 5_250_000_000, Reason: flows.EndFIN, App: appState("tls")},
		"udp6": {Key: flows.Key{A: addr("2001:db8::1"), B: addr("2001:db8::53"), APort: 5353, BPort: 53, Proto: 17},
			Proto: 17, IPv6: true, Packets: [2]uint64{1, 1}, Bytes: [2]uint64{70, 120},
			First: t0, Last: t0 + 1e6, Reason: flows.EndIdle, App: appState("dns")},
		"icmp4": {Key: flows.Key{A: addr("10.0.0.1"), B: addr("192.0.2.8"), APort: 8, BPort: 0, Proto: 1},
			Proto: 1, ICMPType: 8, ICMPCode: 0, Packets: [2]uint64{3, 3}, Bytes: [2]uint64{252, 252},
			First: t0, Last: t0 + 2e9, Reason: flows.EndEndOfInput},
		"icmp6": {Key: flows.Key{A: addr("2001:db8::1"), B: addr("2001:db8::2"), APort: 128, BPort: 129, Proto: 58},
			Proto: 58, IPv6: true, ICMPType: 128, Packets: [2]uint64{1, 0}, Bytes: [2]uint64{104, 0},
			First: t0, Last: t0, Reason: flows.EndEvicted},
		"other": {Key: flows.Key{A: addr("10.0.0.1"), B: addr("10.0.0.2"), Proto: 47},
			Proto: 47, Packets: [2]uint64{1 << 40, 0}, Bytes: [2]uint64{1 << 50, 0},
			First: t0, Last: t0 + 3600e9, Reason: flows.EndActive},
		"rst": {Key: flows.Key{A: addr("10.0.0.1"), B: addr("10.0.0.2"), APort: 1, BPort: 65535, Proto: 6},
			Proto: 6, Packets: [2]uint64{1, 1}, Bytes: [2]uint64{40, 40}, Flags: [2]uint8{0x02, 0x14},
			First: t0, Last: t0, Reason: flows.EndRST},
	}
}

// msgLog collects the messages an exporter writes (copies: the exporter
// reuses its buffer).
type msgLog struct {
	mu   sync.Mutex
	msgs [][]byte
	gate chan struct{} // when set, each Write waits for a token
}

func (l *msgLog) Write(b []byte) (int, error) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, bytes.Clone(b))
	return len(b), nil
}

func (l *msgLog) decodeAll(t *testing.T) []message {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	d := newDecoder(DefaultPEN)
	var out []message
	for i, b := range l.msgs {
		m, err := d.decode(b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		out = append(out, m)
	}
	return out
}

// fastConfig paces far above what tests send, so they do not wait.
func fastConfig() Config {
	return Config{Rate: 1e6, Burst: 1e6, Container: nameOf("web-1")}
}

func export(t *testing.T, cfg Config, fs []flows.Flow) ([]message, Stats) {
	t.Helper()
	var log msgLog
	e, err := NewWriter(cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		e.FlowEvent(flows.EventStart, &fs[i]) // ignored
		e.FlowEvent(flows.EventEnd, &fs[i])
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return log.decodeAll(t), e.Stats()
}

func TestRecordRoundTrip(t *testing.T) {
	for name, f := range testFlows() {
		t.Run(name, func(t *testing.T) {
			msgs, st := export(t, fastConfig(), []flows.Flow{f})
			if len(msgs) != 1 || len(msgs[0].records) != 1 {
				t.Fatalf("got %d messages, want one with one record", len(msgs))
			}
			if st.Exported != 1 || st.Dropped != 0 || st.Messages != 1 || st.Templates != 1 {
				t.Errorf("stats %+v", st)
			}
			got := msgs[0].records[0]
			src, sp := f.Src()
			dst, dp := f.Dst()
			want := record{src: src, dst: dst, sport: sp, dport: dp, proto: f.Proto, v6: f.IPv6,
				flags: f.Flags, packets: f.Packets, bytes: f.Bytes,
				start: f.First / 1e6, end: f.Last / 1e6, reason: endReason(f.Reason), container: "web-1"}
			if f.Proto == 1 || f.Proto == 58 {
				want.icmp = uint16(f.ICMPType)<<8 | uint16(f.ICMPCode)
			}
			if f.App != nil {
				want.app = f.App.Protocol()
			}
			if !f.IPv6 {
				// The decoder maps IPv4 back to v4-mapped form, as decode.Addr holds it.
				want.src, want.dst = netip.AddrFrom16(want.src).Unmap().As16(), netip.AddrFrom16(want.dst).Unmap().As16()
				got.src, got.dst = netip.AddrFrom16(got.src).Unmap().As16(), netip.AddrFrom16(got.dst).Unmap().As16()
			}
			if got != want {
				t.Errorf("record\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEndReasons(t *testing.T) {
	for _, tc := range []struct {
		r    flows.EndReason
		want uint8
	}{
		{flows.EndIdle, 1}, {flows.EndActive, 2}, {flows.EndFIN, 3}, {flows.EndRST, 3},
		{flows.EndEndOfInput, 4}, {flows.EndEvicted, 5}, {flows.EndNone, 4},
	} {
		if got := endReason(tc.r); got != tc.want {
			t.Errorf("%v: got %d, want %d", tc.r, got, tc.want)
		}
	}
}

func TestStrings(t *testing.T) {
	long := strings.Repeat("x", 300)
	multi := strings.Repeat("é", 200) // 400 bytes of two-byte runes
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "api", "api"},
		{"max", long[:254], long[:254]},
		{"cut", long, long[:254]},
		{"rune boundary", multi, multi[:254]},
		{"odd rune boundary", "a" + multi, "a" + multi[:252]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testFlows()["tcp4"]
			f.App = appState(tc.in)
			msgs, _ := export(t, Config{Rate: 1e6, Container: nameOf(tc.in)}, []flows.Flow{f})
			r := msgs[0].records[0]
			if r.container != tc.want || r.app != tc.want {
				t.Errorf("got %q/%q, want %q", r.container, r.app, tc.want)
			}
		})
	}
}

// manyFlows returns n distinct flows, IPv4 and IPv6 mixed in runs so that
// messages hold sets of both templates.
func manyFlows(n int) []flows.Flow {
	fs := make([]flows.Flow, n)
	for i := range fs {
		f := flows.Flow{Proto: 17, Packets: [2]uint64{uint64(i), 1}, Bytes: [2]uint64{uint64(i) * 100, 60},
			First: t0 + int64(i)*1e6, Last: t0 + int64(i)*2e6, Reason: flows.EndIdle}
		f.Key = flows.Key{A: addr(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)), B: addr("192.0.2.1"), APort: uint16(i), BPort: 53, Proto: 17}
		if i/7%3 == 0 {
			f.IPv6 = true
			f.Key.A = addr(fmt.Sprintf("2001:db8::%x", i))
		}
		fs[i] = f
	}
	return fs
}

func TestMessages(t *testing.T) {
	const n = 5000
	for _, tc := range []struct {
		name       string
		cfg        Config
		wantTmplAt func(i int) bool // which messages must carry templates
	}{
		{"defaults", Config{Rate: 1e6}, func(i int) bool { return i == 0 }},
		{"small messages", Config{Rate: 1e6, MaxMessage: minMessage()}, func(i int) bool { return i == 0 }},
		{"jumbo", Config{Rate: 1e6, MaxMessage: 9000, Domain: 77}, func(i int) bool { return i == 0 }},
		{"resend by count", Config{Rate: 1e6, TemplateMessages: 10}, func(i int) bool { return i%10 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Queue = n // Wait is 0: nothing may be dropped for lack of room
			cfg.MaxDelay = time.Hour
			msgs, st := export(t, cfg, manyFlows(n))
			max, domain := cfg.MaxMessage, cfg.Domain
			if max == 0 {
				max = DefaultMaxMessage
			}
			if domain == 0 {
				domain = DefaultDomain
			}
			var seq uint32
			total := 0
			for i, m := range msgs {
				if int(m.length) > max {
					t.Fatalf("message %d: %d bytes > %d", i, m.length, max)
				}
				if m.seq != seq {
					t.Fatalf("message %d: sequence %d, want %d (data records before it)", i, m.seq, seq)
				}
				if m.domain != domain {
					t.Fatalf("message %d: domain %d, want %d", i, m.domain, domain)
				}
				if got := len(m.templates) == 2; got != tc.wantTmplAt(i) {
					t.Fatalf("message %d: templates %v, want them: %v", i, m.templates, tc.wantTmplAt(i))
				}
				if m.exportTime == 0 {
					t.Fatalf("message %d: no export time", i)
				}
				// Messages are full: the next record would not have fitted.
				if i < len(msgs)-1 && len(m.records) > 0 && len(msgs[i+1].records) > 0 {
					last, next := m.records[len(m.records)-1], msgs[i+1].records[0]
					need := next.size()
					if next.v6 != last.v6 {
						need += setHeaderLen
					}
					if int(m.length)+need <= max {
						t.Fatalf("message %d: %d bytes sent with room for the next record", i, m.length)
					}
				}
				seq += uint32(len(m.records))
				total += len(m.records)
			}
			if total != n || st.Exported != n || st.Queued != n || st.Dropped != 0 {
				t.Fatalf("decoded %d records, stats %+v; want %d", total, st, n)
			}
			if st.Messages != uint64(len(msgs)) {
				t.Errorf("stats say %d messages, %d written", st.Messages, len(msgs))
			}
			// Records arrive in order, unchanged.
			want := manyFlows(n)
			k := 0
			for _, m := range msgs {
				for _, r := range m.records {
					if r.packets[0] != want[k].Packets[0] || r.sport != want[k].Key.APort || r.v6 != want[k].IPv6 {
						t.Fatalf("record %d: %+v, want flow %+v", k, r, want[k])
					}
					k++
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Rate: -1},
		{MaxMessage: 100},
		{MaxMessage: 70000},
	} {
		if _, err := NewWriter(cfg, &msgLog{}); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without an address: no error")
	}
	if _, err := New(Config{Addr: "no-such-host.invalid:4739"}); err == nil {
		t.Error("New with an unresolvable address: no error")
	}
}

// A sender that cannot keep up: with Wait 0 the table never waits, and
// what does not fit the queue is counted as dropped.
func TestQueueFullDrops(t *testing.T) {
	log := &msgLog{gate: make(chan struct{})}
	e, err := NewWriter(Config{Rate: 1e6, Queue: 100}, log)
	if err != nil {
		t.Fatal(err)
	}
	fs := manyFlows(2000)
	for i := range fs {
		e.FlowEvent(flows.EventEnd, &fs[i])
	}
	st := e.Stats()
	if st.Dropped == 0 || st.Queued+st.Dropped != 2000 || st.Waits != 0 {
		t.Errorf("stats with a stuck sender: %+v", st)
	}
	close(log.gate)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st = e.Stats()
	var got uint64
	for _, m := range log.decodeAll(t) {
		got += uint64(len(m.records))
	}
	if got != st.Queued || st.Exported != st.Queued {
		t.Errorf("queued %d, exported %d, decoded %d", st.Queued, st.Exported, got)
	}
	// After Close, records are dropped, not sent.
	e.FlowEvent(flows.EventEnd, &fs[0])
	if e.Stats().Dropped != st.Dropped+1 {
		t.Error("FlowEvent after Close was not counted as dropped")
	}
}

// With Wait, a slow sender slows the caller down instead: nothing is lost.
func TestWaitForRoom(t *testing.T) {
	log := &msgLog{gate: make(chan struct{})}
	e, err := NewWriter(Config{Rate: 1e6, Queue: 10, Wait: time.Minute}, log)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 1000 {
			log.gate <- struct{}{}
		}
		close(log.gate)
	}()
	fs := manyFlows(500)
	for i := range fs {
		e.FlowEvent(flows.EventEnd, &fs[i])
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Dropped != 0 || st.Exported != 500 || st.Waits == 0 {
		t.Errorf("stats %+v", st)
	}
}

// A sender stuck for longer than Wait costs one Wait, then records are
// dropped at once until the queue has room again.
func TestWaitTimesOut(t *testing.T) {
	log := &msgLog{gate: make(chan struct{})}
	e, err := NewWriter(Config{Rate: 1e6, Queue: 10, Wait: 10 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	fs := manyFlows(200)
	for i := range fs {
		e.FlowEvent(flows.EventEnd, &fs[i])
	}
	// The sender takes up to a message's worth of records off the queue
	// before it blocks, and each record that then finds room resets the
	// stall, so waits are bounded by what the sender took (how the
	// goroutines interleave decides how many, up to about a message's
	// worth), never one per dropped record.
	st := e.Stats()
	if st.Dropped < 100 || st.Waits > 20 { // a message holds about 16 records
		t.Errorf("stats %+v: want drops after a few waits", st)
	}
	close(log.gate)
	e.Close()
}

type errWriter struct{ n int }

func (w *errWriter) Write(b []byte) (int, error) {
	w.n++
	return 0, fmt.Errorf("connection refused")
}

func TestSendErrors(t *testing.T) {
	w := &errWriter{}
	e, err := NewWriter(Config{Rate: 1e6}, w)
	if err != nil {
		t.Fatal(err)
	}
	fs := manyFlows(100)
	for i := range fs {
		e.FlowEvent(flows.EventEnd, &fs[i])
	}
	if err := e.Close(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Close: %v, want the send error", err)
	}
	st := e.Stats()
	if st.SendErrors == 0 || st.SendErrors != uint64(w.n) || st.Exported != 0 {
		t.Errorf("stats %+v after %d failed writes", st, w.n)
	}
}

// A partly filled message goes out after MaxDelay even without more
// records (live capture: flows end one by one).
func TestMaxDelay(t *testing.T) {
	var log msgLog
	e, err := NewWriter(Config{Rate: 1e6, MaxDelay: 10 * time.Millisecond}, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := testFlows()["tcp4"]
	e.FlowEvent(flows.EventEnd, &f)
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Messages == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.Stats().Exported != 1 {
		t.Fatalf("record not sent before Close: %+v", e.Stats())
	}
}

// Templates are resent once TemplateInterval has passed (fake clock).
func TestTemplateResendByTime(t *testing.T) {
	var log msgLog
	e := &Exporter{w: &log, cfg: Config{Rate: 1e6, Burst: 1e6, MaxMessage: DefaultMaxMessage, PEN: DefaultPEN,
		TemplateInterval: time.Minute, TemplateMessages: 1000}}
	s := newSender(e)
	clock := time.Unix(1e9, 0)
	s.now = func() time.Time { return clock }
	s.sleep = func(d time.Duration) { clock = clock.Add(d) }
	f := testFlows()["tcp4"]
	var r record
	r.fill(&f, "")
	s.begin(s.now())
	for _, step := range []time.Duration{0, 10 * time.Second, 49 * time.Second, time.Second, 30 * time.Second, 2 * time.Minute, 0} {
		clock = clock.Add(step)
		s.add(&r)
		s.flush()
	}
	msgs := log.decodeAll(t)
	var got []bool
	for _, m := range msgs {
		got = append(got, len(m.templates) == 2)
	}
	// Sent at 0 (the first message), at 60 s (a minute later) and at 3:30.
	wantAt := []bool{true, false, false, true, false, true, false}
	if fmt.Sprint(got) != fmt.Sprint(wantAt) {
		t.Errorf("templates in messages: %v, want %v", got, wantAt)
	}
}

// Pacing with a fake clock: after a burst, one message per interval.
func TestPacing(t *testing.T) {
	for _, tc := range []struct {
		rate, burst, n int
	}{
		{1000, 1, 100}, {1000, 5, 100}, {4000, 20, 1000}, {10, 1, 3},
	} {
		t.Run(fmt.Sprintf("rate %d burst %d", tc.rate, tc.burst), func(t *testing.T) {
			e := &Exporter{cfg: Config{Rate: tc.rate, Burst: tc.burst, MaxMessage: DefaultMaxMessage, PEN: DefaultPEN}}
			s := newSender(e)
			clock := time.Unix(1e9, 0)
			start := clock
			var slept time.Duration
			s.now = func() time.Time { return clock }
			s.sleep = func(d time.Duration) { slept += d; clock = clock.Add(d) }
			for range tc.n {
				s.pace()
			}
			interval := time.Second / time.Duration(tc.rate)
			want := time.Duration(tc.n-tc.burst) * interval
			if got := clock.Sub(start); got != want || slept != want {
				t.Errorf("%d messages took %v (slept %v), want %v", tc.n, got, slept, want)
			}
			// Idle time refills the bucket up to the burst, no more.
			clock = clock.Add(time.Hour)
			slept = 0
			for range tc.burst {
				s.pace()
			}
			if slept != 0 {
				t.Errorf("burst after idling waited %v", slept)
			}
			s.pace()
			if slept != interval {
				t.Errorf("message past the burst waited %v, want %v", slept, interval)
			}
		})
	}
}

// The packet path (FlowEvent) and the sender allocate nothing per record.
func TestNoAllocs(t *testing.T) {
	e, err := NewWriter(Config{Rate: 1e9, Burst: 1e9, Queue: 1 << 16, Container: nameOf("web")}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fs := manyFlows(1000)
	i := 0
	allocs := testing.AllocsPerRun(20000, func() {
		e.FlowEvent(flows.EventEnd, &fs[i%len(fs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per record", allocs)
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func BenchmarkEncode(b *testing.B) {
	fs := manyFlows(1024)
	recs := make([]record, len(fs))
	for i := range fs {
		fs[i].App = appState("http")
		recs[i].fill(&fs[i], "payments-api-7d9f8b6c5-x2k4q")
	}
	enc := newEncoder(DefaultMaxMessage, DefaultPEN, 1)
	enc.begin()
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int
	for i := 0; i < b.N; i++ {
		if !enc.add(&recs[i%len(recs)]) {
			bytes += len(enc.finish(1))
			enc.begin()
			enc.add(&recs[i%len(recs)])
		}
	}
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

// BenchmarkFlowEvent is the packet path's cost per record, the sender
// running (unpaced) on another goroutine.
func BenchmarkFlowEvent(b *testing.B) {
	e, err := NewWriter(Config{Rate: 1e9, Burst: 1e9, Queue: 1 << 16, Wait: time.Minute, Container: nameOf("web")}, discard{})
	if err != nil {
		b.Fatal(err)
	}
	fs := manyFlows(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.FlowEvent(flows.EventEnd, &fs[i%len(fs)])
	}
	e.Close()
	b.StopTimer()
	if st := e.Stats(); st.Dropped != 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
}

// Several tables (workers) may share one exporter: records are neither
// lost nor duplicated, and one sender numbers the messages.
func TestConcurrentProducers(t *testing.T) {
	var log msgLog
	e, err := NewWriter(Config{Rate: 1e6, Burst: 1e6, Queue: 64, Wait: time.Minute}, &log)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 2000
	fs := manyFlows(workers * each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * each; i < (w+1)*each; i++ {
				e.FlowEvent(flows.EventEnd, &fs[i])
			}
		}()
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]int{}
	var seq uint32
	for i, m := range log.decodeAll(t) {
		if m.seq != seq {
			t.Fatalf("message %d: sequence %d, want %d", i, m.seq, seq)
		}
		seq += uint32(len(m.records))
		for _, r := range m.records {
			seen[r.sport]++
		}
	}
	if len(seen) != workers*each || e.Stats().Dropped != 0 {
		t.Fatalf("%d distinct records of %d, stats %+v", len(seen), workers*each, e.Stats())
	}
	for p, n := range seen {
		if n != 1 {
			t.Fatalf("record %d sent %d times", p, n)
		}
	}
}

// Waiting for room (reading files faster than the export rate) does not
// allocate either.
func TestNoAllocsWhenWaiting(t *testing.T) {
	e, err := NewWriter(Config{Rate: 1e9, Burst: 1e9, Queue: 4, Wait: time.Minute}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fs := manyFlows(1000)
	i := 0
	allocs := testing.AllocsPerRun(20000, func() {
		e.FlowEvent(flows.EventEnd, &fs[i%len(fs)])
		i++
	})
	if e.Stats().Waits == 0 {
		t.Skip("the queue never filled: nothing measured")
	}
	if allocs > 0.01 {
		t.Errorf("%.3f allocations per record", allocs)
	}
}
