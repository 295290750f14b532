package flows

import (
	"net/netip"

	"outflow/flows/decode"
	"outflow/flows/l7"
)

// l7Inspector runs an *l7.Engine as the table's Inspector.
type l7Inspector struct{ e *l7.Engine }

// NewL7Inspector adapts the application-protocol engine to the table.
func NewL7Inspector(e *l7.Engine) Inspector { return l7Inspector{e} }

func (x l7Inspector) Begin(f *Flow, now int64) AppState {
	var tr l7.Transport
	switch f.Proto {
	case decode.ProtoTCP:
		tr = l7.TCP
	case decode.ProtoUDP:
		tr = l7.UDP
	default:
		return nil
	}
	src, sp := f.Src()
	dst, dp := f.Dst()
	s := x.e.Begin(l7.FlowInfo{
		Transport: tr,
		Client:    netip.AddrPortFrom(AddrOf(src), sp),
		Server:    netip.AddrPortFrom(AddrOf(dst), dp),
	}, now)
	if s == nil {
		return nil // never a typed nil in the interface
	}
	return s
}

func (x l7Inspector) Packet(s AppState, dir int, h *decode.Headers, now int64) {
	if st, ok := s.(*l7.State); ok {
		x.e.Packet(st, l7.Dir(dir), h, now)
	}
}

func (x l7Inspector) Settle(s AppState) AppState {
	if st, ok := s.(*l7.State); ok {
		if z := x.e.Settle(st); z != nil {
			return z
		}
	}
	return s
}

func (x l7Inspector) End(s AppState, now int64) {
	if st, ok := s.(*l7.State); ok {
		x.e.End(st, now)
	}
}

func (x l7Inspector) Release(s AppState) {
	switch st := s.(type) {
	case *l7.State:
		x.e.Release(st)
	case *l7.Settled:
		x.e.ReleaseSettled(st)
	}
}

func (x l7Inspector) Expire(now int64) { x.e.Expire(now) }
