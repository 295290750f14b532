package synth

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// readPkt is one packet read back from a generated file and decoded down to
// its innermost IP packet.
type readPkt struct {
	ts      int64
	frame   []byte
	pkt     gopacket.Packet
	key     string // "transport src:port>dst:port" of the innermost IP packet
	ipLen   int
	payload []byte // transport payload
	tcp     *layers.TCP
	udp     *layers.UDP
}

// readCapture reads every packet of a pcap or pcapng file (gzip-compressed
// or not) with pcapgo and decodes it with gopacket.
func readCapture(t testing.TB, file []byte) []readPkt {
	t.Helper()
	var r io.Reader = bytes.NewReader(file)
	if len(file) > 2 && file[0] == 0x1f && file[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	br := bytes.NewBuffer(nil)
	if _, err := io.Copy(br, r); err != nil {
		t.Fatal(err)
	}
	raw := br.Bytes()
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	linkOf := func(int) layers.LinkType { return layers.LinkTypeEthernet }
	if len(raw) >= 4 && bytes.Equal(raw[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		src = ng
		linkOf = func(i int) layers.LinkType {
			intf, err := ng.Interface(i)
			if err != nil {
				t.Fatal(err)
			}
			return intf.LinkType
		}
	} else {
		pr, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		src = pr
		lt := pr.LinkType()
		linkOf = func(int) layers.LinkType { return lt }
	}
	var out []readPkt
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, linkOf(ci.InterfaceIndex), gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet %d: decode error: %v", len(out)+1, el.Error())
		}
		rp := readPkt{ts: ci.Timestamp.UnixNano(), frame: data, pkt: p}
		decodeInner(&rp)
		out = append(out, rp)
	}
	return out
}

// decodeInner finds the innermost IP packet (after VXLAN) and its 5-tuple.
// ICMP echo uses Zeek's ports: request type and reply code (8/0, 128/129).
func decodeInner(rp *readPkt) {
	var src, dst netip.Addr
	var proto string
	for _, l := range rp.pkt.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(v.SrcIP)
			dst, _ = netip.AddrFromSlice(v.DstIP)
			rp.ipLen = int(v.Length)
			rp.tcp, rp.udp, proto = nil, nil, ""
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(v.SrcIP)
			dst, _ = netip.AddrFromSlice(v.DstIP)
			rp.ipLen = 40 + int(v.Length)
			rp.tcp, rp.udp, proto = nil, nil, ""
		case *layers.TCP:
			rp.tcp, proto = v, "tcp"
			rp.payload = v.Payload
			rp.key = fmt.Sprintf("tcp %v>%v", netip.AddrPortFrom(src, uint16(v.SrcPort)), netip.AddrPortFrom(dst, uint16(v.DstPort)))
		case *layers.UDP:
			if proto != "" {
				continue
			}
			rp.udp, proto = v, "udp"
			rp.payload = v.Payload
			rp.key = fmt.Sprintf("udp %v>%v", netip.AddrPortFrom(src, uint16(v.SrcPort)), netip.AddrPortFrom(dst, uint16(v.DstPort)))
		case *layers.ICMPv4:
			proto = "icmp"
			a, b := netip.AddrPortFrom(src, 8), netip.AddrPortFrom(dst, 0)
			if v.TypeCode.Type() == layers.ICMPv4TypeEchoReply {
				a, b = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 8)
			}
			rp.key = fmt.Sprintf("icmp %v>%v", a, b)
		case *layers.ICMPv6:
			proto = "icmpv6"
			a, b := netip.AddrPortFrom(src, 128), netip.AddrPortFrom(dst, 129)
			if v.TypeCode.Type() == layers.ICMPv6TypeEchoReply {
				a, b = netip.AddrPortFrom(src, 129), netip.AddrPortFrom(dst, 128)
			}
			rp.key = fmt.Sprintf("icmpv6 %v>%v", a, b)
		}
	}
}

// recordKeys gives the keys of a flow's two directions.
func recordKeys(r *FlowRecord) (toServer, toClient string) {
	c, s := netip.AddrPortFrom(r.Client, r.ClientPort), netip.AddrPortFrom(r.Server, r.ServerPort)
	return fmt.Sprintf("%s %v>%v", r.Transport, c, s), fmt.Sprintf("%s %v>%v", r.Transport, s, c)
}

// writeScenario runs sc into memory.
func writeScenario(t testing.TB, sc *Scenario, opt WriterOptions) ([]byte, *Manifest) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.Run(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// verifyChecksums checks every IPv4, TCP, UDP and ICMP checksum of p
// against its enclosing IP header (gopacket's decoder does not link them).
func verifyChecksums(p gopacket.Packet) error {
	var nl gopacket.NetworkLayer
	type verifier interface {
		VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
	}
	for _, l := range p.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			nl = v
		case *layers.IPv6:
			nl = v
		case *layers.TCP:
			if err := v.SetNetworkLayerForChecksum(nl); err != nil {
				return err
			}
		case *layers.UDP:
			if err := v.SetNetworkLayerForChecksum(nl); err != nil {
				return err
			}
		case *layers.ICMPv6:
			if err := v.SetNetworkLayerForChecksum(nl); err != nil {
				return err
			}
		}
		if vf, ok := l.(verifier); ok {
			err, res := vf.VerifyChecksum()
			if err != nil {
				return fmt.Errorf("%v: %w", l.LayerType(), err)
			}
			if !res.Valid {
				return fmt.Errorf("%v: bad checksum %+v", l.LayerType(), res)
			}
		}
	}
	return nil
}
