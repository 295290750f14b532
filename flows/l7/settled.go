package l7

import "outflow/flows/ecs"

// Settled is a flow's application state once inspection is over and no
// session holds anything for its record: the flow was not identified, or
// an expectation labelled it without a session. All that is left is the
// protocol, the server's DNS name and the direction. Most flows on a busy
// link never identify, and a State (hundreds of bytes, pointers the
// collector follows) held for each until its record is written was the
// larger part of the engine's memory; a Settled is a tenth of that, and
// the many that carry nothing at all share one value.
type Settled struct {
	proto, name string
	rev         bool
}

// settledNone is every Settled without a protocol, name or reversal. It
// is never written to, nor put on the free list.
var settledNone = &Settled{}

func (x *Settled) Done() bool       { return true }
func (x *Settled) Reversed() bool   { return x.rev }
func (x *Settled) Protocol() string { return x.proto }
func (x *Settled) Domain() string   { return x.name }
func (x *Settled) Fields(*ecs.Doc)  {}
func (x *Settled) Summary(s *Summary) {
	*s = Summary{Protocol: x.proto, Domain: x.name, Files: s.Files[:0]}
}

// settledChunk is how many Settled are allocated together.
const settledChunk = 256

// Settle returns the Settled that can stand for s, and releases s, once s
// is done and has no session; otherwise nil, and s stays as it is. What
// the Settled reports (Done, Reversed, Protocol, Domain, Fields, Summary)
// is what s reported.
func (e *Engine) Settle(s *State) *Settled {
	if s == nil || !s.done || s.sess != nil {
		return nil
	}
	x := settledNone
	if s.proto != "" || s.name != "" || s.rev {
		if n := len(e.settledFree); n > 0 {
			x = e.settledFree[n-1]
			e.settledFree = e.settledFree[:n-1]
		} else {
			if len(e.settled) == cap(e.settled) {
				e.settled = make([]Settled, 0, settledChunk)
			}
			e.settled = append(e.settled, Settled{})
			x = &e.settled[len(e.settled)-1]
		}
		x.proto, x.name, x.rev = s.proto, s.name, s.rev
	}
	e.Release(s)
	return x
}

// ReleaseSettled returns x to the engine once its flow's record has been
// written.
func (e *Engine) ReleaseSettled(x *Settled) {
	if x == nil || x == settledNone {
		return
	}
	*x = Settled{}
	e.settledFree = append(e.settledFree, x)
}
