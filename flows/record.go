package flows

import (
	"net/netip"
	"strconv"

	"outflow/flows/decode"
	"outflow/flows/ecs"
)

// Enricher adds fields to flow records: container and orchestrator metadata,
// the capture interface, GeoIP. It runs once per record, not per packet.
type Enricher interface {
	EnrichFlow(f *Flow, d *ecs.Doc)
}

// AddrOf converts a flow address for printing and lookups.
func AddrOf(a decode.Addr) netip.Addr { return netip.AddrFrom16(a).Unmap() }

// TransportName is network.transport: the IANA keyword, lowercase.
func TransportName(proto uint8) string {
	switch proto {
	case decode.ProtoTCP:
		return "tcp"
	case decode.ProtoUDP:
		return "udp"
	case decode.ProtoICMP:
		return "icmp"
	case decode.ProtoICMPv6:
		return "ipv6-icmp"
	case decode.ProtoSCTP:
		return "sctp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	}
	return protoNumbers[proto]
}

var protoNumbers = func() (s [256]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

var vlanNames = func() (s [4096]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

var tcpFlagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// AppendRecord fills d with the flow's ECS record (event.dataset
// "outflow.flow"). It allocates nothing once d has grown. Fields are added
// in key order so that the document rarely needs sorting.
func AppendRecord(d *ecs.Doc, f *Flow) {
	src, sp := f.Src()
	dst, dp := f.Dst()
	srcIP, dstIP := AddrOf(src), AddrOf(dst)
	ports := hasPorts(f.Proto) && f.Proto != decode.ProtoICMP && f.Proto != decode.ProtoICMPv6
	proto, domain := "", ""
	if f.App != nil {
		proto, domain = f.App.Protocol(), f.App.Domain()
	}
	d.Time("@timestamp", f.First)

	d.Uint("destination.bytes", f.Bytes[1])
	d.Str("destination.domain", domain)
	d.Addr("destination.ip", dstIP)
	d.Uint("destination.packets", f.Packets[1])
	if ports {
		d.Uint("destination.port", uint64(dp))
	}

	d.Raw("event.category", []byte(`["network"]`))
	d.Str("event.dataset", "outflow.flow")
	d.Int("event.duration", f.Last-f.First)
	d.Time("event.end", f.Last)
	d.Str("event.kind", "event")
	d.Str("event.module", "outflow")
	d.Str("event.reason", f.Reason.String())
	d.Time("event.start", f.First)
	if f.Reason == EndActive {
		d.Raw("event.type", []byte(`["connection"]`))
	} else {
		d.Raw("event.type", []byte(`["connection","end"]`))
	}

	d.Uint("network.bytes", f.Bytes[0]+f.Bytes[1])
	var cid [40]byte
	d.Bytes("network.community_id", f.AppendCommunityID(cid[:0]))
	d.Str("network.iana_number", protoNumbers[f.Proto])
	if f.NVLANs > 1 {
		d.Str("network.inner.vlan.id", vlanNames[f.VLANs[1]&0xfff])
	}
	d.Uint("network.packets", f.Packets[0]+f.Packets[1])
	d.Str("network.protocol", proto)
	d.Str("network.transport", TransportName(f.Proto))
	if f.IPv6 {
		d.Str("network.type", "ipv6")
	} else {
		d.Str("network.type", "ipv4")
	}
	if f.NVLANs > 0 {
		d.Str("network.vlan.id", vlanNames[f.VLANs[0]&0xfff])
	}

	if f.Proto == decode.ProtoICMP || f.Proto == decode.ProtoICMPv6 {
		d.Uint("outflow.icmp.code", uint64(f.ICMPCode))
		d.Uint("outflow.icmp.type", uint64(f.ICMPType))
	}
	if f.Proto == decode.ProtoTCP {
		appendFlags(d, "outflow.tcp.destination_flags", f.Flags[1])
		appendFlags(d, "outflow.tcp.source_flags", f.Flags[0])
	}
	if t := f.tunnel; t != nil {
		d.Uint("outflow.tunnel.depth", uint64(t.Depth))
		d.Addr("outflow.tunnel.destination.ip", AddrOf(t.Dst))
		if t.HasID {
			d.Uint("outflow.tunnel.id", uint64(t.ID))
		}
		d.Addr("outflow.tunnel.source.ip", AddrOf(t.Src))
		d.Str("outflow.tunnel.type", t.Type.String())
	}

	d.Addrs("related.ip", srcIP, dstIP)

	d.Uint("source.bytes", f.Bytes[0])
	d.Addr("source.ip", srcIP)
	d.Uint("source.packets", f.Packets[0])
	if ports {
		d.Uint("source.port", uint64(sp))
	}
	if f.App != nil {
		f.App.Fields(d)
	}
}

func appendFlags(d *ecs.Doc, key string, fl uint8) {
	if fl == 0 {
		return
	}
	var names [8]string
	n := 0
	for b := 0; b < 8; b++ {
		if fl&(1<<b) != 0 {
			names[n] = tcpFlagNames[b]
			n++
		}
	}
	d.Strs(key, names[:n])
}

// RecordWriter is the Observer that writes one ECS record per flow record
// (EventEnd) to an ecs.Writer, after the enrichers have added their fields.
type RecordWriter struct {
	out     *ecs.Writer
	enrich  []Enricher
	doc     ecs.Doc
	Err     error // first write error
	Written uint64
}

// NewRecordWriter writes flow records to out.
func NewRecordWriter(out *ecs.Writer, enrich ...Enricher) *RecordWriter {
	return &RecordWriter{out: out, enrich: enrich}
}

// FlowEvent implements Observer.
func (w *RecordWriter) FlowEvent(ev Event, f *Flow) {
	if ev != EventEnd {
		return
	}
	w.doc.Reset()
	AppendRecord(&w.doc, f)
	for _, e := range w.enrich {
		e.EnrichFlow(f, &w.doc)
	}
	if err := w.out.Write(&w.doc); err != nil && w.Err == nil {
		w.Err = err
	}
	w.Written++
}
