package ntp

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

var (
	ctx = &l7.Context{}
	udp = &l7.FlowInfo{Transport: l7.UDP, Client: netip.MustParseAddrPort("192.0.2.1:40000"), Server: netip.MustParseAddrPort("192.0.2.2:123")}
	// Control and private messages off port 123 (here: an NFS server's
	// port) are not taken: by content alone ONC RPC looks like them.
	nfsPort = &l7.FlowInfo{Transport: l7.UDP, Client: netip.MustParseAddrPort("192.0.2.1:1023"), Server: netip.MustParseAddrPort("192.0.2.2:2049")}
)

func serialize(t testing.TB, n *layers.NTP) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := n.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func clientPacket(t testing.TB) []byte {
	return serialize(t, &layers.NTP{Version: 4, Mode: 3, Poll: 6, Precision: -20, TransmitTimestamp: 0xe9a1b2c3d4e5f607})
}

func serverPacket(t testing.TB) []byte {
	return serialize(t, &layers.NTP{Version: 4, Mode: 4, Stratum: 2, Poll: 6, Precision: -24, ReferenceID: 0xc0000201,
		ReferenceTimestamp: 0xe9a1b2c0, OriginTimestamp: 0xe9a1b2c3d4e5f607, ReceiveTimestamp: 0xe9a1b2c4, TransmitTimestamp: 0xe9a1b2c5})
}

var monlist = append([]byte{0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0}, make([]byte, 40)...)
var readvar = []byte{0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}

func fields(t testing.TB, s l7.Session) map[string]any {
	t.Helper()
	var d ecs.Doc
	s.Fields(&d)
	var nested map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &nested); err != nil {
		t.Fatal(err)
	}
	if len(nested) == 0 {
		return nil
	}
	return nested["outflow"].(map[string]any)["ntp"].(map[string]any)
}

func TestProbeAndFields(t *testing.T) {
	sntp := append([]byte{0x1b}, make([]byte, 47)...)
	with := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	tests := []struct {
		name string
		in   []byte
		want l7.Verdict
		f    map[string]any
	}{
		{"client (gopacket)", clientPacket(t), l7.VerdictYes, map[string]any{"version": 4.0, "mode": "client", "stratum": 0.0}},
		{"server (gopacket)", serverPacket(t), l7.VerdictYes, map[string]any{"version": 4.0, "mode": "server", "stratum": 2.0}},
		{"SNTP v3 request", sntp, l7.VerdictYes, map[string]any{"version": 3.0, "mode": "client", "stratum": 0.0}},
		{"with MAC", append(clientPacket(t), make([]byte, 20)...), l7.VerdictYes, nil},
		{"monlist", monlist, l7.VerdictYes, map[string]any{"version": 2.0, "mode": "private", "request_code": 42.0}},
		{"ntpq readvar", readvar, l7.VerdictYes, map[string]any{"version": 2.0, "mode": "control", "opcode": 2.0}},
		{"server without transmit time", with(serverPacket(t), 40, 0)[:40], l7.VerdictNo, nil},
		{"server transmit zero", append(with(serverPacket(t), 40, 0)[:40], make([]byte, 8)...), l7.VerdictNo, nil},
		{"version 0", with(sntp, 0, 0x03), l7.VerdictNo, nil},
		{"version 5", with(sntp, 0, 0x2b), l7.VerdictNo, nil},
		{"mode 0", with(sntp, 0, 0x18), l7.VerdictNo, nil},
		{"stratum 17", with(sntp, 1, 17), l7.VerdictNo, nil},
		{"poll 30", with(sntp, 2, 30), l7.VerdictNo, nil},
		{"positive precision", with(sntp, 3, 5), l7.VerdictNo, nil},
		{"odd length", sntp[:47], l7.VerdictNo, nil},
		{"short", sntp[:7], l7.VerdictNo, nil},
		{"control opcode 0", with(readvar, 1, 0), l7.VerdictNo, nil},
		{"control count too big", with(readvar, 11, 9), l7.VerdictNo, nil},
		{"control version 1", with(readvar, 0, 0x0e), l7.VerdictNo, nil},
		{"private bad implementation", with(monlist, 2, 9), l7.VerdictNo, nil},
		{"private request code 200", with(monlist, 3, 200), l7.VerdictNo, nil},
		{"private mbz set", with(monlist, 6, 0x10), l7.VerdictNo, nil},
		{"dns query", []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}, l7.VerdictNo, nil},
	}
	p := New()
	for _, in := range [][]byte{monlist, readvar} {
		if got := p.Probe(nfsPort, l7.FromClient, in); got != l7.VerdictNo {
			t.Errorf("control/private message off port 123: Probe = %d, want No", got)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Probe(udp, l7.FromClient, tt.in); got != tt.want {
				t.Fatalf("Probe = %d, want %d", got, tt.want)
			}
			if tt.f == nil {
				return
			}
			s := p.NewSession(udp)
			if s.Feed(ctx, l7.FromClient, tt.in) {
				t.Error("session wants more after the first datagram")
			}
			if got := fields(t, s); !reflect.DeepEqual(got, tt.f) {
				t.Errorf("fields %v, want %v", got, tt.f)
			}
			var sum l7.Summary
			s.Summary(&sum)
			if sum.Protocol != "ntp" {
				t.Errorf("summary %+v", sum)
			}
		})
	}
	// gopacket reads the same version and mode.
	for _, b := range [][]byte{clientPacket(t), serverPacket(t), sntp} {
		var n layers.NTP
		if err := n.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		s := p.NewSession(udp).(*session)
		s.Feed(ctx, l7.FromClient, b)
		if uint8(n.Version) != s.version || uint8(n.Mode) != s.mode || uint8(n.Stratum) != s.stratum {
			t.Errorf("gopacket %d/%d/%d, ours %d/%d/%d", n.Version, n.Mode, n.Stratum, s.version, s.mode, s.stratum)
		}
	}
}

// TestProbeRandom bounds how often random datagrams pass for NTP.
func TestProbeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := New()
	b := make([]byte, 48)
	yes := 0
	const n = 200000
	for i := 0; i < n; i++ {
		for j := 0; j < len(b); j += 8 {
			binary.LittleEndian.PutUint64(b[j:], rng.Uint64())
		}
		if p.Probe(udp, l7.FromClient, b) == l7.VerdictYes {
			yes++
		}
	}
	if yes > n/1000 {
		t.Errorf("%d of %d random 48-byte datagrams taken for NTP", yes, n)
	}
}

func TestMalformedFeed(t *testing.T) {
	s := New().NewSession(udp)
	if s.Feed(ctx, l7.FromClient, []byte{0x1b}) || s.Gap(ctx, l7.FromClient, 1) {
		t.Error("session continues")
	}
	if f := fields(t, s); f != nil {
		t.Errorf("fields from a short datagram: %v", f)
	}
}
