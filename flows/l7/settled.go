package l7

import "outflow/flows/ecs"

// Settled is a flow's application state once inspection is over: what
// is left is the protocol, the server's DNS name, the direction and, for an
// identified flow, its session, which holds the record's fields and takes
// no more data. A State is hundreds of bytes with pointers the collector
// follows, and most flows end their inspection early: most on a busy link
// are never identified, and an identified flow is mostly done once its
// handshake or first exchange is parsed (TLS, SSH). Held until each
// record was written, States were the larger part of the engine's memory;
// a Settled is a fifth of one, and the many flows that carry nothing at
// all share one value.
type Settled struct {
	proto  string
	domain string  // what Domain reports
	name   string  // the DNS cache's name of the server, the summary's default domain
	sess   Session // nil: not identified, or labelled by an expectation alone
	parser int8    // sess's parser, for reuse
	rev    bool
}

// settledNone is every Settled without a protocol, name, session or
// reversal. It is never written to, nor put on the free list.
var settledNone = &Settled{parser: -1}

func (x *Settled) Done() bool       { return true }
func (x *Settled) Reversed() bool   { return x.rev }
func (x *Settled) Protocol() string { return x.proto }
func (x *Settled) Domain() string   { return x.domain }

// Bare reports that x has no session: its summary is its protocol and DNS
// name, and it has no fields.
func (x *Settled) Bare() bool { return x.sess == nil }

func (x *Settled) Fields(d *ecs.Doc)  { fields(d, x.sess) }
func (x *Settled) Summary(s *Summary) { summary(s, x.sess, x.proto, x.name) }

// settledChunk is how many Settled are allocated together.
const settledChunk = 256

// Settle returns the Settled that stands for s once s is done, and
// releases s (its session, if any, goes to the Settled); otherwise nil,
// and s stays as it is. What the Settled reports (Done, Reversed,
// Protocol, Domain, Fields, Summary) is what s reported.
func (e *Engine) Settle(s *State) *Settled {
	if s == nil || !s.done {
		return nil
	}
	x := settledNone
	if s.proto != "" || s.name != "" || s.rev || s.sess != nil {
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
		*x = Settled{proto: s.proto, domain: s.Domain(), name: s.name, sess: s.sess, parser: s.parser, rev: s.rev}
		s.sess, s.parser = nil, -1 // the Settled's now: not reused on Release
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
	e.reuseSession(x.parser, x.sess)
	*x = Settled{parser: -1}
	e.settledFree = append(e.settledFree, x)
}
