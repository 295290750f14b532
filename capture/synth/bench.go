package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Bench returns a load-test scenario of exactly packets packets in which at
// least concurrent flows are open at the same moment (a flow is open from
// its first packet to its last).
//
// Containers in 172.17.0.0/16 (a tenth of flows over IPv6) make DNS
// lookups, HTTP exchanges and TLS sessions to servers in the documentation
// ranges, opaque TCP transfers to internal services in 10.96.0.0/16 (some
// aborted with RST, some seen from mid-stream) and opaque UDP streams.
// Opaque TCP and UDP carry about two thirds of the packets, so protocol
// identification has work and misses; frames are 60 to 1514 bytes and every
// flow has its own 5-tuple. The first flow of each of the concurrent slots
// starts within the first minute and stays open past it; then each slot
// runs flows back to back until the packet budget is spent. Bench(2e6,
// 5e4, seed) makes about 137k flows over 2.5 minutes of traffic.
//
// Flows are generated while the Writer runs: memory grows with the number
// of open flows, not with packets (the manifest keeps one record per flow).
func Bench(packets, concurrent int, seed uint64) (*Scenario, error) {
	if concurrent < 1 || packets < 2*concurrent {
		return nil, fmt.Errorf("synth: bench needs concurrent >= 1 and packets >= 2*concurrent (got %d, %d)", packets, concurrent)
	}
	s := NewScenario("bench", seed, time.Time{})
	s.lazy = func() (source, error) { return newBenchGen(packets, concurrent, seed), nil }
	return s, nil
}

// benchRamp is the window in which the first flow of every slot starts.
const benchRamp = int64(60 * time.Second)

type slot struct {
	t     int64
	idx   int
	flows int // flows started so far
}

type benchGen struct {
	b         *Scenario // plan builder; its plans are handed out one at a time
	rng       *rand.Rand
	slots     []slot // min-heap on (t, idx)
	remaining int    // packet budget
	unstarted int    // slots whose first flow is still to come
	firstCap  int    // packet limit of a slot's first flow
	// ready holds generated plans until no slot can produce an earlier
	// first packet: a flow's first packet may come after its slot time (a
	// mid-stream flow starts with a pause).
	ready planHeap
}

func newBenchGen(packets, concurrent int, seed uint64) *benchGen {
	g := &benchGen{
		b:         NewScenario("bench", seed, time.Time{}),
		rng:       rand.New(rand.NewPCG(seed, 0xbe4c)),
		remaining: packets,
		unstarted: concurrent,
		firstCap:  packets / concurrent / 2,
	}
	step := benchRamp / int64(concurrent)
	g.slots = make([]slot, concurrent)
	for i := range g.slots {
		// Sorted by construction, so already a heap.
		g.slots[i] = slot{t: roundUS(int64(i)*step + g.rng.Int64N(max(step, 1))), idx: i}
	}
	return g
}

func (g *benchGen) peek() plan {
	for g.remaining > 0 && (len(g.ready) == 0 || g.ready[0].firstTime() > g.slots[0].t) {
		g.generate()
	}
	if len(g.ready) == 0 {
		return nil
	}
	return g.ready[0]
}

func (g *benchGen) pop() { g.ready.pop() }

func (g *benchGen) generate() {
	sl := &g.slots[0]
	first := sl.flows == 0
	budget := g.remaining
	minEnd := int64(-1)
	if first {
		g.unstarted--
		// First flows get at most half of their share of the budget, so
		// that later flows (and every kind) have packets left; and two
		// packets stay reserved for each slot still waiting for its first.
		budget = min(budget-2*g.unstarted, max(2, g.firstCap))
		minEnd = benchRamp + roundUS(int64(time.Second)+g.rng.Int64N(int64(90*time.Second)))
	}
	p := g.makeFlow(sl.t, minEnd, budget)
	g.remaining -= p.packets()
	sl.flows++
	// Next flow in this slot after a short pause.
	sl.t = p.lastTime() + roundUS(int64(g.rng.ExpFloat64()*float64(2*time.Second))) + int64(time.Microsecond)
	g.siftDown()
	g.ready.push(p)
}

func (g *benchGen) siftDown() {
	h := g.slots
	less := func(a, b int) bool { return h[a].t < h[b].t || (h[a].t == h[b].t && h[a].idx < h[b].idx) }
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if l+1 < len(h) && less(l+1, l) {
			m = l + 1
		}
		if !less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// planHeap is a min-heap of plans on (first packet time, id).
type planHeap []plan

func planLess(a, b plan) bool {
	return a.firstTime() < b.firstTime() || (a.firstTime() == b.firstTime() && a.plan().id < b.plan().id)
}

func (h *planHeap) push(p plan) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		up := (i - 1) / 2
		if !planLess(s[i], s[up]) {
			break
		}
		s[i], s[up] = s[up], s[i]
		i = up
	}
}

func (h *planHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = nil
	s = s[:n]
	*h = s
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if l+1 < n && planLess(s[l+1], s[l]) {
			m = l + 1
		}
		if !planLess(s[m], s[i]) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

func roundUS(ns int64) int64 { return ns / 1000 * 1000 }

// Flow kinds and how often they start (first flows of slots exclude DNS,
// which cannot stay open for a minute).
const (
	kindDNS = iota
	kindHTTP
	kindTLS
	kindBulk
	kindStream
	numKinds
)

var kindWeights = [numKinds]int{kindDNS: 30, kindHTTP: 8, kindTLS: 15, kindBulk: 25, kindStream: 22}

var benchNames = []string{
	"api.example.com", "cdn.example.com", "auth.example.com", "static.example.net",
	"registry.example.net", "telemetry.example.org", "updates.example.org", "storage.example.com",
	"mail.example.net", "events.example.com", "metrics.example.org", "search.example.net",
	"login.example.org", "img.example.com", "video.example.net", "queue.example.org",
}

var bulkPorts = []uint16{5432, 6379, 9092, 27017, 3306, 9000, 11211, 5672, 9200, 2379}

var userAgents = []string{
	"curl/8.5.0", "python-requests/2.31.0", "Go-http-client/1.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"okhttp/4.12.0", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
}

// makeFlow plans one flow starting at at, open at least until minEnd (-1:
// no constraint), with at most budget packets.
func (g *benchGen) makeFlow(at, minEnd int64, budget int) plan {
	b := g.b
	r := g.rng
	v6 := r.IntN(10) == 0
	cl := g.clientAddr(v6)
	kind := pickKind(r, minEnd >= 0)
	ep := Endpoints{Client: cl, ClientPort: b.EphemeralPort(cl)}
	atD := time.Duration(at)
	rtt := time.Duration(roundUS(int64(time.Millisecond) + r.Int64N(int64(80*time.Millisecond))))
	topt := TCPOptions{RTT: rtt}
	var p plan
	switch kind {
	case kindDNS:
		name := benchNames[r.IntN(len(benchNames))]
		ep.Server, ep.ServerPort = g.resolver(v6), 53
		qt := DNSTypeA
		if v6 {
			qt = DNSTypeAAAA
		}
		p = b.DNS(ep, atD, name, qt, uint32(30+r.IntN(3600)), []netip.Addr{g.serverFor(name, v6)}, UDPOptions{RTT: rtt})
	case kindHTTP:
		name := benchNames[r.IntN(len(benchNames))]
		ep.Server, ep.ServerPort = g.serverFor(name, v6), 80
		if r.IntN(5) == 0 {
			ep.ServerPort = 8080
		}
		n := 1 + r.IntN(2)
		ex := make([]HTTPExchange, n)
		ua := userAgents[r.IntN(len(userAgents))]
		for i := range ex {
			req := HTTPRequest{Method: "GET", Host: name, Path: fmt.Sprintf("/v1/items/%d", r.IntN(100000)), UserAgent: ua}
			if r.IntN(6) == 0 {
				req.Method, req.Path, req.ContentType = "POST", "/v1/upload", "application/octet-stream"
				req.Body = Random(lognormal(r, 7.5, 1.5, 1<<20))
			}
			ex[i] = HTTPExchange{
				Request: req,
				Response: HTTPResponse{Server: "nginx/1.25.4", ContentType: "text/html",
					Body: Text(lognormal(r, 7, 1.5, 256<<10))},
				Think: time.Duration(roundUS(r.Int64N(int64(2 * time.Second)))),
			}
		}
		c := g.httpLike(ep, atD, ex, topt, minEnd)
		p = c
	case kindTLS:
		name := benchNames[r.IntN(len(benchNames))]
		ep.Server, ep.ServerPort = g.serverFor(name, v6), 443
		n := 1 + r.IntN(2)
		ex := make([]Exchange, n)
		for i := range ex {
			ex[i] = Exchange{Up: lognormal(r, 6, 1, 1<<18), Down: lognormal(r, 7.5, 1.5, 1<<20),
				Think: time.Duration(roundUS(r.Int64N(int64(5 * time.Second))))}
		}
		sess := TLSSession{ServerName: name, ALPN: []string{"h2", "http/1.1"}, TLS13: r.IntN(4) != 0, Exchanges: ex}
		p = g.withMinEnd(b.TLS(ep, atD, sess, topt), minEnd)
	case kindBulk:
		ep.Server, ep.ServerPort = g.internalServer(v6), bulkPorts[r.IntN(len(bulkPorts))]
		topt.RTT = time.Duration(roundUS(int64(100*time.Microsecond) + r.Int64N(int64(2*time.Millisecond))))
		topt.MidStream = r.IntN(50) == 0
		c := b.TCP(ep, atD, "", topt)
		for i, n := 0, 1+r.IntN(3); i < n; i++ {
			think := time.Duration(roundUS(r.Int64N(int64(time.Second))))
			c.Send(ToServer, Random(lognormal(r, 5.5, 1.2, 1<<16)), think)
			c.Send(ToClient, Random(lognormal(r, 7.5, 2, 4<<20)), 200*time.Microsecond)
		}
		if minEnd >= 0 {
			c.Wait(time.Duration(minEnd))
		}
		if r.IntN(25) == 0 {
			c.Reset(ToClient, 0)
		} else {
			c.Close(ToServer, time.Millisecond)
		}
		p = c
	default:
		p = g.stream(ep, at, minEnd, 1+lognormal(r, 1.5, 1, 2000), v6)
	}
	if n := p.packets(); n > budget || n == 0 {
		// Too big for what is left: a short stream instead (two packets at
		// least for a first flow, which must be open over an interval).
		ep.ClientPort = b.EphemeralPort(cl)
		n := min(budget, 1+lognormal(r, 1.5, 1, 2000))
		if minEnd >= 0 {
			n = max(n, 2)
		}
		p = g.stream(ep, at, minEnd, n, v6)
	}
	b.plans = b.plans[:0]
	return p
}

func (g *benchGen) httpLike(ep Endpoints, at time.Duration, ex []HTTPExchange, opt TCPOptions, minEnd int64) *TCP {
	c := g.b.TCP(ep, at, "http", opt)
	for _, e := range ex {
		c.Send(ToServer, e.Request.Payload(), e.Think)
		c.Send(ToClient, e.Response.Payload(), time.Millisecond)
	}
	c.Note("host", ex[0].Request.Host)
	if minEnd >= 0 {
		c.Wait(time.Duration(minEnd))
	}
	c.Close(ToServer, 200*time.Microsecond)
	return c
}

// withMinEnd stretches a closed TCP plan so that it lasts until minEnd, by
// moving its final phases (alert and close) later.
func (g *benchGen) withMinEnd(c *TCP, minEnd int64) *TCP {
	if minEnd < 0 || c.lastTime() >= minEnd {
		return c
	}
	shift := minEnd - c.lastTime()
	// The last two phases are the close_notify alert and the FIN exchange.
	for i := max(len(c.phases)-2, 0); i < len(c.phases); i++ {
		c.phases[i].at += shift
	}
	c.now += shift
	return c
}

func (g *benchGen) stream(ep Endpoints, at, minEnd int64, n int, v6 bool) plan {
	r := g.rng
	ep.Server, ep.ServerPort = g.internalServer(v6), uint16(7000+r.IntN(1000))
	n = max(n, 1)
	iv := roundUS(int64(time.Millisecond) + r.Int64N(int64(200*time.Millisecond)))
	if minEnd >= 0 && n > 1 {
		iv = max(iv, roundUS((minEnd-at)/int64(n-1))+int64(time.Microsecond))
	}
	fp := g.b.newPlan(ep, "udp", "")
	return &streamPlan{flowPlan: fp, at: at, iv: iv, n: n}
}

func pickKind(r *rand.Rand, long bool) int {
	total := 0
	for k, w := range kindWeights {
		if !(long && k == kindDNS) {
			total += w
		}
	}
	x := r.IntN(total)
	for k, w := range kindWeights {
		if long && k == kindDNS {
			continue
		}
		if x < w {
			return k
		}
		x -= w
	}
	return kindStream
}

// lognormal draws exp(N(mu, sigma)) bytes, clamped to [1, limit].
func lognormal(r *rand.Rand, mu, sigma float64, limit int) int {
	v := math.Exp(mu + sigma*r.NormFloat64())
	return int(min(max(v, 1), float64(limit)))
}

func (g *benchGen) clientAddr(v6 bool) netip.Addr {
	i := g.rng.IntN(500)
	if v6 {
		return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x17, 15: byte(i), 14: byte(i >> 8)})
	}
	return netip.AddrFrom4([4]byte{172, 17, byte(i / 250), byte(2 + i%250)})
}

func (g *benchGen) resolver(v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr("2001:db8::53")
	}
	return netip.AddrFrom4([4]byte{198, 51, 100, 53})
}

// serverFor maps a name to a stable outside address, so that repeated
// lookups and connections to a name agree.
func (g *benchGen) serverFor(name string, v6 bool) netip.Addr {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 15: byte(h), 14: byte(h >> 8)})
	}
	nets := [][3]byte{{203, 0, 113}, {198, 51, 100}, {192, 0, 2}}
	n := nets[h%3]
	return netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(10 + (h>>8)%240)})
}

func (g *benchGen) internalServer(v6 bool) netip.Addr {
	i := g.rng.IntN(64)
	if v6 {
		return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x96, 15: byte(i + 1)})
	}
	return netip.AddrFrom4([4]byte{10, 96, byte(i / 16), byte(10 + i%16)})
}

// streamPlan is an opaque UDP stream whose datagrams are drawn while it
// runs, so a long stream costs a few words until then.
type streamPlan struct {
	flowPlan
	at, iv int64
	n      int
}

func (s *streamPlan) plan() *flowPlan  { return &s.flowPlan }
func (s *streamPlan) firstTime() int64 { return s.at }
func (s *streamPlan) lastTime() int64  { return s.at + int64(s.n-1)*s.iv }
func (s *streamPlan) packets() int     { return s.n }

func (s *streamPlan) newFlow() flow {
	f := &streamFlow{s: s, path: newPath(&s.ep, s.seed), t: s.at}
	f.rng.Seed(s.seed, 0x5157)
	return f
}

type streamFlow struct {
	s    *streamPlan
	path *path
	rng  rand.PCG
	i    int
	t    int64
}

func (f *streamFlow) next() int64 { return f.t }

func (f *streamFlow) emit(fr *framer) ([]byte, Dir, int, error) {
	if f.t < 0 {
		return nil, 0, 0, errors.New("stream emitted past its end")
	}
	x := f.rng.Uint64()
	d := ToServer
	if f.i > 0 && x&1 == 1 {
		d = ToClient
	}
	maxPay := 1472
	if f.path.v6 {
		maxPay = 1452
	}
	// Small control-like datagrams, full-size media-like ones, and the rest
	// anywhere between.
	var n int
	switch y := (x >> 8) % 10; {
	case y < 5:
		n = int((x >> 16) % 200)
	case y < 8:
		n = maxPay - int((x>>16)%200)
	default:
		n = int((x >> 16) % uint64(maxPay+1))
	}
	fr.scratch = grow(fr.scratch, n)
	fillFrom(fr.scratch, randomPool, uint32(x>>32))
	data, ipLen, err := fr.frame(f.path, d, l4UDP)
	f.i++
	switch {
	case f.i >= f.s.n:
		f.t = -1
	case f.i == f.s.n-1:
		f.t = f.s.lastTime()
	default:
		// Jitter stays inside half an interval, so times never go back.
		f.t = f.s.at + int64(f.i)*f.s.iv + roundUS(int64(f.rng.Uint64()%uint64(f.s.iv/2+1)))
	}
	return data, d, ipLen, err
}
