package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Manifest is the ground truth of a generated capture: one record per flow,
// counted from the packets actually written.
type Manifest struct {
	Scenario string        `json:"scenario"`
	Seed     uint64        `json:"seed"`
	Start    time.Time     `json:"start"`
	Packets  int64         `json:"packets"`     // frames written
	Bytes    int64         `json:"frame_bytes"` // frame bytes written (without file headers)
	Flows    []*FlowRecord `json:"flows"`       // in order of first packet
}

// FlowRecord describes one flow (one 5-tuple). For VXLAN the tuple is the
// inner one. ICMP echo flows follow Zeek's convention: ClientPort is the
// request type (8, or 128 for ICMPv6) and ServerPort the reply's code
// counterpart (0, or 129); the echo identifier is in Meta["icmp_id"].
type FlowRecord struct {
	ID         int        `json:"id"`
	App        string     `json:"app,omitempty"` // application protocol ("http", "tls", "ftp-data", ...); "" for opaque
	Transport  string     `json:"transport"`     // "tcp", "udp", "icmp" or "icmpv6"
	Client     netip.Addr `json:"client"`
	ClientPort uint16     `json:"client_port"`
	Server     netip.Addr `json:"server"`
	ServerPort uint16     `json:"server_port"`
	VLANs      []uint16   `json:"vlans,omitempty"`
	VXLAN      *uint32    `json:"vxlan_vni,omitempty"`
	Interface  int        `json:"interface"`
	Close      string     `json:"close,omitempty"` // TCP: "fin", "rst", or "" when left open
	First      time.Time  `json:"first"`
	Last       time.Time  `json:"last"`
	ToServer   Counters   `json:"to_server"`
	ToClient   Counters   `json:"to_client"`
	// Meta holds facts a parser should recover (sni, host, query, file,
	// user, ...). Shared with the plan: treat as read-only.
	Meta map[string]string `json:"meta,omitempty"`
}

// Counters count one direction of a flow. IPBytes sums the total length of
// the (inner) IP packets: no link headers, padding or encapsulation.
type Counters struct {
	Packets int64 `json:"packets"`
	IPBytes int64 `json:"ip_bytes"`
}

// Key is the flow's 5-tuple as "transport client:port-server:port".
func (r *FlowRecord) Key() string {
	return fmt.Sprintf("%s %v-%v", r.Transport,
		netip.AddrPortFrom(r.Client, r.ClientPort), netip.AddrPortFrom(r.Server, r.ServerPort))
}

// Totals sums packets and IP bytes over all flows.
func (m *Manifest) Totals() (packets, ipBytes int64) {
	for _, f := range m.Flows {
		packets += f.ToServer.Packets + f.ToClient.Packets
		ipBytes += f.ToServer.IPBytes + f.ToClient.IPBytes
	}
	return packets, ipBytes
}

// WriteJSON writes the manifest as indented JSON.
func (m *Manifest) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

func addMeta(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = make(map[string]string, 2)
	}
	m[k] = v
	return m
}
