package sip

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

var (
	ctx = &l7.Context{}
	udp = &l7.FlowInfo{Transport: l7.UDP}
	tcp = &l7.FlowInfo{Transport: l7.TCP}
)

const invite = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: Bob <sip:bob@biloxi.example.com>\r\n" +
	"f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
	"i: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"User-Agent: softphone/2.1\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

const ringing = "SIP/2.0 180 Ringing\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Server: pbx/9\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestProbe(t *testing.T) {
	tests := []struct {
		in   string
		want l7.Verdict
	}{
		{invite, l7.VerdictYes},
		{ringing, l7.VerdictYes},
		{"REGISTER sips:registrar.example.com SIP/2.0\r\n", l7.VerdictYes},
		{"OPTIONS tel:+15551234 SIP/2.0\n", l7.VerdictYes},
		{"\r\n\r\nBYE sip:x@y SIP/2.0\r\n", l7.VerdictYes},
		{"\r\n\r\n", l7.VerdictMaybe},
		{"", l7.VerdictMaybe},
		{"INV", l7.VerdictMaybe},
		{"INVITE ", l7.VerdictMaybe},
		{"INVITE si", l7.VerdictMaybe},
		{"INVITE sip:bob@b", l7.VerdictMaybe},
		{"INVITE sip:bob@b SIP/2", l7.VerdictMaybe},
		{"INVITE sip:bob@b SIP/2.0", l7.VerdictMaybe},
		{"INVITE sip:bob@b SIP/2.0\r", l7.VerdictMaybe},
		{"SIP/2.0 18", l7.VerdictMaybe},
		{"SIP/2.0 1800 x", l7.VerdictNo},
		{"SIP/3.0 200 OK\r\n", l7.VerdictNo},
		{"INVITE http://bob SIP/2.0\r\n", l7.VerdictNo},
		{"INVITE sip:bob HTTP/1.1\r\n", l7.VerdictNo},
		{"INVITE sip:bob SIP/2.0 extra\r\n", l7.VerdictNo},
		{"FOO sip:bob SIP/2.0\r\n", l7.VerdictNo},
		{"invite sip:bob SIP/2.0\r\n", l7.VerdictNo},
		{"OPTIONS * HTTP/1.1\r\n", l7.VerdictNo},
		{"GET / HTTP/1.1\r\n", l7.VerdictNo},
		{"\x16\x03\x01\x00\x10", l7.VerdictNo},
	}
	p := New()
	for _, tt := range tests {
		for _, f := range []*l7.FlowInfo{udp, tcp} {
			if got := p.Probe(f, l7.FromClient, []byte(tt.in)); got != tt.want {
				t.Errorf("Probe(%q) = %d, want %d", tt.in, got, tt.want)
			}
		}
	}
}

func TestSession(t *testing.T) {
	tests := []struct {
		name string
		f    *l7.FlowInfo
		in   string
		want map[string]any
	}{
		{"invite over UDP", udp, invite, map[string]any{
			"outflow.sip.method": "INVITE", "outflow.sip.uri": "sip:bob@biloxi.example.com",
			"outflow.sip.call_id": "a84b4c76e66710@pc33.atlanta.example.com", "outflow.sip.cseq": "314159 INVITE",
			"user_agent.original": "softphone/2.1"}},
		{"response over UDP", udp, ringing, map[string]any{
			"outflow.sip.status_code": 180.0, "outflow.sip.call_id": "a84b4c76e66710@pc33.atlanta.example.com",
			"outflow.sip.cseq": "314159 INVITE", "user_agent.original": "pbx/9"}},
		{"datagram without blank line", udp, "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x1\r\n", map[string]any{
			"outflow.sip.method": "OPTIONS", "outflow.sip.uri": "sip:a@b", "outflow.sip.call_id": "x1"}},
		{"keep-alive then request over TCP", tcp, "\r\n\r\n" + invite, map[string]any{
			"outflow.sip.method": "INVITE", "outflow.sip.uri": "sip:bob@biloxi.example.com",
			"outflow.sip.call_id": "a84b4c76e66710@pc33.atlanta.example.com", "outflow.sip.cseq": "314159 INVITE",
			"user_agent.original": "softphone/2.1"}},
		{"long values are bounded", udp, "MESSAGE sip:" + strings.Repeat("u", 400) + " SIP/2.0\r\ni: " + strings.Repeat("c", 400) + "\r\n\r\n",
			map[string]any{"outflow.sip.method": "MESSAGE", "outflow.sip.uri": ("sip:" + strings.Repeat("u", 400))[:maxURI],
				"outflow.sip.call_id": strings.Repeat("c", maxCallID)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New().NewSession(tt.f)
			if s.Feed(ctx, l7.FromClient, []byte(tt.in)) {
				t.Error("session wants more after the first message")
			}
			if got := l7test.Fields(t, s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestEverySplit feeds a TCP message split at every byte.
func TestEverySplit(t *testing.T) {
	ref := New().NewSession(tcp)
	ref.Feed(ctx, l7.FromClient, []byte(invite))
	want := l7test.Fields(t, ref)
	for i := 0; i <= len(invite); i++ {
		s := New().NewSession(tcp)
		more := s.Feed(ctx, l7.FromClient, []byte(invite[:i]))
		if more {
			s.Feed(ctx, l7.FromClient, []byte(invite[i:]))
		}
		if got := l7test.Fields(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: %v", i, got)
		}
	}
}

func TestAgainstGopacket(t *testing.T) {
	for _, m := range []string{invite, ringing} {
		var g layers.SIP
		if err := g.DecodeFromBytes([]byte(m), gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		s := New().NewSession(udp).(*session)
		s.Feed(ctx, l7.FromClient, []byte(m))
		if g.IsResponse {
			if g.ResponseCode != s.status {
				t.Errorf("status: gopacket %d, ours %d", g.ResponseCode, s.status)
			}
		} else if g.Method.String() != s.method || g.RequestURI != s.uri {
			t.Errorf("request: gopacket %s %s, ours %s %s", g.Method, g.RequestURI, s.method, s.uri)
		}
		if g.GetCallID() != s.callID {
			t.Errorf("Call-ID: gopacket %q, ours %q", g.GetCallID(), s.callID)
		}
	}
}

func TestBoundedBuffer(t *testing.T) {
	s := New().NewSession(tcp).(*session)
	s.Feed(ctx, l7.FromClient, []byte("REGISTER sip:r SIP/2.0\r\n"))
	big := []byte("X-Pad: " + strings.Repeat("p", 1000) + "\r\n")
	more := true
	for i := 0; i < 10 && more; i++ {
		more = s.Feed(ctx, l7.FromClient, big)
	}
	if more || cap(s.buf) > 2*maxHeader || s.method != "REGISTER" {
		t.Errorf("more %v buf %d method %q", more, cap(s.buf), s.method)
	}
	s = New().NewSession(tcp).(*session)
	s.Feed(ctx, l7.FromClient, []byte("SUBSCRIBE sip:r SIP/2.0\r\nCall-ID: z\r\n"))
	if s.Gap(ctx, l7.FromClient, 10) || s.callID != "z" {
		t.Errorf("gap: call id %q", s.callID)
	}
	var sum l7.Summary
	s.Summary(&sum)
	if sum.Protocol != "sip" {
		t.Errorf("summary %+v", sum)
	}
}
