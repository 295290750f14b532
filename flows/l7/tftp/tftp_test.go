package tftp

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

var now int64 = 1e9

func tick() int64 { now += 1e6; return now }

// udpFlow drives one UDP flow through the engine.
type udpFlow struct {
	t *testing.T
	e *l7.Engine
	s *l7.State
}

func begin(t *testing.T, e *l7.Engine, client, server string) *udpFlow {
	f := l7.FlowInfo{Transport: l7.UDP, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)}
	return &udpFlow{t: t, e: e, s: e.Begin(f, tick())}
}

func (u *udpFlow) send(dir l7.Dir, b []byte) {
	u.e.Packet(u.s, dir, &decode.Headers{Proto: decode.ProtoUDP, Payload: b, PayloadLen: len(b)}, tick())
}

func (u *udpFlow) fields() map[string]any {
	u.t.Helper()
	var d ecs.Doc
	u.s.Fields(&d)
	var m map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
		u.t.Fatalf("fields are not JSON: %v", err)
	}
	return m
}

func (u *udpFlow) summary() l7.Summary {
	var s l7.Summary
	u.s.Summary(&s)
	return s
}

func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// Packet builders.

func req(op uint16, name, mode string, opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	b = append(append(b, name...), 0)
	b = append(append(b, mode...), 0)
	for _, o := range opts {
		b = append(append(b, o...), 0)
	}
	return b
}

func dataPkt(block uint16, n int) []byte {
	b := binary.BigEndian.AppendUint16(nil, OpDATA)
	b = binary.BigEndian.AppendUint16(b, block)
	return append(b, make([]byte, n)...)
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, OpACK), block)
}

func errPkt(code uint16, msg string) []byte {
	b := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, OpERROR), code)
	return append(append(b, msg...), 0)
}

func oack(opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, OpOACK)
	for _, o := range opts {
		b = append(append(b, o...), 0)
	}
	return b
}

func newEngine() *l7.Engine { return l7.NewEngine([]l7.Parser{New()}, l7.EngineConfig{}) }

// pk is one datagram of a transfer: from the TFTP server or client.
type pk struct {
	fromServer bool
	b          []byte
}

func TestTransfers(t *testing.T) {
	const (
		cli4, srv4 = "10.0.0.1:50000", "10.0.0.2:69"
		cli6, srv6 = "[2001:db8::1]:50000", "[2001:db8::2]:69"
	)
	tests := []struct {
		name      string
		client    string
		server    string
		tid       string // the server's transfer port address
		request   []byte
		xfer      []pk
		done      bool
		want      map[string]any
		bytes     uint64
		direction l7.TransferDir
	}{
		{"RRQ with retransmission", cli4, srv4, "10.0.0.2:61000", req(OpRRQ, "boot/pxelinux.0", "octet"), []pk{
			{true, dataPkt(1, 512)}, {false, ack(1)},
			{true, dataPkt(2, 512)}, {true, dataPkt(2, 512)}, {false, ack(2)},
			{true, dataPkt(3, 100)}, {false, ack(3)},
		}, true, map[string]any{
			"file.name": "boot/pxelinux.0", "outflow.tftp.mode": "octet", "outflow.tftp.request": "RRQ",
			"outflow.tftp.direction": "download", "outflow.tftp.bytes": 1124.0, "outflow.tftp.blocks": 3.0,
			"outflow.tftp.complete": true, "outflow.tftp.retransmitted_blocks": 1.0, "outflow.tftp.blksize": 512.0,
		}, 1124, l7.TransferDownload},
		{"WRQ with blksize and tsize", cli4, srv4, "10.0.0.2:61001", req(OpWRQ, "up.bin", "OCTET", "blksize", "1428", "tsize", "2000"), []pk{
			{true, oack("blksize", "1428", "tsize", "2000")},
			{false, dataPkt(1, 1428)}, {true, ack(1)},
			{false, dataPkt(2, 572)}, {true, ack(2)},
		}, true, map[string]any{
			"file.name": "up.bin", "outflow.tftp.mode": "octet", "outflow.tftp.request": "WRQ",
			"outflow.tftp.direction": "upload", "outflow.tftp.bytes": 2000.0, "outflow.tftp.blksize": 1428.0,
			"outflow.tftp.tsize": 2000.0, "outflow.tftp.complete": true,
		}, 2000, l7.TransferUpload},
		{"WRQ starts with ACK 0", cli4, srv4, "10.0.0.2:61002", req(OpWRQ, "cfg", "netascii"), []pk{
			{true, ack(0)}, {false, dataPkt(1, 512)}, {true, ack(1)}, {false, dataPkt(2, 0)}, {true, ack(2)},
		}, true, map[string]any{"outflow.tftp.bytes": 512.0, "outflow.tftp.blocks": 2.0, "outflow.tftp.complete": true}, 512, l7.TransferUpload},
		{"error", cli4, srv4, "10.0.0.2:61003", req(OpRRQ, "/etc/shadow", "NetASCII"), []pk{
			{true, errPkt(2, "Access violation")},
		}, true, map[string]any{
			"outflow.tftp.error": "Access violation", "outflow.tftp.error_code": 2.0, "outflow.tftp.mode": "netascii",
			"outflow.tftp.bytes": nil,
		}, 0, l7.TransferDownload},
		{"blksize without OACK seen", cli4, srv4, "10.0.0.2:61004", req(OpRRQ, "big", "octet", "blksize", "1024"), []pk{
			{true, dataPkt(1, 1024)}, {true, dataPkt(2, 1024)}, {true, dataPkt(3, 512)},
		}, false, map[string]any{"outflow.tftp.bytes": 2560.0, "outflow.tftp.complete": true, "outflow.tftp.blksize": 1024.0}, 2560, l7.TransferDownload},
		{"IPv6", cli6, srv6, "[2001:db8::2]:61005", req(OpRRQ, "f", "octet"), []pk{
			{true, dataPkt(1, 10)}, {false, ack(1)},
		}, true, map[string]any{"outflow.tftp.bytes": 10.0, "file.name": "f"}, 10, l7.TransferDownload},
		{"old block again", cli4, srv4, "10.0.0.2:61006", req(OpRRQ, "f", "octet"), []pk{
			{true, dataPkt(1, 512)}, {true, dataPkt(2, 512)}, {true, dataPkt(1, 512)}, {true, dataPkt(3, 1)},
		}, false, map[string]any{"outflow.tftp.bytes": 1025.0, "outflow.tftp.retransmitted_blocks": 1.0}, 1025, l7.TransferDownload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine()
			r := begin(t, e, tc.client, tc.server)
			r.send(l7.FromClient, tc.request)
			r.send(l7.FromClient, tc.request) // retransmitted request
			if r.s.Protocol() != Name {
				t.Fatalf("request protocol %q", r.s.Protocol())
			}
			x := begin(t, e, tc.tid, tc.client)
			if x.s.Protocol() != Name {
				t.Fatalf("transfer flow not matched (stats %+v)", e.Stats())
			}
			for _, p := range tc.xfer {
				dir := l7.FromServer
				if p.fromServer {
					dir = l7.FromClient // the TFTP server opened this flow
				}
				x.send(dir, p.b)
			}
			if x.s.Done() != tc.done {
				t.Fatalf("transfer done %v, want %v", x.s.Done(), tc.done)
			}
			f := x.fields()
			for k, v := range tc.want {
				if got := get(f, k); got != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got, v, f)
				}
			}
			for _, u := range []*udpFlow{x, r} {
				sum := u.summary()
				if sum.Protocol != Name || len(sum.Files) != 1 || sum.Files[0].Bytes != tc.bytes || sum.Files[0].Dir != tc.direction {
					t.Errorf("summary %+v", sum)
				}
				if tc.direction == l7.TransferUpload && sum.Uploaded != tc.bytes || tc.direction == l7.TransferDownload && sum.Downloaded != tc.bytes {
					t.Errorf("summary totals %+v", sum)
				}
			}
			rf := r.fields()
			if get(rf, "file.name") == nil || get(rf, "outflow.tftp.requests") != 2.0 {
				t.Errorf("request fields %v", rf)
			}
			if tc.bytes > 0 && get(rf, "outflow.tftp.bytes") != float64(tc.bytes) {
				t.Errorf("request flow bytes %v, want %d", get(rf, "outflow.tftp.bytes"), tc.bytes)
			}
		})
	}
}

func TestBlockRollover(t *testing.T) {
	var s state
	s.init()
	s.data(65534, 512)
	s.data(65535, 512)
	s.data(0, 512)
	s.data(1, 512)
	s.data(1, 512)
	s.data(2, 3)
	if s.blocks != 5 || s.bytes != 4*512+3 || s.dups != 1 || !s.complete {
		t.Fatalf("blocks %d bytes %d dups %d complete %v", s.blocks, s.bytes, s.dups, s.complete)
	}
}

func TestServerAnswersFromPort69(t *testing.T) {
	e := newEngine()
	r := begin(t, e, "10.0.0.1:50000", "10.0.0.2:69")
	r.send(l7.FromClient, req(OpRRQ, "nope", "octet"))
	r.send(l7.FromServer, errPkt(1, "File not found"))
	if !r.s.Done() || get(r.fields(), "outflow.tftp.error") != "File not found" {
		t.Fatalf("done %v fields %v", r.s.Done(), r.fields())
	}
}

func TestProbe(t *testing.T) {
	p := New()
	f69 := &l7.FlowInfo{Transport: l7.UDP, Server: netip.MustParseAddrPort("10.0.0.2:69")}
	fx := &l7.FlowInfo{Transport: l7.UDP, Server: netip.MustParseAddrPort("10.0.0.2:6969")}
	long := append(req(OpRRQ, "f", "octet"), make([]byte, 600)...)
	tests := []struct {
		name string
		f    *l7.FlowInfo
		dir  l7.Dir
		b    []byte
		want l7.Verdict
	}{
		{"RRQ any port", fx, l7.FromClient, req(OpRRQ, "file", "octet"), l7.VerdictYes},
		{"WRQ mail mode", fx, l7.FromClient, req(OpWRQ, "file", "MAIL"), l7.VerdictYes},
		{"options", fx, l7.FromClient, req(OpRRQ, "f", "octet", "blksize", "1468", "windowsize", "4"), l7.VerdictYes},
		{"unknown mode port 69", f69, l7.FromClient, req(OpRRQ, "f", "binary"), l7.VerdictYes},
		{"unknown mode elsewhere", fx, l7.FromClient, req(OpRRQ, "f", "binary"), l7.VerdictNo},
		{"missing NUL port 69", f69, l7.FromClient, req(OpRRQ, "f", "octet")[:9], l7.VerdictYes},
		{"missing NUL elsewhere", fx, l7.FromClient, req(OpRRQ, "f", "octet")[:9], l7.VerdictNo},
		{"oversized port 69", f69, l7.FromClient, long, l7.VerdictYes},
		{"oversized elsewhere", fx, l7.FromClient, long, l7.VerdictNo},
		{"empty name", f69, l7.FromClient, req(OpRRQ, "", "octet"), l7.VerdictNo},
		{"control in name", f69, l7.FromClient, req(OpRRQ, "a\nb", "octet"), l7.VerdictNo},
		{"digits in mode", f69, l7.FromClient, req(OpRRQ, "a", "oct3t"), l7.VerdictNo},
		{"DATA", f69, l7.FromClient, dataPkt(1, 20), l7.VerdictNo},
		{"server direction", f69, l7.FromServer, req(OpRRQ, "file", "octet"), l7.VerdictNo},
		{"DNS query", &l7.FlowInfo{Transport: l7.UDP, Server: netip.MustParseAddrPort("10.0.0.2:53")}, l7.FromClient,
			[]byte("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"), l7.VerdictNo},
		{"short", f69, l7.FromClient, []byte{0, 1}, l7.VerdictNo},
	}
	for _, tc := range tests {
		if got := p.Probe(tc.f, tc.dir, tc.b); got != tc.want {
			t.Errorf("%s: Probe = %d, want %d", tc.name, got, tc.want)
		}
	}
	b := req(OpRRQ, "f", "octet", "blksize", "1468")
	if n := testing.AllocsPerRun(100, func() { p.Probe(fx, l7.FromClient, b) }); n != 0 {
		t.Errorf("Probe allocates %v times", n)
	}
}

func TestParseRequest(t *testing.T) {
	r, strict, ok := ParseRequest(req(OpWRQ, "x/y", "Octet", "BLKSIZE", "8", "tsize", "0", "timeout", "5", "windowsize", "16", "foo", "bar"))
	if !ok || !strict || r.Opcode != OpWRQ || string(r.Filename) != "x/y" || string(r.Mode) != "Octet" ||
		r.Blksize != 8 || r.Tsize != 0 || r.Timeout != 5 || r.Windowsize != 16 || r.Options != 5 {
		t.Fatalf("%+v strict %v ok %v", r, strict, ok)
	}
	if r, _, _ := ParseRequest(req(OpRRQ, "f", "octet", "blksize", "7")); r.Blksize != 0 {
		t.Fatalf("out-of-range blksize kept: %d", r.Blksize)
	}
}

func TestTransferAllocs(t *testing.T) {
	e := newEngine()
	r := begin(t, e, "10.0.0.1:50000", "10.0.0.2:69")
	r.send(l7.FromClient, req(OpRRQ, "f", "octet"))
	x := begin(t, e, "10.0.0.2:61000", "10.0.0.1:50000")
	block := uint16(1)
	d := dataPkt(0, 512)
	a := ack(0)
	h := &decode.Headers{Proto: decode.ProtoUDP}
	if n := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint16(d[2:], block)
		binary.BigEndian.PutUint16(a[2:], block)
		h.Payload, h.PayloadLen = d, len(d)
		e.Packet(x.s, l7.FromClient, h, 1)
		h.Payload, h.PayloadLen = a, len(a)
		e.Packet(x.s, l7.FromServer, h, 1)
		block++
	}); n != 0 {
		t.Fatalf("%v allocs per DATA/ACK pair", n)
	}
	if x.s.Done() || x.summary().Files[0].Bytes != 1001*512 {
		t.Fatalf("done %v summary %+v", x.s.Done(), x.summary())
	}
}

func BenchmarkTransfer(b *testing.B) {
	e := newEngine()
	cli := netip.MustParseAddrPort("10.0.0.1:50000")
	r := e.Begin(l7.FlowInfo{Transport: l7.UDP, Client: cli, Server: netip.MustParseAddrPort("10.0.0.2:69")}, 1)
	rq := req(OpRRQ, "f", "octet")
	e.Packet(r, l7.FromClient, &decode.Headers{Proto: decode.ProtoUDP, Payload: rq, PayloadLen: len(rq)}, 1)
	x := e.Begin(l7.FlowInfo{Transport: l7.UDP, Client: netip.MustParseAddrPort("10.0.0.2:61000"), Server: cli}, 2)
	d := dataPkt(0, 512)
	h := &decode.Headers{Proto: decode.ProtoUDP, Payload: d, PayloadLen: len(d)}
	block := uint16(1)
	b.ReportAllocs()
	b.SetBytes(512)
	for b.Loop() {
		binary.BigEndian.PutUint16(d[2:], block)
		e.Packet(x, l7.FromClient, h, 3)
		block++
	}
}

func BenchmarkProbe(b *testing.B) {
	p := New()
	f := &l7.FlowInfo{Transport: l7.UDP, Server: netip.MustParseAddrPort("10.0.0.2:69")}
	rq := req(OpRRQ, "boot/pxelinux.0", "octet", "blksize", "1468", "tsize", "0")
	b.ReportAllocs()
	for b.Loop() {
		p.Probe(f, l7.FromClient, rq)
	}
}
