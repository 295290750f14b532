package flows

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/http"
)

const sec = int64(time.Second)

type pkt struct {
	at           int64 // seconds
	src, dst     string
	sport        uint16
	dport        uint16
	proto        uint8
	flags        uint8
	bytes        int
	icmpT, icmpC uint8
}

func (p pkt) headers() decode.Headers {
	h := decode.Headers{
		Src: addr(p.src), Dst: addr(p.dst), Proto: p.proto, SrcPort: p.sport, DstPort: p.dport,
		TCPFlags: p.flags, IPBytes: p.bytes, Packets: 1, ICMPType: p.icmpT, ICMPCode: p.icmpC,
	}
	if h.IPBytes == 0 {
		h.IPBytes = 60
	}
	return h
}

// collect records every EventEnd as the fields a test checks.
type ended struct {
	src, dst     string
	sport, dport uint16
	reason       EndReason
	pkts         [2]uint64
	bytes        [2]uint64
	cid          string
}

type recorder struct {
	ends   []ended
	events map[Event]int
}

func (r *recorder) FlowEvent(ev Event, f *Flow) {
	if r.events == nil {
		r.events = map[Event]int{}
	}
	r.events[ev]++
	if ev != EventEnd {
		return
	}
	s, sp := f.Src()
	d, dp := f.Dst()
	r.ends = append(r.ends, ended{AddrOf(s).String(), AddrOf(d).String(), sp, dp, f.Reason, f.Packets, f.Bytes, string(f.AppendCommunityID(nil))})
}

const (
	S  = decode.TCPSyn
	A  = decode.TCPAck
	F  = decode.TCPFin
	R  = decode.TCPRst
	SA = decode.TCPSyn | decode.TCPAck
	FA = decode.TCPFin | decode.TCPAck
)

func TestTableLifecycle(t *testing.T) {
	c, s := "10.0.0.1", "192.0.2.10"
	tests := []struct {
		name string
		cfg  Config
		pkts []pkt
		want []ended // checked fields: src, dst, ports, reason, pkts
	}{
		{"tcp handshake and fin", Config{}, []pkt{
			{0, c, s, 40000, 80, 6, S, 60, 0, 0},
			{0, s, c, 80, 40000, 6, SA, 60, 0, 0},
			{0, c, s, 40000, 80, 6, A, 52, 0, 0},
			{1, c, s, 40000, 80, 6, A, 552, 0, 0},
			{1, s, c, 80, 40000, 6, FA, 52, 0, 0},
			{1, c, s, 40000, 80, 6, FA, 52, 0, 0},
			{1, s, c, 80, 40000, 6, A, 52, 0, 0},
		}, []ended{{src: c, dst: s, sport: 40000, dport: 80, reason: EndFIN, pkts: [2]uint64{4, 3}, bytes: [2]uint64{716, 164}}}},
		{"syn-ack seen first", Config{}, []pkt{
			{0, s, c, 80, 40000, 6, SA, 60, 0, 0},
			{0, c, s, 40000, 80, 6, A, 52, 0, 0},
		}, []ended{{src: c, dst: s, sport: 40000, dport: 80, reason: EndEndOfInput, pkts: [2]uint64{1, 1}}}},
		{"mid-stream: server speaks first", Config{}, []pkt{
			{0, s, c, 443, 51000, 6, A, 1500, 0, 0},
			{0, c, s, 51000, 443, 6, A, 52, 0, 0},
		}, []ended{{src: c, dst: s, sport: 51000, dport: 443, reason: EndEndOfInput, pkts: [2]uint64{1, 1}}}},
		{"mid-stream: both high ports, known service", Config{}, []pkt{
			{0, s, c, 5432, 33000, 6, A, 100, 0, 0},
		}, []ended{{src: c, dst: s, sport: 33000, dport: 5432, reason: EndEndOfInput, pkts: [2]uint64{0, 1}}}},
		{"rst", Config{}, []pkt{
			{0, c, s, 40001, 22, 6, S, 60, 0, 0},
			{0, s, c, 22, 40001, 6, R | A, 40, 0, 0},
		}, []ended{{src: c, dst: s, sport: 40001, dport: 22, reason: EndRST, pkts: [2]uint64{1, 1}}}},
		{"udp: first sender starts it, idle splits", Config{IdleTimeout: 30 * time.Second}, []pkt{
			{0, s, c, 53, 5353, 17, 0, 80, 0, 0},
			{1, c, s, 5353, 53, 17, 0, 80, 0, 0},
			{100, c, s, 5353, 53, 17, 0, 80, 0, 0},
		}, []ended{
			{src: s, dst: c, sport: 53, dport: 5353, reason: EndIdle, pkts: [2]uint64{1, 1}},
			{src: c, dst: s, sport: 5353, dport: 53, reason: EndEndOfInput, pkts: [2]uint64{1, 0}},
		}},
		{"icmp echo pairs", Config{}, []pkt{
			{0, "192.168.0.89", "192.168.0.1", 0, 0, 1, 0, 84, 8, 0},
			{0, "192.168.0.1", "192.168.0.89", 0, 0, 1, 0, 84, 0, 0},
		}, []ended{{src: "192.168.0.89", dst: "192.168.0.1", sport: 0, dport: 0, reason: EndEndOfInput, pkts: [2]uint64{1, 1}, cid: "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="}}},
		{"active timeout cuts long flows", Config{ActiveTimeout: 100 * time.Second}, []pkt{
			{0, c, s, 40002, 443, 6, S, 60, 0, 0},
			{0, s, c, 443, 40002, 6, SA, 60, 0, 0},
			{50, c, s, 40002, 443, 6, A, 100, 0, 0},
			{100, c, s, 40002, 443, 6, A, 100, 0, 0},
			{150, c, s, 40002, 443, 6, A, 100, 0, 0},
		}, []ended{
			{src: c, dst: s, sport: 40002, dport: 443, reason: EndActive, pkts: [2]uint64{2, 1}},
			{src: c, dst: s, sport: 40002, dport: 443, reason: EndEndOfInput, pkts: [2]uint64{2, 0}},
		}},
		{"port reuse after close", Config{}, []pkt{
			{0, c, s, 40003, 80, 6, S, 60, 0, 0},
			{0, s, c, 80, 40003, 6, R | A, 40, 0, 0},
			{1, c, s, 40003, 80, 6, S, 60, 0, 0},
		}, []ended{
			{src: c, dst: s, sport: 40003, dport: 80, reason: EndRST, pkts: [2]uint64{1, 1}},
			{src: c, dst: s, sport: 40003, dport: 80, reason: EndEndOfInput, pkts: [2]uint64{1, 0}},
		}},
		{"closed flow lingers for trailing ack", Config{}, []pkt{
			{0, c, s, 40004, 80, 6, FA, 52, 0, 0},
			{0, s, c, 80, 40004, 6, FA, 52, 0, 0},
			{0, c, s, 40004, 80, 6, A, 52, 0, 0},
			{10, c, s, 40005, 80, 6, S, 60, 0, 0},
		}, []ended{
			{src: c, dst: s, sport: 40004, dport: 80, reason: EndFIN, pkts: [2]uint64{2, 1}},
			{src: c, dst: s, sport: 40005, dport: 80, reason: EndEndOfInput, pkts: [2]uint64{1, 0}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			tab := NewTable(tc.cfg, nil, &rec)
			for _, p := range tc.pkts {
				h := p.headers()
				tab.Add(&h, p.at*sec, 0)
			}
			tab.Flush(EndEndOfInput)
			if len(rec.ends) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %d", len(rec.ends), rec.ends, len(tc.want))
			}
			for i, w := range tc.want {
				g := rec.ends[i]
				if g.src != w.src || g.dst != w.dst || g.sport != w.sport || g.dport != w.dport || g.reason != w.reason || g.pkts != w.pkts {
					t.Errorf("record %d = %+v, want %+v", i, g, w)
				}
				if w.bytes != [2]uint64{} && g.bytes != w.bytes {
					t.Errorf("record %d bytes = %v, want %v", i, g.bytes, w.bytes)
				}
				if w.cid != "" && g.cid != w.cid {
					t.Errorf("record %d community id = %s, want %s", i, g.cid, w.cid)
				}
			}
			if st := tab.Stats(); st.Active != 0 {
				t.Errorf("active after flush = %d", st.Active)
			}
		})
	}
}

func TestTableEvictionPrefersUnanswered(t *testing.T) {
	var rec recorder
	tab := NewTable(Config{MaxFlows: 10}, nil, &rec)
	// 5 answered TCP flows, then 20 SYN-only flows.
	for i := 0; i < 5; i++ {
		for _, p := range []pkt{
			{0, "10.0.0.1", "192.0.2.1", uint16(30000 + i), 443, 6, S, 60, 0, 0},
			{0, "192.0.2.1", "10.0.0.1", 443, uint16(30000 + i), 6, SA, 60, 0, 0},
		} {
			h := p.headers()
			tab.Add(&h, p.at*sec, 0)
		}
	}
	for i := 0; i < 20; i++ {
		p := pkt{1, "10.0.0.2", "192.0.2.2", uint16(40000 + i), 80, 6, S, 60, 0, 0}
		h := p.headers()
		tab.Add(&h, p.at*sec, 0)
	}
	st := tab.Stats()
	if st.Active != 10 || st.Evicted != 15 || st.Ended[EndEvicted] != 15 {
		t.Fatalf("stats = %+v, want 10 active and 15 evicted", st)
	}
	for _, e := range rec.ends {
		if e.dport == 443 {
			t.Fatalf("an answered flow was evicted while unanswered ones remained: %+v", e)
		}
	}
}

func TestTableBurstAndUpdateEvents(t *testing.T) {
	var rec recorder
	tab := NewTable(Config{BurstGap: 5 * time.Second, TCPIdleTimeout: time.Hour}, nil, &rec)
	add := func(p pkt) { h := p.headers(); tab.Add(&h, p.at*sec, 0) }
	add(pkt{0, "10.0.0.1", "192.0.2.1", 30000, 443, 6, S, 60, 0, 0})
	add(pkt{0, "192.0.2.1", "10.0.0.1", 443, 30000, 6, SA, 60, 0, 0})
	for i := int64(1); i <= 4; i++ { // four check-ins 60 s apart on one connection
		add(pkt{i * 60, "10.0.0.1", "192.0.2.1", 30000, 443, 6, A, 200, 0, 0})
		add(pkt{i * 60, "192.0.2.1", "10.0.0.1", 443, 30000, 6, A, 300, 0, 0})
	}
	if got := rec.events[EventBurst]; got != 4 {
		t.Fatalf("bursts = %d, want 4 (events %v)", got, rec.events)
	}
	if rec.events[EventStart] != 1 {
		t.Fatalf("starts = %d", rec.events[EventStart])
	}
}

func TestRecordJSON(t *testing.T) {
	var out []byte
	tab := NewTable(Config{}, nil, ObserverFunc(func(ev Event, f *Flow) {
		if ev != EventEnd {
			return
		}
		var d ecs.Doc
		AppendRecord(&d, f)
		out = d.AppendJSON(nil)
	}))
	for _, p := range []pkt{
		{0, "128.232.110.120", "66.35.250.204", 34855, 80, 6, S, 60, 0, 0},
		{1, "66.35.250.204", "128.232.110.120", 80, 34855, 6, SA, 60, 0, 0},
	} {
		h := p.headers()
		h.NVLANs, h.VLANs = 2, [2]uint16{100, 200}
		tab.Add(&h, p.at*sec+5, 0)
	}
	tab.Flush(EndEndOfInput)
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	get := func(path ...string) any {
		var cur any = doc
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[p]
		}
		return cur
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"@timestamp"}, "1970-01-01T00:00:00.000000005Z"},
		{[]string{"event", "kind"}, "event"},
		{[]string{"event", "dataset"}, "outflow.flow"},
		{[]string{"event", "duration"}, float64(sec)},
		{[]string{"event", "reason"}, "end-of-input"},
		{[]string{"network", "community_id"}, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{[]string{"network", "transport"}, "tcp"},
		{[]string{"network", "type"}, "ipv4"},
		{[]string{"network", "packets"}, float64(2)},
		{[]string{"network", "bytes"}, float64(120)},
		{[]string{"network", "vlan", "id"}, "100"},
		{[]string{"network", "inner", "vlan", "id"}, "200"},
		{[]string{"source", "ip"}, "128.232.110.120"},
		{[]string{"source", "port"}, float64(34855)},
		{[]string{"destination", "ip"}, "66.35.250.204"},
		{[]string{"destination", "packets"}, float64(1)},
	}
	for _, c := range checks {
		if got := get(c.path...); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%v = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestTableAddNoAlloc(t *testing.T) {
	tab := NewTable(Config{MaxFlows: 1000}, nil, ObserverFunc(func(Event, *Flow) {}))
	hs := make([]decode.Headers, 2000)
	for i := range hs {
		p := pkt{0, "10.0.0.1", "192.0.2.1", uint16(20000 + i), 443, 6, A, 100, 0, 0}
		hs[i] = p.headers()
	}
	// Warm up: fill the table and its free list through evictions.
	for i := range hs {
		tab.Add(&hs[i], 1, 0)
	}
	n := 0
	allocs := testing.AllocsPerRun(5000, func() {
		tab.Add(&hs[n%len(hs)], int64(n), 0) // mixes hits and evicting creates
		n++
	})
	if allocs != 0 {
		t.Fatalf("allocs per packet = %v, want 0", allocs)
	}
}

func BenchmarkTableAdd(b *testing.B) {
	tab := NewTable(Config{}, nil, nil)
	hs := make([]decode.Headers, 50000)
	for i := range hs {
		p := pkt{0, fmt.Sprintf("10.0.%d.%d", i/250, i%250), "192.0.2.1", uint16(20000 + i%40000), 443, 6, A, 100, 0, 0}
		hs[i] = p.headers()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tab.Add(&hs[i%len(hs)], int64(i), 0)
	}
}

// TestTableLazyLRU: lists are ordered by placement, not by last packet, so
// expiry must look past a head that is still active, and must still expire
// an idle flow placed after it.
func TestTableLazyLRU(t *testing.T) {
	var rec recorder
	tab := NewTable(Config{IdleTimeout: 30 * time.Second}, nil, &rec)
	add := func(p pkt) { h := p.headers(); tab.Add(&h, p.at*sec, 0) }
	// A is placed first and stays busy; B is placed after it and goes quiet.
	add(pkt{0, "10.0.0.1", "192.0.2.1", 1000, 53, 17, 0, 80, 0, 0})
	add(pkt{0, "192.0.2.1", "10.0.0.1", 53, 1000, 17, 0, 80, 0, 0})
	add(pkt{1, "10.0.0.2", "192.0.2.1", 2000, 53, 17, 0, 80, 0, 0})
	add(pkt{1, "192.0.2.1", "10.0.0.2", 53, 2000, 17, 0, 80, 0, 0})
	for s := int64(5); s <= 100; s += 5 {
		add(pkt{s, "10.0.0.1", "192.0.2.1", 1000, 53, 17, 0, 80, 0, 0})
	}
	if len(rec.ends) != 1 || rec.ends[0].sport != 2000 || rec.ends[0].reason != EndIdle {
		t.Fatalf("records = %+v, want only the quiet flow, ended idle", rec.ends)
	}
	tab.Advance(200 * sec)
	if len(rec.ends) != 2 || rec.ends[1].sport != 1000 || rec.ends[1].reason != EndIdle {
		t.Fatalf("records = %+v, want the busy flow to end idle once it stops", rec.ends)
	}
}

// TestFlowSize guards the memory budget: at most 256 bytes per tracked flow
// at 1,000,000 flows, runtime included, leaves about 200 for the entry once
// the index (16 bytes per flow) and the runtime's share are paid.
func TestFlowSize(t *testing.T) {
	if n := unsafe.Sizeof(Flow{}); n > 200 {
		t.Fatalf("Flow is %d bytes, budget 200: order fields so small ones fill padding", n)
	}
}

// TestTableSettlesDoneApp: once a flow's inspection is over, the table
// keeps what the inspector settles it to (for a flow nothing identified,
// the engine's small Settled), not the full state.
func TestTableSettlesDoneApp(t *testing.T) {
	var kinds []string
	obs := ObserverFunc(func(ev Event, f *Flow) {
		if ev == EventEnd {
			kinds = append(kinds, fmt.Sprintf("%d:%T", f.Key.BPort, f.App))
		}
	})
	tab := NewTable(Config{}, NewL7Inspector(l7.NewEngine([]l7.Parser{http.New()}, l7.EngineConfig{})), obs)
	payload := func(p pkt, b string) decode.Headers {
		h := p.headers()
		h.Payload, h.PayloadLen = []byte(b), len(b)
		return h
	}
	h := payload(pkt{0, "10.0.0.1", "198.51.100.9", 40000, 4444, decode.ProtoTCP, A, 80, 0, 0}, "\x00\x01 no parser knows this")
	tab.Add(&h, 0, 0)
	h = payload(pkt{0, "10.0.0.1", "198.51.100.9", 40001, 5555, decode.ProtoTCP, S, 60, 0, 0}, "")
	tab.Add(&h, 0, 0)
	tab.Flush(EndEndOfInput)
	slices.Sort(kinds)
	want := []string{"4444:*l7.Settled", "5555:*l7.State"} // the second never had payload: still probing
	if !slices.Equal(kinds, want) {
		t.Fatalf("application state at the end: %v, want %v", kinds, want)
	}
}
