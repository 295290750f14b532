package tftp

import (
	"encoding/json"
	"net/netip"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// FuzzPacket parses the input as a request and as transfer packets: nothing
// may panic and what ParseRequest returns must lie inside the input.
func FuzzPacket(f *testing.F) {
	f.Add(req(OpRRQ, "boot/pxelinux.0", "octet", "blksize", "1468", "tsize", "0"))
	f.Add(req(OpWRQ, "x", "NETASCII"))
	f.Add(dataPkt(1, 12))
	f.Add(errPkt(1, "File not found"))
	f.Add(oack("blksize", "1024"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, strict, ok := ParseRequest(b)
		if strict && !ok || ok && (len(r.Filename) == 0 || len(r.Filename)+len(r.Mode) > len(b)) {
			t.Fatalf("request %+v strict %v ok %v", r, strict, ok)
		}
		if r.Blksize != 0 && (r.Blksize < MinBlockSize || r.Blksize > MaxBlockSize) {
			t.Fatalf("blksize %d", r.Blksize)
		}
		var s state
		s.init()
		for len(b) > 0 && s.packet(nil, b) {
			b = b[min(len(b), 4+int(b[0])):]
		}
		if s.blksize < MinBlockSize || len(s.errMsg) > maxErrMsg {
			t.Fatalf("state %+v", s)
		}
	})
}

// FuzzTransfer runs a request flow and its transfer flow through the engine;
// the input after the request is cut into datagrams (byte: bit 7 direction,
// low bits length).
func FuzzTransfer(f *testing.F) {
	f.Add(req(OpRRQ, "f", "octet"), []byte("\x10\x00\x03\x00\x01hello world!\x84\x00\x04\x00\x01"))
	f.Add(req(OpWRQ, "f", "octet", "blksize", "8"), []byte("\x0c\x00\x06blksize\x008\x00\x8c\x00\x03\x00\x0112345678\x84\x00\x04\x00\x01\x05\x00\x05\x00\x00x"))
	f.Fuzz(func(t *testing.T, request, in []byte) {
		e := l7.NewEngine([]l7.Parser{New()}, l7.EngineConfig{})
		cli := netip.MustParseAddrPort("10.0.0.1:50000")
		r := e.Begin(l7.FlowInfo{Transport: l7.UDP, Client: cli, Server: netip.MustParseAddrPort("10.0.0.2:69")}, 1)
		e.Packet(r, l7.FromClient, &decode.Headers{Proto: decode.ProtoUDP, Payload: request, PayloadLen: len(request)}, 1)
		x := e.Begin(l7.FlowInfo{Transport: l7.UDP, Client: netip.MustParseAddrPort("10.0.0.2:61000"), Server: cli}, 2)
		for len(in) > 0 {
			n := min(int(in[0]&0x7f), len(in)-1)
			e.Packet(x, l7.Dir(in[0]>>7), &decode.Headers{Proto: decode.ProtoUDP, Payload: in[1 : 1+n], PayloadLen: n}, 3)
			in = in[1+n:]
		}
		for _, s := range []*l7.State{r, x} {
			e.End(s, 4)
			var d ecs.Doc
			s.Fields(&d)
			var m map[string]any
			if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
				t.Fatalf("fields not JSON: %v", err)
			}
			var sum l7.Summary
			s.Summary(&sum)
			if len(sum.Files) > 1 {
				t.Fatalf("files %+v", sum.Files)
			}
			e.Release(s)
		}
	})
}
