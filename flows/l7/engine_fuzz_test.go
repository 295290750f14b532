package l7

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// FuzzEngine drives flows with random packets: 5-byte records (flags: bit 0
// direction, bit 1 SYN, bit 2 RST, bit 3 new flow, bit 4 UDP, bit 5 settle
// the flow if it is done; seq offset uint16; payload length; payload
// byte). Nothing may panic, a done flow must hold no buffers, and a
// settled flow must report what its State did.
func FuzzEngine(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00H\x00\x00\x01\x05H\x00\x00\x06\x03!"))
	f.Add([]byte("\x00\x00\x10\x04?\x00\x00\x00\x03H\x01\x00\x00\x06E\x18\x00\x00\x05C"))
	f.Add([]byte("\x38\x00\x00\x04Z\x20\x00\x04\x04Z\x28\x00\x00\x05H\x20\x00\x05\x05H"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e := NewEngine([]Parser{
			&toyParser{name: "toy", prefix: "HHHHH", tr: TCP | UDP, hook: expectHook},
			&toyParser{name: "toy2", prefix: "EEEEEE", tr: TCP, ports: []uint16{7000}},
			countParser{},
		}, EngineConfig{ProbeBytes: 16, ProbePackets: 4, StreamBuffer: 32, MaxExpectations: 2, MaxNames: 2})
		var s *State
		var x *Settled
		payload := make([]byte, 256)
		for i := 0; len(in) >= 5; i++ {
			flags, off, n, c := in[0], binary.BigEndian.Uint16(in[1:]), int(in[3]), in[4]
			in = in[5:]
			if s == nil || flags&8 != 0 {
				if s != nil {
					e.End(s, int64(i))
					e.Release(s)
				}
				e.ReleaseSettled(x)
				x = nil
				tr := TCP
				if flags&16 != 0 {
					tr = UDP
				}
				s = e.Begin(FlowInfo{Transport: tr, Client: netip.AddrPortFrom(cliAddr.Addr(), uint16(i)), Server: srvAddr}, int64(i))
			}
			for j := range payload[:n] {
				payload[j] = c
			}
			h := &decode.Headers{Proto: decode.ProtoTCP, Seq: 1000 + uint32(off), Payload: payload[:n], PayloadLen: n}
			if flags&2 != 0 {
				h.TCPFlags |= decode.TCPSyn
			}
			if flags&4 != 0 {
				h.TCPFlags |= decode.TCPRst
			}
			e.Packet(s, Dir(flags&1), h, int64(i))
			if s.Done() && (s.pb[0] != nil || s.pb[1] != nil || s.st[0].buf != nil || s.st[1].buf != nil) {
				t.Fatal("done flow holds buffers")
			}
			if s.Done() && flags&32 != 0 {
				before := viewOf(s)
				if x = e.Settle(s); x != nil {
					if got := viewOf(x); got != before {
						t.Fatalf("settled %+v, state %+v", got, before)
					}
					s = nil // released: the next record begins a flow
				}
			}
			e.Expire(int64(i) * 1e10)
		}
		if s != nil {
			e.End(s, 1e12)
			var d ecs.Doc
			s.Fields(&d)
			var sum Summary
			s.Summary(&sum)
			_ = s.Domain()
			e.Release(s)
		}
		e.ReleaseSettled(x)
		e.Stats()
		e.Protocols(nil)
	})
}
