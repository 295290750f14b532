package synth

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// UDPOptions shape a UDP flow's timing.
type UDPOptions struct {
	RTT time.Duration // round-trip time; default 20ms
}

type dgram struct {
	at  int64
	dir Dir
	p   Payload
	seq uint16 // ICMP echo sequence number
}

// dgramPlan is a flow of independent datagrams listed with their times.
type dgramPlan struct {
	flowPlan
	rtt    int64
	now    int64
	items  []dgram
	icmp   bool
	echoID uint16
}

func newDgram(fp flowPlan, at time.Duration, rtt time.Duration) dgramPlan {
	return dgramPlan{flowPlan: fp, rtt: usec(rtt, 20*time.Millisecond), now: int64(at.Round(time.Microsecond))}
}

// UDP plans a UDP flow. Create it with Scenario.UDP.
type UDP struct{ dgramPlan }

// Echo plans an ICMP echo exchange. Create it with Scenario.Ping.
type Echo struct{ dgramPlan }

// Send plans one datagram of p from d, think after the flow's current time,
// and returns its time. After a client datagram the flow's time moves on by
// a round trip, so that a server reply sent with a small think arrives
// when it would; after a server datagram it moves on by 1µs.
func (u *UDP) Send(d Dir, p Payload, think time.Duration) time.Duration {
	t := u.now + pause(think)
	u.push(d, p, t)
	return time.Duration(t)
}

// SendAt plans a datagram at time at, which must not precede the previous
// one (streams whose datagrams do not wait for each other).
func (u *UDP) SendAt(d Dir, p Payload, at time.Duration) {
	t := int64(at.Round(time.Microsecond))
	if n := len(u.items); n > 0 && t < u.items[n-1].at {
		u.setErr(fmt.Errorf("udp flow %d: datagram at %v precedes the previous one", u.id, at))
		return
	}
	u.push(d, p, t)
}

// maxDatagram is the largest UDP payload an IPv4 packet can carry.
const maxDatagram = 65507

func (u *UDP) push(d Dir, p Payload, t int64) {
	if p.Len() > maxDatagram {
		u.setErr(fmt.Errorf("udp flow %d: %d-byte datagram", u.id, p.Len()))
		return
	}
	u.items = append(u.items, dgram{at: t, dir: d, p: p})
	if d == ToServer {
		u.now = t + u.rtt
	} else {
		u.now = t + int64(time.Microsecond)
	}
}

// Now is the flow's current time (see Send).
func (u *dgramPlan) Now() time.Duration { return time.Duration(u.now) }

func (u *dgramPlan) plan() *flowPlan { return &u.flowPlan }

func (u *dgramPlan) firstTime() int64 {
	if len(u.items) == 0 {
		return -1
	}
	return u.items[0].at
}

func (u *dgramPlan) lastTime() int64 {
	if len(u.items) == 0 {
		return -1
	}
	return u.items[len(u.items)-1].at
}

func (u *dgramPlan) packets() int { return len(u.items) }

func (u *dgramPlan) newFlow() flow {
	return &dgramFlow{u: u, path: newPath(&u.ep, u.seed)}
}

type dgramFlow struct {
	u    *dgramPlan
	path *path
	i    int
	cur  cursor
}

func (f *dgramFlow) next() int64 {
	if f.i >= len(f.u.items) {
		return -1
	}
	return f.u.items[f.i].at
}

func (f *dgramFlow) emit(fr *framer) ([]byte, Dir, int, error) {
	if f.i >= len(f.u.items) {
		return nil, 0, 0, errors.New("datagram flow emitted past its end")
	}
	it := &f.u.items[f.i]
	fr.scratch = grow(fr.scratch, it.p.Len())
	f.cur = cursor{}
	f.cur.read(it.p, fr.scratch, 0, uint32(splitmix(f.u.seed+uint64(f.i))))
	f.i++
	if !f.u.icmp {
		data, n, err := fr.frame(f.path, it.dir, l4UDP)
		return data, it.dir, n, err
	}
	if f.path.v6 {
		typ := uint8(layers.ICMPv6TypeEchoRequest)
		if it.dir == ToClient {
			typ = layers.ICMPv6TypeEchoReply
		}
		fr.icmp6 = layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		fr.icmp6echo = layers.ICMPv6Echo{Identifier: f.u.echoID, SeqNumber: it.seq}
	} else {
		typ := uint8(layers.ICMPv4TypeEchoRequest)
		if it.dir == ToClient {
			typ = layers.ICMPv4TypeEchoReply
		}
		fr.icmp4 = layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: f.u.echoID, Seq: it.seq}
	}
	data, n, err := fr.frame(f.path, it.dir, l4ICMP)
	return data, it.dir, n, err
}
