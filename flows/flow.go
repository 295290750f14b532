// Package flows turns decoded packets into bidirectional flows: the flow
// table (table.go), Community ID, and the ECS flow record (record.go).
// Decoding lives in flows/decode, application-protocol identification in
// flows/l7.
package flows

import (
	"outflow/flows/decode"
)

// EndReason says why a flow record was emitted.
type EndReason uint8

const (
	EndNone       EndReason = iota
	EndFIN                  // both sides closed with FIN
	EndRST                  // reset
	EndIdle                 // no packet for the idle timeout
	EndActive               // long-lived flow cut at the active timeout; it goes on
	EndEvicted              // table full: sacrificed for a new flow
	EndEndOfInput           // input ended (end of files, or shutdown)
	numEndReasons
)

var endReasonNames = [...]string{"", "fin", "rst", "idle", "active", "evicted", "end-of-input"}

func (r EndReason) String() string {
	if int(r) < len(endReasonNames) {
		return endReasonNames[r]
	}
	return "unknown"
}

// Key is a flow's canonical key: the endpoint with the lower (address, port)
// is A, so both directions of a flow find the same entry. For ICMP the ports
// hold the message type and its counterpart type (or the code for one-way
// messages), as Community ID does, so requests and replies meet.
type Key struct {
	A, B         decode.Addr
	APort, BPort uint16
	Proto        uint8
}

// TCP state bits kept per flow.
const (
	stSyn         = 1 << iota // initiator sent SYN
	stSynAck                  // responder sent SYN+ACK
	stEstablished             // handshake seen, or traffic both ways
	stFin0                    // initiator sent FIN
	stFin1                    // responder sent FIN
	stRst                     // reset seen
	stReplied                 // responder has sent at least one packet
)

// Flow is one bidirectional flow. Direction 0 is the initiator (source),
// direction 1 the responder (destination).
//
// A *Flow handed to an Observer is valid only during the call: the table
// reuses its storage once the flow has ended.
type Flow struct {
	// Fields are ordered so that the small ones fill what would otherwise
	// be padding: at 1,000,000 flows every byte here is a megabyte.
	Key      Key
	hash     uint32 // of Key, for the index
	swapped  bool   // initiator is Key.B
	state    uint8
	list     uint8 // which LRU list the flow is on
	Reason   EndReason
	Proto    uint8
	IPv6     bool
	NVLANs   uint8
	Flags    [2]uint8  // TCP flags seen per direction
	VLANs    [2]uint16 // outer and inner VLAN IDs of the first packet
	ICMPType uint8     // ICMP type/code of the first packet
	ICMPCode uint8
	recorded bool // the final record was written; the entry only absorbs stragglers
	appDone  bool // App has nothing more to inspect
	Packets  [2]uint64
	Bytes    [2]uint64      // IP bytes per direction
	First    int64          // Unix ns of the first packet (of this record)
	Last     int64          // Unix ns of the last packet
	tunnel   *decode.Tunnel // outermost encapsulation, nil when none (kept aside: most flows have none)
	// Interface is the capture interface of the first packet, as numbered
	// by its source.
	Interface int32
	// Owner is what the table's Attributor said owns the flow (for the
	// sensor, a container index); 0 when unknown.
	Owner uint32
	// Burst bookkeeping: the time of the last check-in event and the
	// counters when observers last heard of the flow (for deltas).
	lastBurst  int64
	Reported   [2]uint64 // Bytes at the last Observer event
	burstStart int64     // when the current activity burst began
	burstBase  uint64    // TotalBytes when it began

	prev, next int32    // LRU list links (slab indexes), -1 at the ends
	listed     int64    // when the flow was placed at its list's tail
	App        AppState // nil without an Inspector
}

// Src returns the initiator's address and port (0 for protocols without
// ports, ICMP included).
func (f *Flow) Src() (decode.Addr, uint16) {
	if !hasPorts(f.Proto) || f.Proto == decode.ProtoICMP || f.Proto == decode.ProtoICMPv6 {
		if f.swapped {
			return f.Key.B, 0
		}
		return f.Key.A, 0
	}
	if f.swapped {
		return f.Key.B, f.Key.BPort
	}
	return f.Key.A, f.Key.APort
}

// Dst returns the responder's address and port.
func (f *Flow) Dst() (decode.Addr, uint16) {
	if !hasPorts(f.Proto) || f.Proto == decode.ProtoICMP || f.Proto == decode.ProtoICMPv6 {
		if f.swapped {
			return f.Key.A, 0
		}
		return f.Key.B, 0
	}
	if f.swapped {
		return f.Key.A, f.Key.APort
	}
	return f.Key.B, f.Key.BPort
}

// CheckinTime and CheckinBytes describe the activity burst that has just
// completed, at EventBurst (the burst before the silence) and at EventEnd
// (the last one): when it began and the bytes both ways it moved. A short
// flow is one burst.
func (f *Flow) CheckinTime() int64 { return f.burstStart }

// CheckinBytes: see CheckinTime.
func (f *Flow) CheckinBytes() uint64 { return f.TotalBytes() - f.burstBase }

// Tunnel is the flow's outermost encapsulation, or nil.
func (f *Flow) Tunnel() *decode.Tunnel { return f.tunnel }

// TotalBytes is the IP bytes of both directions.
func (f *Flow) TotalBytes() uint64 { return f.Bytes[0] + f.Bytes[1] }

// CommunityID returns the flow's Community ID v1 (seed 0) appended to dst.
func (f *Flow) AppendCommunityID(dst []byte) []byte {
	k := f.CommunityKey()
	return k.Append(dst)
}

// CommunityKey is what a flow's Community ID is computed from. Code that
// may never need the ID (a detector remembering its latest evidence flow)
// keeps this instead of hashing on every event.
type CommunityKey struct {
	Src, Dst         decode.Addr
	SrcPort, DstPort uint16 // ICMP: type and code
	Proto            uint8
}

// CommunityKey returns the inputs of the flow's Community ID.
func (f *Flow) CommunityKey() CommunityKey {
	var k CommunityKey
	k.Src, k.SrcPort = f.Src()
	k.Dst, k.DstPort = f.Dst()
	k.Proto = f.Proto
	if f.Proto == decode.ProtoICMP || f.Proto == decode.ProtoICMPv6 {
		k.SrcPort, k.DstPort = uint16(f.ICMPType), uint16(f.ICMPCode)
	}
	return k
}

// Append appends the Community ID v1 (seed 0) of k to dst.
func (k *CommunityKey) Append(dst []byte) []byte {
	return AppendCommunityID(dst, 0, k.Proto, k.Src, k.Dst, k.SrcPort, k.DstPort)
}

// Placement is where the flow stands in the table's expiry order: expiry
// and Flush visit the lists in order and each list by the time its flows
// were placed on it. A sharded pipeline merges the flows several tables
// end at one point back into the order one table would have ended them in.
func (f *Flow) Placement() (list uint8, listed int64) { return f.list, f.listed }
