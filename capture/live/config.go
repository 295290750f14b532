// Package live captures packets from a network interface with a Linux
// AF_PACKET socket and a TPACKET_V3 memory-mapped ring, optionally inside
// another network namespace (a container's). Elsewhere Open returns
// ErrNotSupported.
//
// Frames are as the kernel hands them to packet sockets: ones captured on
// the sending side may carry checksums left for the NIC to fill in, and
// segmentation-offload frames longer than the MTU; on "lo" each packet is
// seen twice, going out and coming in.
package live

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"outflow/capture"
	capfilter "outflow/capture/filter"
)

// Defaults for the zero values of Config.
const (
	DefaultBlockSize = 1 << 20
	DefaultBlocks    = 8
	// DefaultBlockTimeout is how long the kernel holds a partly filled
	// block before handing it over: the worst added latency of a packet
	// on a quiet link, so it is kept short for prompt alerts.
	DefaultBlockTimeout = 10 * time.Millisecond
	DefaultPollTimeout  = 100 * time.Millisecond
	// DefaultSnaplen is libpcap's maximum: veths carry GRO/TSO frames of
	// up to 64 KiB (more with BIG TCP), and a TPACKET_V3 ring packs
	// frames by their real size, so a large snap length costs nothing.
	DefaultSnaplen = 256 << 10
)

// blockOverhead is what a TPACKET_V3 block spends on its descriptor and a
// frame's header, sockaddr_ll and alignment, with room to spare: a frame
// longer than BlockSize-blockOverhead would be cut by the kernel.
const blockOverhead = 512

// maxRing bounds BlockSize*Blocks so that the kernel's frame count (a
// uint32 of 4 KiB frames) cannot overflow and a typo cannot pin a
// machine's memory.
const maxRing = 4 << 30

// Config says what to capture and how.
type Config struct {
	// Interface is the interface name, e.g. "eth0" or "veth1a2b3c".
	Interface string
	// NetNS is "" for the current network namespace, or the path of
	// another one (/proc/PID/ns/net, /var/run/netns/NAME): the socket is
	// opened inside it and stays bound to that namespace's interface.
	NetNS string
	// BlockSize is the TPACKET_V3 block size in bytes, a multiple of the
	// page size (default DefaultBlockSize).
	BlockSize int
	// Blocks is the number of blocks in the ring (default DefaultBlocks).
	Blocks int
	// BlockTimeout is how long the kernel holds a partly filled block
	// (default DefaultBlockTimeout; millisecond resolution, at least 1ms).
	BlockTimeout time.Duration
	// PollTimeout is how long Next waits for a packet before returning
	// capture.ErrTimeout (default DefaultPollTimeout; at least 1ms). It
	// also bounds how long Close waits for a blocked Next.
	PollTimeout time.Duration
	// Snaplen is the most bytes kept of a frame (default DefaultSnaplen,
	// or less when the blocks are smaller). It must fit in a block.
	Snaplen int
	// Fanout, when set, joins the socket to a PACKET_FANOUT group so that
	// several sockets share the interface's traffic.
	Fanout *Fanout
	// Promiscuous asks the interface for frames not addressed to it.
	Promiscuous bool
	// Filter, when set, is a capture filter in tcpdump syntax (see
	// outflow/capture/filter) that the kernel runs on each frame: frames
	// it rejects never reach the ring.
	Filter string
}

// FanoutMode is how a fanout group spreads packets over its sockets. The
// values are the kernel's PACKET_FANOUT_* modes.
type FanoutMode uint8

// Fanout modes.
const (
	FanoutHash        FanoutMode = 0 // by flow hash: a flow stays on one socket
	FanoutLoadBalance FanoutMode = 1 // round robin
	FanoutCPU         FanoutMode = 2 // by the receiving CPU
	FanoutRollover    FanoutMode = 3 // fill one socket, then the next
	FanoutRandom      FanoutMode = 4
	FanoutQueue       FanoutMode = 5 // by the NIC's receive queue
)

func (m FanoutMode) String() string {
	switch m {
	case FanoutHash:
		return "hash"
	case FanoutLoadBalance:
		return "lb"
	case FanoutCPU:
		return "cpu"
	case FanoutRollover:
		return "rollover"
	case FanoutRandom:
		return "random"
	case FanoutQueue:
		return "queue"
	}
	return fmt.Sprintf("fanout-mode-%d", uint8(m))
}

// Fanout is a PACKET_FANOUT group. Group ids are per network namespace and
// shared by every process in it: sockets that join the same id on the same
// interface split its traffic.
type Fanout struct {
	Group uint16
	Mode  FanoutMode
	// Defrag has the kernel reassemble IP fragments before hashing, so a
	// fragmented datagram reaches the same socket as the rest of its
	// flow (fragments carry no ports to hash on).
	Defrag bool
}

// Stats are the kernel's counters for the socket, cumulative since Open.
type Stats struct {
	// Packets is every packet that reached the socket, dropped or not.
	Packets uint64
	// Drops is the packets the kernel dropped because the ring was full.
	Drops uint64
	// FreezeQueueCount is how many times the ring filled up and the
	// kernel froze it until the reader freed a block.
	FreezeQueueCount uint64
	// Early is the frames dropped because they reached the ring before
	// the socket's filter and fanout group were in place.
	Early uint64
}

// ErrNotSupported is returned by Open where there is no AF_PACKET.
var ErrNotSupported = errors.New("live capture needs Linux")

// ErrNoInterface is wrapped by Open's error when the interface does not
// exist in the namespace.
var ErrNoInterface = errors.New("no such network interface")

// PrivilegeError is an operation the kernel refused for want of a
// capability.
type PrivilegeError struct {
	Op         string // "open AF_PACKET socket", "setns"
	Interface  string
	NetNS      string // "" for the current namespace
	Capability string // what would allow it, e.g. "CAP_NET_RAW"
	Err        error  // the errno
}

func (e *PrivilegeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Interface != "" {
		b.WriteString(" on ")
		b.WriteString(e.Interface)
	}
	if e.NetNS != "" {
		b.WriteString(" (network namespace ")
		b.WriteString(e.NetNS)
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("permission denied")
	}
	if e.Capability != "" {
		b.WriteString(" (needs ")
		b.WriteString(e.Capability)
		b.WriteString(")")
	}
	return b.String()
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// ifNameMax is IFNAMSIZ less the terminating NUL.
const ifNameMax = 15

// withDefaults fills the zero fields of cfg and checks it.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return cfg, fmt.Errorf("live capture on %q: %s", cfg.Interface, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.Interface == "":
		return bad("no interface named")
	case len(cfg.Interface) > ifNameMax || strings.ContainsAny(cfg.Interface, "/ \x00"):
		return bad("not a valid interface name")
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.Blocks == 0 {
		cfg.Blocks = DefaultBlocks
	}
	if cfg.BlockTimeout == 0 {
		cfg.BlockTimeout = DefaultBlockTimeout
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	page := os.Getpagesize()
	switch {
	case cfg.BlockSize < page || cfg.BlockSize%page != 0:
		return bad("block size %d is not a positive multiple of the page size %d", cfg.BlockSize, page)
	case cfg.Blocks < 1:
		return bad("%d blocks; need at least 1", cfg.Blocks)
	case int64(cfg.BlockSize)*int64(cfg.Blocks) > maxRing:
		return bad("ring of %d blocks of %d bytes is over the %d-byte limit", cfg.Blocks, cfg.BlockSize, int64(maxRing))
	case cfg.BlockTimeout < time.Millisecond:
		return bad("block timeout %v is under 1ms", cfg.BlockTimeout)
	case cfg.PollTimeout < time.Millisecond:
		// A negative timeout would block forever, and Close could never
		// unblock Next.
		return bad("poll timeout %v is under 1ms", cfg.PollTimeout)
	}
	capacity := cfg.BlockSize - blockOverhead
	switch {
	case cfg.Snaplen == 0:
		cfg.Snaplen = min(DefaultSnaplen, capacity)
	case cfg.Snaplen < 0:
		return bad("negative snap length %d", cfg.Snaplen)
	case cfg.Snaplen > capacity:
		return bad("snap length %d does not fit in a block of %d bytes (at most %d)", cfg.Snaplen, cfg.BlockSize, capacity)
	}
	if f := cfg.Fanout; f != nil && f.Mode > FanoutQueue {
		return bad("unknown fanout mode %v", f.Mode)
	}
	if cfg.Filter != "" {
		if _, err := capfilter.Parse(cfg.Filter); err != nil {
			return cfg, fmt.Errorf("live capture on %q: %w", cfg.Interface, err)
		}
	}
	return cfg, nil
}

// where names the namespace for error messages.
func where(netns string) string {
	if netns == "" {
		return "in the current network namespace"
	}
	return "in network namespace " + netns
}

func sourceName(cfg Config) string {
	if cfg.NetNS == "" {
		return cfg.Interface
	}
	return cfg.Interface + " (netns " + cfg.NetNS + ")"
}

var _ capture.Source = (*Source)(nil)
