package synth

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Scenario is a set of planned flows. Build one with NewScenario and the
// flow methods (TCP, UDP, Ping and the application helpers), or take one
// from Bench or Demo, then hand it to Writer.Run. Everything random derives
// from Seed, so a scenario built the same way writes the same bytes.
//
// Times passed to the flow methods are offsets from Start, rounded to
// microseconds.
type Scenario struct {
	Name  string
	Seed  uint64
	Start time.Time

	rng    *rand.Rand
	nextID int
	plans  []plan
	ports  map[netip.Addr]uint16
	// lazy, when set, streams plans instead of holding them (Bench).
	lazy func() (source, error)
}

// DefaultStart is the wall-clock time of offset zero in generated captures.
var DefaultStart = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// NewScenario returns an empty scenario. A zero start means DefaultStart.
func NewScenario(name string, seed uint64, start time.Time) *Scenario {
	if start.IsZero() {
		start = DefaultStart
	}
	return &Scenario{
		Name:  name,
		Seed:  seed,
		Start: start.Truncate(time.Microsecond),
		rng:   rand.New(rand.NewPCG(seed, 0x5c3a_a710_f10e)),
		ports: make(map[netip.Addr]uint16),
	}
}

// Rand is the scenario's random source, for callers that vary their own
// choices deterministically.
func (s *Scenario) Rand() *rand.Rand { return s.rng }

// EphemeralPort returns the client's next source port from the Linux
// ephemeral range (32768-60999), in increasing steps so that a client does
// not reuse a port for 28k flows or more.
func (s *Scenario) EphemeralPort(client netip.Addr) uint16 {
	const lo, hi = 32768, 60999
	p, ok := s.ports[client]
	if !ok {
		p = uint16(lo + s.rng.IntN(hi-lo-1000))
	} else {
		p += uint16(1 + s.rng.IntN(3))
		if p > hi || p < lo {
			p = lo + (p-lo)%(hi-lo)
		}
	}
	s.ports[client] = p
	return p
}

// newPlan assigns the next flow id and its seed.
func (s *Scenario) newPlan(ep Endpoints, transport, app string) flowPlan {
	id := s.nextID
	s.nextID++
	fp := flowPlan{id: id, seed: splitmix(s.Seed ^ uint64(id)*0x9e3779b97f4a7c15), ep: ep}
	fp.rec = FlowRecord{
		ID: id, App: app, Transport: transport,
		Client: ep.Client, ClientPort: ep.ClientPort,
		Server: ep.Server, ServerPort: ep.ServerPort,
		VLANs: ep.VLANs, Interface: ep.Interface,
	}
	if ep.VXLAN != nil {
		vni := ep.VXLAN.VNI
		fp.rec.VXLAN = &vni
	}
	if err := ep.validate(); err != nil {
		fp.err = fmt.Errorf("flow %d: %w", id, err)
	}
	return fp
}

// TCP plans a TCP connection whose handshake starts at at.
func (s *Scenario) TCP(ep Endpoints, at time.Duration, app string, opt TCPOptions) *TCP {
	c := newTCP(s.newPlan(ep, "tcp", app), at, opt)
	s.plans = append(s.plans, c)
	return c
}

// UDP plans a UDP flow whose first datagram may go out at at.
func (s *Scenario) UDP(ep Endpoints, at time.Duration, app string, opt UDPOptions) *UDP {
	u := &UDP{dgramPlan: newDgram(s.newPlan(ep, "udp", app), at, opt.RTT)}
	s.plans = append(s.plans, u)
	return u
}

// Ping plans count ICMP echo requests (ICMPv6 for IPv6 endpoints) from the
// client, interval apart from at, each with size bytes of data and answered
// rtt later. ep.ClientPort is the echo identifier; ports are otherwise
// unused.
func (s *Scenario) Ping(ep Endpoints, at time.Duration, count int, interval time.Duration, size int, rtt time.Duration) *Echo {
	transport, req, rep := "icmp", uint16(8), uint16(0)
	if ep.Client.Unmap().Is6() {
		transport, req, rep = "icmpv6", 128, 129
	}
	id := ep.ClientPort
	ep.ClientPort, ep.ServerPort = req, rep
	e := &Echo{dgramPlan: newDgram(s.newPlan(ep, transport, "icmp-echo"), at, rtt)}
	e.icmp, e.echoID = true, id
	e.rec.Meta = addMeta(e.rec.Meta, "icmp_id", fmt.Sprint(id))
	if size > maxDatagram {
		e.setErr(fmt.Errorf("icmp flow %d: %d bytes of echo data", e.id, size))
	}
	data := pingData(size)
	t := e.now
	for i := 0; i < count; i++ {
		e.items = append(e.items,
			dgram{at: t, dir: ToServer, p: data, seq: uint16(i + 1)},
			dgram{at: t + e.rtt, dir: ToClient, p: data, seq: uint16(i + 1)})
		t += usec(interval, time.Second)
	}
	e.now = t
	s.plans = append(s.plans, e)
	return e
}

// pingData mimics Linux ping: an 8-byte timestamp slot then 0x10, 0x11, ...
func pingData(size int) Payload {
	b := make([]byte, max(size, 0))
	for i := range b {
		if i >= 8 {
			b[i] = byte(i + 8)
		}
	}
	return Bytes(b)
}

// Err reports the first planning error (a bad endpoint, a step after
// close); Writer.Run reports it too.
func (s *Scenario) Err() error {
	for _, p := range s.plans {
		if err := p.plan().err; err != nil {
			return err
		}
	}
	return nil
}

// source yields plans in order of their first packet.
type source interface {
	peek() plan // nil when exhausted
	pop()
}

func (s *Scenario) source() (source, error) {
	if s.lazy != nil {
		return s.lazy()
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	ps := make([]plan, 0, len(s.plans))
	for _, p := range s.plans {
		if p.firstTime() >= 0 {
			ps = append(ps, p)
		}
	}
	slices.SortStableFunc(ps, func(a, b plan) int { return cmp.Compare(a.firstTime(), b.firstTime()) })
	return &sliceSource{ps: ps}, nil
}

type sliceSource struct{ ps []plan }

func (s *sliceSource) peek() plan {
	if len(s.ps) == 0 {
		return nil
	}
	return s.ps[0]
}

func (s *sliceSource) pop() { s.ps = s.ps[1:] }

// plan is a flow's description; flow is its running state in a Writer.
type plan interface {
	plan() *flowPlan
	firstTime() int64 // -1 for a plan without packets
	lastTime() int64  // time of the last packet, -1 for none
	packets() int
	newFlow() flow
}

type flow interface {
	next() int64 // time of the next packet, -1 when done
	// emit builds the packet at next() and advances. The frame is valid
	// until the framer's next use.
	emit(f *framer) (frame []byte, d Dir, ipLen int, err error)
}

// flowPlan is what every plan has: identity, placement and its record.
type flowPlan struct {
	id   int
	seed uint64
	ep   Endpoints
	rec  FlowRecord // template; counts are filled in per run
	err  error
}

func (f *flowPlan) setErr(err error) {
	if f.err == nil {
		f.err = err
	}
}

// Note records a fact in the flow's manifest record (Meta[key] = value).
func (f *flowPlan) Note(key, value string) { f.rec.Meta = addMeta(f.rec.Meta, key, value) }

// Endpoints returns the flow's endpoints.
func (f *flowPlan) Endpoints() Endpoints { return f.ep }

// splitmix is SplitMix64's finaliser: a cheap bijective scrambler for
// deriving independent per-flow seeds from (seed, id).
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
