package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
)

// BenchmarkPostureObserve: the five posture detectors on one flow event of
// a container's egress flow, in steady state (workload learned, container
// judged, destination known): no allocation.
func BenchmarkPostureObserve(b *testing.B) {
	ud := NewUnexpectedDestination(UnexpectedDestinationConfig{LearningPeriod: time.Second})
	dets := []Detector{
		NewHostNetworkEgress(HostNetworkEgressConfig{}),
		NewExposedPortInbound(ExposedPortInboundConfig{}, Networks{}),
		NewRiskyContainer(RiskyContainerConfig{}),
		ud,
		NewContainerChurn(ContainerChurnConfig{}),
	}
	c := &Container{ID: strings.Repeat("a", 64), Name: "web", Image: "registry.example/web:1", Privileged: true}
	ff := &flows.Flow{Key: flows.Key{A: ip("172.17.0.2"), B: ip("203.0.113.9"), APort: 40000, BPort: 443, Proto: decode.ProtoTCP},
		Proto: decode.ProtoTCP, Packets: [2]uint64{3, 2}, Bytes: [2]uint64{500, 300}}
	v := &Flow{Flow: ff, Src: netip.MustParseAddr("172.17.0.2"), Dst: netip.MustParseAddr("203.0.113.9"), SrcPort: 40000, DstPort: 443, Container: c,
		Entity: Entity{ContainerID: c.ID}}
	sink := sinkFunc(func(*Alert) {})
	for i := range 3 { // learn, judge, settle
		v.Time = int64(i) * int64(time.Second)
		for _, d := range dets {
			d.Observe(flows.EventEnd, v, sink)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.Time = int64(3+i) * int64(time.Millisecond)
		for _, d := range dets {
			d.Observe(flows.EventEnd, v, sink)
		}
	}
}
