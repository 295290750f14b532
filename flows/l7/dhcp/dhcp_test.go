package dhcp

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

var (
	ctx = &l7.Context{}
	udp = &l7.FlowInfo{Transport: l7.UDP}
)

func serialize(t testing.TB, d *layers.DHCPv4) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var mac = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}

func discover(t testing.TB) []byte {
	return serialize(t, &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, Xid: 0x3903f326,
		ClientHWAddr: mac, Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeDiscover)}),
			layers.NewDHCPOption(layers.DHCPOptHostname, []byte("build-runner-7")),
			layers.NewDHCPOption(layers.DHCPOptClassID, []byte("MSFT 5.0")),
			layers.NewDHCPOption(layers.DHCPOptRequestIP, []byte{192, 168, 1, 100}),
		}})
}

func ack(t testing.TB) []byte {
	return serialize(t, &layers.DHCPv4{Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet, Xid: 0x3903f326,
		ClientHWAddr: mac, YourClientIP: net.IP{192, 168, 1, 100}, Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeAck)}),
		}})
}

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
	return nested["outflow"].(map[string]any)["dhcp"].(map[string]any)
}

func TestProbeAndFields(t *testing.T) {
	with := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	bootp := with(discover(t), 236, 0) // no magic cookie: plain BOOTP
	cut := append(append([]byte(nil), discover(t)[:240]...), 53, 1, 3, 12, 200, 'x')
	tests := []struct {
		name string
		in   []byte
		want l7.Verdict
		f    map[string]any
	}{
		{"discover", discover(t), l7.VerdictYes, map[string]any{
			"message_type": "DISCOVER", "transaction_id": float64(0x3903f326), "hostname": "build-runner-7",
			"vendor_class": "MSFT 5.0", "requested_ip": "192.168.1.100", "client_mac": "02:42:ac:11:00:02"}},
		{"ack", ack(t), l7.VerdictYes, map[string]any{
			"message_type": "ACK", "transaction_id": float64(0x3903f326), "assigned_ip": "192.168.1.100", "client_mac": "02:42:ac:11:00:02"}},
		{"options cut short", cut, l7.VerdictYes, map[string]any{
			"message_type": "REQUEST", "transaction_id": float64(0x3903f326), "client_mac": "02:42:ac:11:00:02"}},
		{"plain BOOTP", bootp, l7.VerdictNo, nil},
		{"op 3", with(discover(t), 0, 3), l7.VerdictNo, nil},
		{"hardware type 0", with(discover(t), 1, 0), l7.VerdictNo, nil},
		{"hlen 17", with(discover(t), 2, 17), l7.VerdictNo, nil},
		{"hops 20", with(discover(t), 3, 20), l7.VerdictNo, nil},
		{"short", discover(t)[:239], l7.VerdictNo, nil},
	}
	p := New()
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
				t.Error("session wants more after the first message")
			}
			if got := fields(t, s); !reflect.DeepEqual(got, tt.f) {
				t.Errorf("fields %v\nwant %v", got, tt.f)
			}
		})
	}
	// gopacket decodes the same message type, transaction and address.
	for _, b := range [][]byte{discover(t), ack(t)} {
		var g layers.DHCPv4
		if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		s := p.NewSession(udp).(*session)
		s.Feed(ctx, l7.FromClient, b)
		var gt uint8
		for _, o := range g.Options {
			if o.Type == layers.DHCPOptMessageType && len(o.Data) == 1 {
				gt = o.Data[0]
			}
		}
		if gt != s.msgType || g.Xid != s.xid || g.ClientHWAddr.String() != net.HardwareAddr(s.mac[:s.macLen]).String() {
			t.Errorf("gopacket %d %x %s, ours %d %x %x", gt, g.Xid, g.ClientHWAddr, s.msgType, s.xid, s.mac[:s.macLen])
		}
	}
}

func TestProbeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := New()
	b := make([]byte, 300)
	for i := 0; i < 100000; i++ {
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if p.Probe(udp, l7.FromClient, b) == l7.VerdictYes {
			t.Fatalf("random datagram %x taken for DHCP", b)
		}
	}
}

func TestMalformedFeed(t *testing.T) {
	s := New().NewSession(udp)
	if s.Feed(ctx, l7.FromClient, make([]byte, 100)) || s.Gap(ctx, l7.FromClient, 1) {
		t.Error("session continues")
	}
	if f := fields(t, s); f != nil {
		t.Errorf("fields from a short datagram: %v", f)
	}
	var sum l7.Summary
	s.Summary(&sum)
	if sum.Protocol != "dhcp" {
		t.Errorf("summary %+v", sum)
	}
}
