package synth

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
)

// Dir is the direction of a packet within a flow. The client is the side
// that opened the flow (and the local side of a container host's egress).
type Dir uint8

const (
	ToServer Dir = iota // client -> server
	ToClient            // server -> client
)

func (d Dir) String() string {
	if d == ToServer {
		return "to-server"
	}
	return "to-client"
}

func (d Dir) other() Dir { return d ^ 1 }

// Endpoints places a flow on the wire: addresses, ports and the
// encapsulation its frames carry.
type Endpoints struct {
	Client, Server         netip.Addr
	ClientPort, ServerPort uint16
	// ClientMAC and ServerMAC default to locally administered addresses
	// derived from the IP addresses (02:42:<IPv4> for the client, as Docker
	// does for containers).
	ClientMAC, ServerMAC net.HardwareAddr
	// VLANs are 802.1Q tags, outermost first. With VXLAN they tag the outer
	// frame.
	VLANs []uint16
	// VXLAN, when set, wraps each frame in Ethernet/IP/UDP/VXLAN.
	VXLAN *VXLAN
	// Interface is the index of the capture interface (WriterOptions.Interfaces).
	Interface int
}

// VXLAN describes the outer headers of a VXLAN-encapsulated flow.
type VXLAN struct {
	VNI uint32 // 24-bit network identifier
	// ClientVTEP encapsulates the client's frames, ServerVTEP the server's.
	ClientVTEP, ServerVTEP netip.Addr
	// SourcePort is the outer UDP source port (a flow hash in real VTEPs);
	// 0 picks one from the inner ports. The destination is always 4789.
	SourcePort uint16
}

func (e *Endpoints) validate() error {
	if !e.Client.IsValid() || !e.Server.IsValid() {
		return errors.New("endpoints: client and server addresses are required")
	}
	if e.Client.Unmap().Is4() != e.Server.Unmap().Is4() {
		return fmt.Errorf("endpoints: %v and %v are of different families", e.Client, e.Server)
	}
	for _, m := range []net.HardwareAddr{e.ClientMAC, e.ServerMAC} {
		if m != nil && len(m) != 6 {
			return fmt.Errorf("endpoints: MAC %v is not 6 bytes", m)
		}
	}
	for _, v := range e.VLANs {
		if v >= 4096 {
			return fmt.Errorf("endpoints: VLAN id %d out of range", v)
		}
	}
	if len(e.VLANs) > maxVLANs {
		return fmt.Errorf("endpoints: %d VLAN tags, at most %d", len(e.VLANs), maxVLANs)
	}
	if x := e.VXLAN; x != nil {
		if x.VNI >= 1<<24 {
			return fmt.Errorf("endpoints: VXLAN VNI %d out of range", x.VNI)
		}
		if !x.ClientVTEP.IsValid() || !x.ServerVTEP.IsValid() ||
			x.ClientVTEP.Unmap().Is4() != x.ServerVTEP.Unmap().Is4() {
			return errors.New("endpoints: VXLAN needs two VTEP addresses of one family")
		}
	}
	return nil
}

const maxVLANs = 4

// path is Endpoints converted once per flow into the forms the packet
// builder needs, so building a packet converts nothing.
type path struct {
	v6        bool
	ip        [2]net.IP // by sender: [ToServer]=client, [ToClient]=server
	mac       [2]net.HardwareAddr
	port      [2]uint16
	ttl       [2]uint8
	vlans     []uint16
	vx        bool
	vxV6      bool
	vxIP      [2]net.IP
	vxMAC     [2]net.HardwareAddr
	vxPort    uint16
	vni       uint32
	iface     int
	ipid      [2]uint16
	flowLabel uint32
}

func newPath(e *Endpoints, seed uint64) *path {
	c, s := e.Client.Unmap(), e.Server.Unmap()
	p := &path{
		v6:    c.Is6(),
		ip:    [2]net.IP{ipOf(c), ipOf(s)},
		port:  [2]uint16{e.ClientPort, e.ServerPort},
		vlans: e.VLANs,
		iface: e.Interface,
		// Client packets are seen before the first hop; server packets have
		// crossed the path (a fixed, plausible number of hops).
		ttl: [2]uint8{64, 64 - 12 + uint8(seed%7)},
	}
	p.mac[ToServer] = e.ClientMAC
	if p.mac[ToServer] == nil {
		p.mac[ToServer] = clientMAC(c)
	}
	p.mac[ToClient] = e.ServerMAC
	if p.mac[ToClient] == nil {
		p.mac[ToClient] = hashMAC(s)
	}
	p.ipid = [2]uint16{uint16(seed >> 16), uint16(seed >> 32)}
	p.flowLabel = uint32(seed>>40) & 0xfffff
	if x := e.VXLAN; x != nil {
		p.vx = true
		cv, sv := x.ClientVTEP.Unmap(), x.ServerVTEP.Unmap()
		p.vxV6 = cv.Is6()
		p.vxIP = [2]net.IP{ipOf(cv), ipOf(sv)}
		p.vxMAC = [2]net.HardwareAddr{hashMAC(cv), hashMAC(sv)}
		p.vni = x.VNI
		p.vxPort = x.SourcePort
		if p.vxPort == 0 {
			p.vxPort = 49152 + (e.ClientPort^e.ServerPort)%16384
		}
	}
	return p
}

func ipOf(a netip.Addr) net.IP {
	if a.Is4() {
		b := a.As4()
		return net.IP(b[:])
	}
	b := a.As16()
	return net.IP(b[:])
}

// clientMAC mimics Docker's container MACs (02:42 followed by the IPv4
// address) so demo captures look like a docker0 bridge.
func clientMAC(a netip.Addr) net.HardwareAddr {
	if a.Is4() {
		b := a.As4()
		return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
	}
	return hashMAC(a)
}

func hashMAC(a netip.Addr) net.HardwareAddr {
	h := fnv.New32a()
	b := a.As16()
	h.Write(b[:])
	v := h.Sum32()
	return net.HardwareAddr{0x02, 0x00, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
