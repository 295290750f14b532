//go:build linux

package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Bounds on socket attribution.
const (
	// sockCacheSize bounds each generation of the inode and PID caches.
	sockCacheSize = 1 << 14
	// negativeTTL is how long an inode no process was found to own stays
	// unattributed before another walk may look for it.
	negativeTTL = 2 * time.Second
	// minWalkInterval spaces full /proc walks (as does ten times the last
	// walk's duration): a storm of new flows from host processes then
	// costs one walk, not one per flow.
	minWalkInterval = 250 * time.Millisecond
	// maxWalkPIDs and maxWalkFDs bound one full walk.
	maxWalkPIDs = 1 << 16
	maxWalkFDs  = 1 << 18
	// maxFDsPerPID bounds the descriptors read from one process.
	maxFDsPerPID = 1 << 16
	diagTimeout  = 2 * time.Second
)

// owner is what the inode cache says about a socket: the container ID of
// the process found holding it ("" for a host process), or, when no
// process was found (found false), when that was learned.
type owner struct {
	id    string
	found bool
	at    time.Time
}

// socketResolver maps sockets of the host namespace to the processes,
// and so the containers, that own them.
type socketResolver struct {
	c *Collection

	diagMu sync.Mutex
	diag   *nl.NetlinkSocket // opened on first use, reopened after errors

	mu        sync.Mutex
	inodes    *genCache[uint32, owner]
	pids      *genCache[int, string]
	nextWalk  time.Time // no full walk before then
	privErred bool
}

func newSocketResolver(c *Collection) *socketResolver {
	return &socketResolver{
		c:      c,
		inodes: newGenCache[uint32, owner](sockCacheSize),
		pids:   newGenCache[int, string](sockCacheSize),
	}
}

// resetPIDs forgets cached process answers after a scan: PIDs are reused.
func (s *socketResolver) resetPIDs() {
	s.mu.Lock()
	s.pids.reset()
	s.mu.Unlock()
}

// OwnerOfSocket returns the container whose process owns the TCP or UDP
// (proto 6 or 17) socket with this local and remote address in the
// sensor's network namespace: how packets of host-network containers,
// which carry the host's addresses, are told apart from the host's own.
// local is the endpoint on this host; a TCP connection not yet accepted
// (or in TIME_WAIT) is attributed to its listener's owner.
//
// Cost: one sock_diag request per call (an exact lookup in the kernel's
// socket hash tables: about 4 µs and 13 small allocations, most of them
// the netlink library's). Then a cache hit, or a walk of /proc/PID/fd,
// one readlink per descriptor (about 7 µs each: 6 ms for 800
// descriptors), first over the host-network containers' processes, then
// over every process. Every socket a walk sees is cached (two generations
// of 16 Ki inodes), so one walk answers the following lookups too. Full
// walks are spaced by at least 250 ms and ten times their own duration
// (at most a tenth of a core however many descriptors the host has), and
// stop at 256 Ki descriptors; lookups meanwhile wait for a walk in
// progress. Call it once per new flow, off the per-packet path.
func (c *Collection) OwnerOfSocket(proto uint8, local, remote netip.AddrPort) (*Container, bool) {
	s := c.plat.sock
	if s == nil || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP) || !local.IsValid() {
		return nil, false
	}
	inode, err := s.lookup(proto, local, remote)
	if err == nil && inode == 0 && proto == unix.IPPROTO_TCP {
		inode, err = s.lookup(proto, local, netip.AddrPortFrom(unspecifiedLike(local.Addr()), 0))
	}
	if err != nil || inode == 0 {
		return nil, false
	}
	c.stats.socketLookups.Add(1)
	id, ok := s.ownerOf(inode)
	if !ok || id == "" {
		return nil, false
	}
	return c.ByID(id)
}

// unspecifiedLike returns the unspecified address of a's family.
func unspecifiedLike(a netip.Addr) netip.Addr {
	if a.Unmap().Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// ownerOf returns the container ID of the process owning a socket inode.
func (s *socketResolver) ownerOf(inode uint32) (string, bool) {
	c := s.c
	now := c.cfg.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.inodes.get(inode); ok && (o.found || now.Sub(o.at) < negativeTTL) {
		c.stats.socketCacheHits.Add(1)
		return o.id, true
	}
	// The host-network containers' processes first: they are few, and
	// the sockets asked about are theirs.
	v := c.view.Load()
	walked := map[int]bool{}
	for pid, ct := range v.byPID {
		if ct.HostNetwork && ct.Running() {
			walked[pid] = true
			s.walkPID(pid, ct.ID, nil)
		}
	}
	if o, ok := s.inodes.get(inode); ok && o.found {
		return o.id, true
	}
	if now.Before(s.nextWalk) {
		c.stats.socketWalksSkipped.Add(1)
		return "", false
	}
	start := time.Now()
	s.walkAll(walked)
	s.nextWalk = now.Add(max(minWalkInterval, 10*time.Since(start)))
	if o, ok := s.inodes.get(inode); ok && o.found {
		return o.id, true
	}
	s.inodes.put(inode, owner{at: now})
	return "", false
}

// walkAll reads the descriptors of every process not yet walked and
// caches the owner of every socket found.
func (s *socketResolver) walkAll(walked map[int]bool) {
	c := s.c
	c.stats.socketWalks.Add(1)
	d, err := os.Open(c.cfg.procRoot)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(maxWalkPIDs)
	d.Close()
	budget := maxWalkFDs
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 || walked[pid] {
			continue
		}
		if budget <= 0 {
			c.stats.socketWalkTruncated.Add(1)
			return
		}
		id := "?" // resolved on the first socket, as most processes hold none
		budget -= s.walkPID(pid, "", func() string {
			if id == "?" {
				id, _ = s.containerOfPIDLocked(pid)
			}
			return id
		})
	}
}

// walkPID caches the owner of every socket a process holds: id, or the
// answer of idOf when id is "". It returns how many descriptors it read.
func (s *socketResolver) walkPID(pid int, id string, idOf func() string) int {
	dir := filepath.Join(s.c.cfg.procRoot, strconv.Itoa(pid), "fd")
	d, err := os.Open(dir)
	if err != nil {
		s.notePermission(dir, err)
		return 0
	}
	names, err := d.Readdirnames(maxFDsPerPID)
	d.Close()
	if err != nil && err != io.EOF {
		s.notePermission(dir, err)
	}
	now := s.c.cfg.now()
	for _, fd := range names {
		link, err := os.Readlink(filepath.Join(dir, fd))
		if err != nil {
			continue
		}
		ino, ok := parseNSLink(link, "socket")
		if !ok || ino > 1<<32-1 {
			continue
		}
		owner := owner{id: id, found: true, at: now}
		if id == "" && idOf != nil {
			owner.id = idOf()
		}
		s.inodes.put(uint32(ino), owner)
	}
	return len(names)
}

// notePermission logs, once, that /proc/PID/fd is closed to us.
func (s *socketResolver) notePermission(dir string, err error) {
	if !isPermission(err) || s.privErred {
		return
	}
	s.privErred = true
	pe := &PrivilegeError{Op: "read " + dir, Capability: capProcFD, Err: err}
	s.c.cfg.log.Warn("socket attribution", "err", pe)
}

// containerOfPID returns the container ID of a process ("" for none).
func (s *socketResolver) containerOfPID(pid int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.containerOfPIDLocked(pid)
}

func (s *socketResolver) containerOfPIDLocked(pid int) (string, bool) {
	if id, ok := s.pids.get(pid); ok {
		return id, true
	}
	data, err := readLimited(filepath.Join(s.c.cfg.procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", false
	}
	info, _ := ParseCgroup(data)
	s.pids.put(pid, info.ID)
	return info.ID, true
}

// lookup asks sock_diag for the socket with this local and remote
// address and returns its inode; 0 when there is none (or it has no file,
// as a connection not yet accepted).
//
// This is an exact lookup (a request without NLM_F_DUMP): the kernel looks
// the 4-tuple up in its hash tables as it would for a packet, finding
// dual-stack IPv6 sockets for IPv4 peers and listeners. netlink.SocketGet
// sends a dump filtered only on ports, and gives up on more than one match.
func (s *socketResolver) lookup(proto uint8, local, remote netip.AddrPort) (uint32, error) {
	m, found, err := s.lookupMsg(proto, local, remote)
	if err != nil || !found {
		return 0, err
	}
	return m.inode, nil
}

// tcpListen is TCP_LISTEN in inet_diag_msg's state.
const tcpListen = 10

// HostAccepts reports whether a socket of the host's network namespace
// takes TCP connections from remote to local (a listener on local's port,
// or the connection itself), and whether the connection itself was found
// (being accepted, established or closing). A published port served by the
// runtime's userland proxy has the proxy's listener, and for a while its
// connections; one the kernel forwards to the container (DNAT) without a
// proxy has neither. It finds no owner and walks nothing.
func (c *Collection) HostAccepts(local, remote netip.AddrPort) (accepts, connection bool) {
	s := c.plat.sock
	if s == nil || !local.IsValid() || !remote.IsValid() {
		return false, false
	}
	m, found, err := s.lookupMsg(unix.IPPROTO_TCP, local, remote)
	if err != nil || !found {
		return false, false
	}
	return true, m.state != tcpListen
}

// lookupMsg is lookup's sock_diag exchange; found is false when the
// kernel has no such socket.
func (s *socketResolver) lookupMsg(proto uint8, local, remote netip.AddrPort) (diagMsg, bool, error) {
	req, ok := diagRequest(proto, local, remote)
	if !ok {
		return diagMsg{}, false, nil
	}
	s.diagMu.Lock()
	defer s.diagMu.Unlock()
	if s.diag == nil {
		sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_INET_DIAG)
		if err != nil {
			if isPermission(err) {
				return diagMsg{}, false, &PrivilegeError{Op: "open sock_diag netlink socket", Capability: capNetlink, Err: err}
			}
			return diagMsg{}, false, fmt.Errorf("sock_diag: %w", err)
		}
		tv := unix.NsecToTimeval(diagTimeout.Nanoseconds())
		_ = sock.SetSendTimeout(&tv)
		_ = sock.SetReceiveTimeout(&tv)
		s.diag = sock
	}
	r := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, 0)
	r.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: s.diag}}
	r.AddRawData(req[:])
	msgs, err := r.Execute(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY)
	switch {
	case errors.Is(err, unix.ENOENT):
		return diagMsg{}, false, nil
	case err != nil:
		// The socket may be out of step (a timed-out answer arriving
		// late): start afresh next time.
		s.diag.Close()
		s.diag = nil
		if isPermission(err) {
			return diagMsg{}, false, &PrivilegeError{Op: "sock_diag lookup", Capability: capNetlink, Err: err}
		}
		return diagMsg{}, false, fmt.Errorf("sock_diag: %w", err)
	case len(msgs) == 0:
		return diagMsg{}, false, nil
	}
	m, ok := parseDiagMsg(msgs[0])
	if !ok {
		return diagMsg{}, false, errors.New("sock_diag: short answer")
	}
	if m.sport != local.Port() {
		// Not the socket asked about: never attribute on a mismatch.
		return diagMsg{}, false, fmt.Errorf("sock_diag: asked for local port %d, got %d", local.Port(), m.sport)
	}
	return m, true, nil
}

// inet_diag_req_v2 and inet_diag_msg sizes (linux/inet_diag.h).
const (
	diagReqLen = 56
	diagMsgLen = 72
)

// diagRequest builds an inet_diag_req_v2 for one socket. Both addresses
// must be of one family (IPv4-mapped IPv6 counts as IPv4).
func diagRequest(proto uint8, local, remote netip.AddrPort) ([diagReqLen]byte, bool) {
	var b [diagReqLen]byte
	la, ra := local.Addr().Unmap(), remote.Addr().Unmap()
	if !ra.IsValid() {
		ra = unspecifiedLike(la)
	}
	if la.Is4() != ra.Is4() {
		return b, false
	}
	ne := nl.NativeEndian()
	b[0] = unix.AF_INET6
	if la.Is4() {
		b[0] = unix.AF_INET
	}
	b[1] = proto
	ne.PutUint32(b[4:8], 0xffffffff) // all states
	// inet_diag_sockid, ports and addresses in network order. TCP's exact
	// lookup reads src as the socket's local end; UDP's (udp_dump_one)
	// looks the socket up as for a packet received, src being the peer.
	src, dst := netip.AddrPortFrom(la, local.Port()), netip.AddrPortFrom(ra, remote.Port())
	if proto == unix.IPPROTO_UDP {
		src, dst = dst, src
	}
	binary.BigEndian.PutUint16(b[8:10], src.Port())
	binary.BigEndian.PutUint16(b[10:12], dst.Port())
	putDiagAddr(b[12:28], src.Addr())
	putDiagAddr(b[28:44], dst.Addr())
	ne.PutUint32(b[48:52], nl.TCPDIAG_NOCOOKIE)
	ne.PutUint32(b[52:56], nl.TCPDIAG_NOCOOKIE)
	return b, true
}

func putDiagAddr(dst []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(dst, v[:])
		return
	}
	v := a.As16()
	copy(dst, v[:])
}

// diagMsg is the part of an inet_diag_msg used here.
type diagMsg struct {
	family, state uint8
	sport, dport  uint16
	src, dst      netip.Addr
	uid, inode    uint32
}

// parseDiagMsg parses an inet_diag_msg; ok is false when it is short or
// of an unknown family.
func parseDiagMsg(b []byte) (diagMsg, bool) {
	if len(b) < diagMsgLen {
		return diagMsg{}, false
	}
	m := diagMsg{family: b[0], state: b[1]}
	m.sport = binary.BigEndian.Uint16(b[4:6])
	m.dport = binary.BigEndian.Uint16(b[6:8])
	switch m.family {
	case unix.AF_INET:
		m.src = netip.AddrFrom4([4]byte(b[8:12]))
		m.dst = netip.AddrFrom4([4]byte(b[24:28]))
	case unix.AF_INET6:
		m.src = netip.AddrFrom16([16]byte(b[8:24]))
		m.dst = netip.AddrFrom16([16]byte(b[24:40]))
	default:
		return diagMsg{}, false
	}
	ne := nl.NativeEndian()
	m.uid = ne.Uint32(b[64:68])
	m.inode = ne.Uint32(b[68:72])
	return m, true
}
