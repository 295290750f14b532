//go:build linux

package live

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"outflow/capture"
	capfilter "outflow/capture/filter"
)

// Reader states, for Close to know whether the ring may be unmapped.
const (
	stateIdle    int32 = iota // not in Next; the last Next returned no packet
	stateReading              // inside Next, touching the ring
	stateHolding              // Next returned a packet that points into the ring
)

// Source is a live capture on one interface. Next is for one goroutine;
// Stats and Close may be called from any.
type Source struct {
	cfg       Config
	name      string
	link      capture.LinkType
	tp        *afpacket.TPacket // set by Open, never changed
	errClosed error

	closing  atomic.Bool
	state    atomic.Int32
	released chan struct{} // closed once the socket and ring are gone

	// Frames that reached the ring before the socket was configured
	// (its filter, its fanout group) are dropped: until one stamped at or
	// after ready has been read, Next screens frames by their timestamp.
	// A frame stamped earlier is dropped however old its stamp: under
	// load a frame can wait in the kernel's backlog, stamped before the
	// socket was even made, and reach the ring before the filter. Only a
	// clock stepped back would stamp new frames that early, so screening
	// ends screenLimit after readyAt (monotonic) whatever the stamps.
	ready     int64
	readyAt   time.Time
	screening bool
	early     atomic.Uint64

	teardownOnce sync.Once
	teardownErr  error

	statsMu sync.Mutex
	gone    bool  // the socket is closed; stats holds its final counters
	stats   Stats // 64-bit totals
	// last are the (wrapping, 32-bit) cumulative counters afpacket
	// reported at the previous reading, so the totals can grow past 2^32.
	lastPackets, lastDrops, lastFreezes uint32
}

// Open opens an AF_PACKET socket with a TPACKET_V3 ring on cfg.Interface,
// inside cfg.NetNS when that is set. It needs CAP_NET_RAW (and
// CAP_SYS_ADMIN to enter another namespace); a refusal is a
// *PrivilegeError. A missing interface is an error wrapping ErrNoInterface.
func Open(cfg Config) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, name: sourceName(cfg), released: make(chan struct{})}
	// Made now so that Next allocates nothing on the way out.
	s.errClosed = fmt.Errorf("live capture on %s: %w", s.name, net.ErrClosed)
	open := func() error {
		var err error
		s.tp, s.link, err = openSocket(cfg)
		// After the socket's last setting: what the kernel timestamped
		// before this reached the ring unfiltered.
		s.readyAt = time.Now()
		s.ready, s.screening = s.readyAt.UnixNano(), true
		return err
	}
	if cfg.NetNS == "" {
		err = open()
	} else {
		err = inNamespace(cfg, open)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openSocket opens and configures the socket in the calling thread's
// network namespace.
func openSocket(cfg Config) (*afpacket.TPacket, capture.LinkType, error) {
	hatype, err := hardwareType(cfg)
	if err != nil {
		return nil, 0, err
	}
	link, ok := linkTypeOf(hatype)
	if !ok {
		return nil, 0, fmt.Errorf("live capture on %s %s: link type ARPHRD %d is not supported", cfg.Interface, where(cfg.NetNS), hatype)
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(cfg.Interface),
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(cfg.BlockSize),
		afpacket.OptNumBlocks(cfg.Blocks),
		afpacket.OptBlockTimeout(cfg.BlockTimeout),
		afpacket.OptPollTimeout(cfg.PollTimeout),
		// The kernel strips 802.1Q tags into the frame's metadata; put
		// them back so decoders see the frame as it was on the wire.
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, 0, &PrivilegeError{Op: "open AF_PACKET socket", Interface: cfg.Interface,
				NetNS: cfg.NetNS, Capability: "CAP_NET_RAW", Err: err}
		}
		return nil, 0, fmt.Errorf("live capture on %s %s: open AF_PACKET socket: %w", cfg.Interface, where(cfg.NetNS), err)
	}
	fail := func(what string, err error) (*afpacket.TPacket, capture.LinkType, error) {
		tp.Close()
		return nil, 0, fmt.Errorf("live capture on %s %s: %s: %w", cfg.Interface, where(cfg.NetNS), what, err)
	}
	// AF_PACKET has no snap length of its own: a socket filter's return
	// value is what the kernel keeps of each frame (libpcap does the same).
	prog := []bpf.Instruction{bpf.RetConstant{Val: uint32(cfg.Snaplen)}}
	if cfg.Filter != "" {
		if prog, err = capfilter.Compile(cfg.Filter, link, uint32(cfg.Snaplen)); err != nil {
			return fail("compile filter", err)
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fail("assemble filter", err)
	}
	if f := cfg.Fanout; f != nil {
		// The socket gets every frame of the interface until it is in the
		// group: drop them all until then, so that frames are not seen
		// both here and by the group's other sockets. (A few may have
		// reached the ring since it was set up, before this filter: Next
		// drops those by their timestamps.)
		none, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
		if err := tp.SetBPF(none); err != nil {
			return fail("attach filter", err)
		}
		mode := afpacket.FanoutType(f.Mode)
		if f.Defrag {
			mode |= unix.PACKET_FANOUT_FLAG_DEFRAG
		}
		// gopacket passes the option as a Go int (8 bytes), which kernels
		// since 5.12 read as struct fanout_args {id, type_flags,
		// max_num_members = 0: the default}; older ones refuse it.
		if err := tp.SetFanout(mode, f.Group); err != nil {
			return fail(fmt.Sprintf("join fanout group %d (%v)", f.Group, f.Mode), err)
		}
	}
	if err := tp.SetBPF(raw); err != nil {
		return fail("attach filter", err)
	}
	if cfg.Promiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			return fail("enable promiscuous mode", err)
		}
	}
	return tp, link, nil
}

// hardwareType returns the interface's ARPHRD_ type, asking the kernel
// through a socket of the current namespace (sysfs would show the
// namespace sysfs was mounted from, not the thread's).
func hardwareType(cfg Config) (uint16, error) {
	ifr, err := unix.NewIfreq(cfg.Interface)
	if err != nil {
		return 0, fmt.Errorf("live capture on %q: %w", cfg.Interface, err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("live capture on %s %s: socket for interface lookup: %w", cfg.Interface, where(cfg.NetNS), err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("live capture: interface %q %s: %w", cfg.Interface, where(cfg.NetNS), ErrNoInterface)
		}
		return 0, fmt.Errorf("live capture on %s %s: interface lookup: %w", cfg.Interface, where(cfg.NetNS), err)
	}
	// The result is a sockaddr whose family field is the ARPHRD_ type.
	return ifr.Uint16(), nil
}

// linkTypeOf maps an ARPHRD_ type to what a SOCK_RAW packet socket
// delivers on it, as libpcap does.
func linkTypeOf(hatype uint16) (capture.LinkType, bool) {
	switch hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return capture.LinkEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_SIT:
		// tun, WireGuard, IP-in-IP: frames start at the IP header.
		return capture.LinkRaw, true
	}
	return 0, false
}

// inNamespace runs open on a thread switched into cfg.NetNS. A socket keeps
// the namespace it was created in, so the switch is only for the opening.
func inNamespace(cfg Config, open func() error) error {
	target, err := netns.GetFromPath(cfg.NetNS)
	if err != nil {
		return fmt.Errorf("live capture on %s: open network namespace %s: %w", cfg.Interface, cfg.NetNS, err)
	}
	defer target.Close()
	// A goroutine of its own, not the caller's: if the thread cannot be
	// switched back, the goroutine must exit with the thread still
	// locked, and only then does the runtime discard the thread instead
	// of running other goroutines in the wrong namespace.
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err, restored := switchAndRun(cfg, target, open)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// switchAndRun switches the locked thread into target, runs open and
// switches back. restored reports whether the thread is back in the
// namespace it started in.
func switchAndRun(cfg Config, target netns.NsHandle, open func() error) (err error, restored bool) {
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("live capture on %s: open the current network namespace: %w", cfg.Interface, err), true
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		// A failed setns leaves the thread where it was.
		switch {
		case errors.Is(err, unix.EPERM):
			return &PrivilegeError{Op: "setns", Interface: cfg.Interface, NetNS: cfg.NetNS,
				Capability: "CAP_SYS_ADMIN", Err: err}, true
		case errors.Is(err, unix.EINVAL):
			return fmt.Errorf("live capture on %s: %s is not a network namespace: %w", cfg.Interface, cfg.NetNS, err), true
		}
		return fmt.Errorf("live capture on %s: enter network namespace %s: %w", cfg.Interface, cfg.NetNS, err), true
	}
	err = open()
	if rerr := netns.Set(orig); rerr != nil {
		// The socket, if open, is good: it belongs to the target
		// namespace whatever this thread does. The thread is not, and
		// dies with its goroutine.
		return err, false
	}
	return err, true
}

// Next fills p with the next packet. p.Data points into the ring and is
// valid until the next call to Next or Close. Next returns
// capture.ErrTimeout when no packet came within the poll timeout, and an
// error wrapping net.ErrClosed once Close has been called. Any other error
// (the interface went down or away) ends the capture.
func (s *Source) Next(p *capture.Packet) error {
	for {
		err := s.next(p)
		if err != nil || !s.screening {
			return err
		}
		if !s.screen(p.Timestamp, time.Since(s.readyAt)) {
			return nil
		}
		s.early.Add(1)
	}
}

// screen decides on a frame read while screening, sinceReady after the
// socket was ready: drop it, as it reached the ring before the socket was
// ready (the ring is set up before the filter is attached and before the
// socket joins its fanout group, so it may be one the filter rejects, or
// another socket's), or keep it and stop screening.
func (s *Source) screen(ts int64, sinceReady time.Duration) (drop bool) {
	if ts < s.ready && sinceReady < screenLimit {
		return true
	}
	s.screening = false
	return false
}

// screenLimit ends the screening even if no frame stamped since the socket
// was ready comes: the clock was stepped back. Frames that reached the ring
// unfiltered are read well before it.
const screenLimit = time.Second

func (s *Source) next(p *capture.Packet) error {
	// Stored before closing is read, and Close stores closing before it
	// reads the state: either this call sees closing, or Close sees the
	// call and waits for it (Go's atomics are sequentially consistent).
	s.state.Store(stateReading)
	if s.closing.Load() {
		s.state.Store(stateIdle)
		s.teardown() // Close may have left it to the reader
		return s.errClosed
	}
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if err != nil {
		s.state.Store(stateIdle)
		switch {
		case s.closing.Load():
			return s.errClosed
		case err == afpacket.ErrTimeout:
			return capture.ErrTimeout
		case err == afpacket.ErrPoll:
			return fmt.Errorf("live capture on %s: socket error (interface down or removed): %w", s.name, err)
		}
		return fmt.Errorf("live capture on %s: %w", s.name, err)
	}
	if s.closing.Load() {
		// Close is waiting: hand it the ring rather than a packet that
		// would be unmapped under the caller.
		s.state.Store(stateIdle)
		return s.errClosed
	}
	s.state.Store(stateHolding)
	p.Timestamp = ci.Timestamp.UnixNano()
	p.Data = data
	p.OrigLen = ci.Length
	p.LinkType = s.link
	p.Interface = 0
	return nil
}

// Close stops the capture and releases the socket and its ring. It is safe
// to call more than once and from any goroutine: a Next blocked in another
// goroutine returns an error wrapping net.ErrClosed within the poll
// timeout. Because the ring is unmapped, Close waits for a running Next to
// return, and, when the reader holds a packet, for it to call Next again
// (for at most the poll timeout: a reader that closes its own source after
// a packet pays that wait once).
func (s *Source) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	grace := time.Now().Add(s.cfg.PollTimeout)
	for {
		st := s.state.Load()
		if st == stateIdle || (st == stateHolding && time.Now().After(grace)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if s.state.Load() == stateHolding {
		// The reader still works on a packet in the ring (it may be
		// waiting for a lock the caller holds). Unmapping now would pull
		// the memory from under it, so its next Next tears down instead.
		return nil
	}
	return s.teardown()
}

// teardown closes the socket and unmaps the ring, once, after reading the
// final counters.
func (s *Source) teardown() error {
	s.teardownOnce.Do(func() {
		s.statsMu.Lock()
		err := s.updateStats()
		s.tp.Close()
		s.gone = true
		s.statsMu.Unlock()
		close(s.released)
		if err != nil {
			// The socket is closed all the same; only the final counters
			// are missing.
			s.teardownErr = fmt.Errorf("live capture on %s: final statistics: %w", s.name, err)
		}
	})
	return s.teardownErr
}

// Stats returns the kernel's counters for the socket since Open; after
// Close, the counters it had when closed.
func (s *Source) Stats() (Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.gone {
		return s.stats, nil
	}
	if err := s.updateStats(); err != nil {
		return s.stats, fmt.Errorf("live capture on %s: statistics: %w", s.name, err)
	}
	return s.stats, nil
}

// updateStats folds afpacket's 32-bit cumulative counters into the 64-bit
// totals: differences of wrapping counters are right as long as Stats is
// read at least once every 2^32 packets. Called with statsMu held.
func (s *Source) updateStats() error {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return err
	}
	p, d, f := uint32(v3.Packets()), uint32(v3.Drops()), uint32(v3.QueueFreezes())
	s.stats.Packets += uint64(p - s.lastPackets)
	s.stats.Drops += uint64(d - s.lastDrops)
	s.stats.FreezeQueueCount += uint64(f - s.lastFreezes)
	s.lastPackets, s.lastDrops, s.lastFreezes = p, d, f
	s.stats.Early = s.early.Load()
	return nil
}

// Name is the interface, with the namespace when it is not the current one.
func (s *Source) Name() string { return s.name }

// InterfaceName returns the interface for index 0, the only one.
func (s *Source) InterfaceName(i int) string {
	if i == 0 {
		return s.cfg.Interface
	}
	return ""
}
