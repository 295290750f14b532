package synth

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TCPOptions shape a TCP connection's timing and segmentation. Zero values
// take the defaults. The capture point is the client's host: the client's
// packets are seen as they leave, the server's as they arrive.
type TCPOptions struct {
	RTT       time.Duration // round-trip time; default 20ms
	MSS       int           // maximum segment size; default from MTU 1500 and the encapsulation
	ClientGap time.Duration // spacing of back-to-back client segments; default 12µs (1 Gbit/s)
	ServerGap time.Duration // spacing of back-to-back server segments on arrival; default 120µs (100 Mbit/s)
	AckDelay  time.Duration // how long the client takes to acknowledge; default 40µs
	// MidStream starts the capture after the handshake: no SYNs, and the
	// first packet is whatever the first Send produces.
	MidStream bool
	// ServerLocal moves the capture point next to the server: the server's
	// packets are then seen as they leave and the client's after a trip
	// (an FTP active-mode data connection, opened by the remote server).
	ServerLocal bool
}

type phaseKind uint8

const (
	phHandshake phaseKind = iota
	phData
	phFin
	phReset
)

// tcpPhase is one step of a TCP plan. Phases never overlap in time: a phase
// starts only after every packet of the previous one, so sequence and
// acknowledgement numbers follow from the phase order alone.
type tcpPhase struct {
	kind phaseKind
	dir  Dir
	at   int64 // time of the phase's first packet (ns from scenario start)
	p    Payload
	nseg int
}

// TCP plans one TCP connection: a handshake, messages in either direction,
// and a close. Create it with Scenario.TCP, then call Send, Wait, Close or
// Reset in time order; the Writer emits the packets when it runs the
// scenario. Segmentation follows the MSS; the receiver acknowledges every
// second segment and the last one of each message.
type TCP struct {
	flowPlan
	rtt    int64
	ackd   int64
	far    [2]bool  // by direction: whether that direction's sender is remote
	gap    [2]int64 // spacing of back-to-back segments, by direction
	mss    int
	phases []tcpPhase
	now    int64
	done   bool
}

func newTCP(fp flowPlan, at time.Duration, opt TCPOptions) *TCP {
	c := &TCP{flowPlan: fp}
	c.rec.Transport = "tcp"
	c.rtt = usec(opt.RTT, 20*time.Millisecond)
	c.ackd = usec(opt.AckDelay, 40*time.Microsecond)
	c.far = [2]bool{false, true}
	if opt.ServerLocal {
		c.far = [2]bool{true, false}
	}
	// Segments of a local sender leave at line rate; a remote sender's
	// arrive spaced by the path's bottleneck.
	for d, g := range []time.Duration{opt.ClientGap, opt.ServerGap} {
		def := 12 * time.Microsecond
		if c.far[d] {
			def = 120 * time.Microsecond
		}
		c.gap[d] = usec(g, def)
	}
	c.mss = opt.MSS
	if c.mss <= 0 {
		c.mss = defaultMSS(&c.ep)
	}
	if c.mss > 9000 {
		c.setErr(fmt.Errorf("MSS %d too large", c.mss))
	}
	c.now = int64(at.Round(time.Microsecond))
	if opt.MidStream {
		c.rec.Meta = addMeta(c.rec.Meta, "midstream", "true")
	} else {
		c.add(tcpPhase{kind: phHandshake, dir: ToServer, at: c.now})
	}
	return c
}

func defaultMSS(e *Endpoints) int {
	mss := 1460
	if e.Client.Unmap().Is6() {
		mss -= 20
	}
	if x := e.VXLAN; x != nil {
		mss -= 50 // outer Ethernet+IPv4+UDP+VXLAN inside a 1500-byte MTU
		if x.ClientVTEP.Unmap().Is6() {
			mss -= 20
		}
	}
	return mss
}

// usec rounds d to whole microseconds (classic pcap resolution, so reading
// the file back gives the planned times) and applies a default for zero.
func usec(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	d = d.Round(time.Microsecond)
	if d < time.Microsecond {
		d = time.Microsecond
	}
	return int64(d)
}

// pause converts a think time to nanoseconds: whole microseconds, never
// negative (a plan cannot step back in time).
func pause(d time.Duration) int64 { return int64(max(d, 0).Round(time.Microsecond)) }

func (c *TCP) add(ph tcpPhase) {
	if ph.kind == phData {
		ph.nseg = (ph.p.Len() + c.mss - 1) / c.mss
	}
	c.phases = append(c.phases, ph)
	c.now = c.phaseEnd(&ph) + int64(time.Microsecond)
}

// resp is how long after the packet it answers a packet travelling in
// direction d is seen: a round trip when its sender is remote (the answered
// packet must reach it and the answer come back), the local stack's
// latency otherwise.
func (c *TCP) resp(d Dir) int64 {
	if c.far[d] {
		return c.rtt
	}
	return c.ackd
}

// ackDelay is how long after a data segment sent in d its ACK is seen.
func (c *TCP) ackDelay(d Dir) int64 { return c.resp(d.other()) }

// threeWay gives the offsets of a three-packet exchange started by d (SYN
// or FIN): the peer's answer, then d's final ACK.
func (c *TCP) threeWay(d Dir) [3]int64 {
	a := c.resp(d.other())
	return [3]int64{0, a, a + c.resp(d)}
}

func (c *TCP) phaseEnd(ph *tcpPhase) int64 {
	switch ph.kind {
	case phHandshake, phFin:
		return ph.at + c.threeWay(ph.dir)[2]
	case phData:
		last := ph.at + int64(ph.nseg-1)*c.gap[ph.dir]
		return last + c.ackDelay(ph.dir)
	}
	return ph.at
}

func (c *TCP) usable(what string) bool {
	if c.done {
		c.setErr(fmt.Errorf("tcp flow %d: %s after close", c.id, what))
		return false
	}
	return true
}

// Send plans a message of p from d, starting think after the previous step
// completed (for a server reply, that is one round trip after the client's
// last segment). It returns the time of the message's first segment. An
// empty payload plans nothing.
func (c *TCP) Send(d Dir, p Payload, think time.Duration) time.Duration {
	start := c.now + pause(think)
	if p.Len() == 0 || !c.usable("send") {
		return time.Duration(start)
	}
	c.add(tcpPhase{kind: phData, dir: d, at: start, p: p})
	return time.Duration(start)
}

// Wait delays the next step until at least t.
func (c *TCP) Wait(t time.Duration) { c.now = max(c.now, int64(t.Round(time.Microsecond))) }

// Now is the earliest time of the next step.
func (c *TCP) Now() time.Duration { return time.Duration(c.now) }

// Close plans an orderly close initiated by d think after the previous step:
// FIN, the peer's FIN, and the final ACK.
func (c *TCP) Close(d Dir, think time.Duration) {
	if !c.usable("close") {
		return
	}
	c.add(tcpPhase{kind: phFin, dir: d, at: c.now + pause(think)})
	c.done = true
	c.rec.Close = "fin"
}

// Reset plans an abort: one RST from d think after the previous step.
func (c *TCP) Reset(d Dir, think time.Duration) {
	if !c.usable("reset") {
		return
	}
	c.add(tcpPhase{kind: phReset, dir: d, at: c.now + pause(think)})
	c.done = true
	c.rec.Close = "rst"
}

func (c *TCP) firstTime() int64 {
	if len(c.phases) == 0 {
		return -1
	}
	return c.phases[0].at
}

func (c *TCP) lastTime() int64 {
	if len(c.phases) == 0 {
		return -1
	}
	return c.phaseEnd(&c.phases[len(c.phases)-1])
}

// packets is the number of packets the plan produces.
func (c *TCP) packets() int {
	n := 0
	for i := range c.phases {
		switch ph := &c.phases[i]; ph.kind {
		case phHandshake, phFin:
			n += 3
		case phData:
			n += ph.nseg + (ph.nseg+1)/2
		case phReset:
			n++
		}
	}
	return n
}

func (c *TCP) plan() *flowPlan { return &c.flowPlan }

func (c *TCP) newFlow() flow {
	f := &tcpFlow{c: c, path: newPath(&c.ep, c.seed)}
	f.seq = [2]uint32{uint32(c.seed >> 7), uint32(c.seed >> 29)}
	if len(c.phases) > 0 && c.phases[0].kind == phData {
		f.base = f.seq[c.phases[0].dir]
	}
	f.t = f.time()
	return f
}

// tcpFlow is the running state of a TCP plan inside the Writer.
type tcpFlow struct {
	c    *TCP
	path *path
	ph   int
	step int // handshake/close: packet index; data: segments emitted
	acks int // data: acknowledgements emitted
	seq  [2]uint32
	base uint32 // data: sequence number of the message's first byte
	cur  cursor
	t    int64
}

func (f *tcpFlow) next() int64 { return f.t }

// time computes the next packet's time, moving to the next phase when the
// current one is exhausted; -1 when the plan is done.
func (f *tcpFlow) time() int64 {
	for f.ph < len(f.c.phases) {
		ph := &f.c.phases[f.ph]
		c := f.c
		switch ph.kind {
		case phHandshake, phFin:
			if f.step < 3 {
				return ph.at + c.threeWay(ph.dir)[f.step]
			}
		case phReset:
			if f.step < 1 {
				return ph.at
			}
		case phData:
			seg, ack := f.dataTimes(ph)
			if seg >= 0 || ack >= 0 {
				if ack < 0 || (seg >= 0 && seg <= ack) {
					return seg
				}
				return ack
			}
		}
		f.ph++
		f.step, f.acks = 0, 0
		f.cur = cursor{}
		if f.ph < len(f.c.phases) && f.c.phases[f.ph].kind == phData {
			f.base = f.seq[f.c.phases[f.ph].dir]
		}
	}
	return -1
}

// dataTimes gives the times of the next segment and the next ACK of a data
// phase, -1 for none left.
func (f *tcpFlow) dataTimes(ph *tcpPhase) (seg, ack int64) {
	seg, ack = -1, -1
	gap := f.c.gap[ph.dir]
	if f.step < ph.nseg {
		seg = ph.at + int64(f.step)*gap
	}
	if nack := (ph.nseg + 1) / 2; f.acks < nack {
		k := min(2*f.acks+1, ph.nseg-1)
		ack = ph.at + int64(k)*gap + f.c.ackDelay(ph.dir)
	}
	return seg, ack
}

const (
	winSynClient = 64240
	winSynServer = 65160
	winClient    = 502 // scaled by 2^7
	winServer    = 509
	wscale       = 7
)

func (f *tcpFlow) emit(fr *framer) ([]byte, Dir, int, error) {
	if f.t < 0 {
		return nil, 0, 0, errors.New("tcp flow emitted past its end")
	}
	c := f.c
	ph := &c.phases[f.ph]
	fr.tcp = layers.TCP{}
	fr.scratch = fr.scratch[:0]
	t := &fr.tcp
	var d Dir
	switch ph.kind {
	case phHandshake:
		switch f.step {
		case 0:
			d = ToServer
			t.SYN, t.Seq, t.Window = true, f.seq[d], winSynClient
			f.synOptions(fr)
			f.seq[d]++
		case 1:
			d = ToClient
			t.SYN, t.ACK, t.Seq, t.Ack, t.Window = true, true, f.seq[d], f.seq[d.other()], winSynServer
			f.synOptions(fr)
			f.seq[d]++
		default:
			d = ToServer
			t.ACK, t.Seq, t.Ack, t.Window = true, f.seq[d], f.seq[d.other()], winClient
		}
		f.step++
	case phFin:
		d = ph.dir
		if f.step == 1 {
			d = ph.dir.other()
		}
		t.ACK, t.Seq, t.Ack, t.Window = true, f.seq[d], f.seq[d.other()], window(d)
		if f.step < 2 {
			t.FIN = true
			f.seq[d]++
		}
		f.step++
	case phReset:
		d = ph.dir
		t.RST, t.ACK, t.Seq, t.Ack = true, true, f.seq[d], f.seq[d.other()]
		f.step++
	case phData:
		seg, ack := f.dataTimes(ph)
		if seg >= 0 && (ack < 0 || seg <= ack) {
			d = ph.dir
			off := f.step * c.mss
			n := min(c.mss, ph.p.Len()-off)
			fr.scratch = grow(fr.scratch, n)
			f.cur.read(ph.p, fr.scratch, off, uint32(splitmix(c.seed+uint64(f.ph))))
			t.ACK, t.Seq, t.Ack, t.Window = true, f.seq[d], f.seq[d.other()], window(d)
			t.PSH = f.step == ph.nseg-1
			f.seq[d] += uint32(n)
			f.step++
		} else {
			d = ph.dir.other()
			k := min(2*f.acks+1, ph.nseg-1)
			acked := min((k+1)*c.mss, ph.p.Len())
			t.ACK, t.Seq, t.Ack, t.Window = true, f.seq[d], f.base+uint32(acked), window(d)
			f.acks++
		}
	}
	data, ipLen, err := fr.frame(f.path, d, l4TCP)
	f.t = f.time()
	return data, d, ipLen, err
}

func window(d Dir) uint16 {
	if d == ToServer {
		return winClient
	}
	return winServer
}

func (f *tcpFlow) synOptions(fr *framer) {
	fr.mssData[0], fr.mssData[1] = byte(f.c.mss>>8), byte(f.c.mss)
	fr.wsData[0] = wscale
	fr.tcp.Options = fr.synOpts[:]
}
