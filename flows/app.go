package flows

import (
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// Inspector runs application-protocol identification over a flow's packets.
// The table calls Begin when a flow is created, Packet for each of its
// packets until the state is Done, then Settle once, End when the flow's
// record is due, and Release once every observer has seen that record.
// *l7.Engine is the implementation (through NewL7Inspector); nil means no
// inspection.
type Inspector interface {
	Begin(f *Flow, now int64) AppState // nil: nothing to inspect
	Packet(s AppState, dir int, h *decode.Headers, now int64)
	// Settle is called once s is Done: it returns what the flow keeps
	// from then on, s itself or a smaller state that reports the same
	// (and then s is released).
	Settle(s AppState) AppState
	End(s AppState, now int64)
	Release(s AppState)
	Expire(now int64)
}

// AppState is one flow's application-layer state as observers see it.
type AppState interface {
	Done() bool       // nothing more to inspect
	Reversed() bool   // the application's client is the flow's responder (server-opened data channels)
	Protocol() string // network.protocol, "" until identified
	Domain() string   // destination name from SNI, Host or the DNS cache
	Fields(d *ecs.Doc)
	Summary(s *l7.Summary)
}
