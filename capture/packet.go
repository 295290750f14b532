// Package capture holds outflow's packet sources: capture files (pcap,
// pcapng, optionally gzip-compressed), live AF_PACKET sockets, and the
// container discovery that tells the sensor which interfaces to open.
package capture

import (
	"errors"
	"fmt"
)

// LinkType is a pcap/pcapng LINKTYPE_ value: what the first header of a
// captured frame is.
type LinkType uint16

// Link types outflow decodes. Values are the LINKTYPE_ numbers written in
// capture files (tcpdump.org/linktypes.html), plus the two platform DLT_RAW
// values that old files still carry.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet  LinkType = 1   // Ethernet II / 802.3
	LinkRawBSD    LinkType = 12  // DLT_RAW on most BSDs
	LinkRawOpen   LinkType = 14  // DLT_RAW on OpenBSD
	LinkRaw       LinkType = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkLoop      LinkType = 108 // OpenBSD loopback: 4-byte network-order family
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture v1 (tcpdump -i any)
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2 (tcpdump -i any, newer)
)

func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "null"
	case LinkEthernet:
		return "ethernet"
	case LinkRaw, LinkRawBSD, LinkRawOpen:
		return "raw"
	case LinkLoop:
		return "loop"
	case LinkLinuxSLL:
		return "linux-sll"
	case LinkIPv4:
		return "ipv4"
	case LinkIPv6:
		return "ipv6"
	case LinkLinuxSLL2:
		return "linux-sll2"
	}
	return fmt.Sprintf("linktype-%d", uint16(l))
}

// Packet is one captured frame.
//
// Data is owned by the Source that filled the Packet and stays valid only
// until the next call to that Source's Next: sources reuse their buffers so
// that reading allocates nothing per packet. A consumer that keeps bytes
// beyond that must copy them.
type Packet struct {
	Timestamp int64    // capture time, Unix nanoseconds
	Data      []byte   // captured bytes (len(Data) is the capture length)
	OrigLen   int      // length on the wire; > len(Data) when the snap length cut it
	LinkType  LinkType // what Data starts with
	Interface int      // index of the capturing interface within the source
}

// Truncated reports whether the frame was cut by the snap length.
func (p *Packet) Truncated() bool { return p.OrigLen > len(p.Data) }

// Source is a stream of packets: a capture file or a live socket.
type Source interface {
	// Next fills p with the next packet. p.Data is valid until the next call
	// (longer for a file opened with OpenBuffers).
	// It returns io.EOF at the clean end of the input. Any other error ends
	// the source: for files it is a *FileError naming the byte offset, and
	// every packet returned before it is good.
	Next(p *Packet) error
	// Name identifies the source in logs and errors (a path or interface).
	Name() string
	// InterfaceName names interface i of this source, or "" when unknown.
	InterfaceName(i int) string
	// Close releases the source. It is safe to call more than once.
	Close() error
}

// Errors wrapped by *FileError, to tell the kinds of damage apart.
var (
	ErrNotCapture = errors.New("not a pcap or pcapng capture")
	ErrTruncated  = errors.New("capture cut off mid-record")
	ErrCorrupt    = errors.New("corrupt record")
	// ErrTimeout is returned by live sources when no packet arrived within
	// their poll timeout, so the caller can run its timers; the source is
	// still good.
	ErrTimeout = errors.New("no packet within the poll timeout")
)

// FileError is a read error in a capture file, with the byte offset (in the
// uncompressed stream) of the record where reading stopped.
type FileError struct {
	File   string
	Offset int64
	Err    error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("read %s: offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
