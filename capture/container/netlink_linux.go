//go:build linux

package container

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netlink source timing.
const (
	// netlinkSettle coalesces the bursts of link notifications a
	// container start makes (veth created, moved, renamed, up).
	netlinkSettle     = 50 * time.Millisecond
	netlinkBackoffMax = 30 * time.Second
	// netlinkQueue is the link update channel's depth.
	netlinkQueue = 256
)

// startNetlink maps the namespaces once (so that New returns with host
// interfaces known, or with the privilege error) and then follows link
// changes and new containers.
func (c *Collection) startNetlink() error {
	if err := c.remapNetlink(); err != nil {
		return err
	}
	c.goRun(c.netlinkLoop)
	return nil
}

// netlinkLoop remaps after link changes in the host namespace and after
// containers appear.
func (c *Collection) netlinkLoop() {
	var settle <-chan time.Time
	backoff := time.Second
	for c.ctx.Err() == nil {
		ch := make(chan netlink.LinkUpdate, netlinkQueue)
		done := make(chan struct{})
		err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				if c.ctx.Err() != nil {
					return // closing: the subscription's socket is being torn down
				}
				c.stats.netlinkErrors.Add(1)
				c.cfg.log.Warn("netlink link updates", "err", err)
			},
		})
		if err != nil {
			c.stats.netlinkErrors.Add(1)
			c.cfg.log.Warn("netlink subscribe", "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, netlinkBackoffMax)
			continue
		}
		subscribed := time.Now()
		// The subscription may have missed changes while it was down.
		settle = time.After(netlinkSettle)
	loop:
		for {
			select {
			case <-c.ctx.Done():
				close(done)
				for range ch { // let the receiver goroutine finish
				}
				return
			case u, ok := <-ch:
				if !ok {
					close(done)
					c.stats.netlinkErrors.Add(1)
					break loop // the socket failed: subscribe again
				}
				if _, veth := u.Link.(*netlink.Veth); veth && settle == nil {
					settle = time.After(netlinkSettle)
				}
			case <-c.kick:
				if settle == nil {
					settle = time.After(netlinkSettle)
				}
			case <-settle:
				settle = nil
				if err := c.remapNetlink(); err != nil {
					c.stats.netlinkErrors.Add(1)
					c.cfg.log.Warn("netlink remap", "err", err)
				}
			}
		}
		if time.Since(subscribed) > netlinkBackoffMax {
			backoff = time.Second // it had been working: no penalty
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, netlinkBackoffMax)
	}
}

// remapNetlink finds, for every running container with a namespace of its
// own, the host-side veth interfaces and the addresses inside it.
func (c *Collection) remapNetlink() error {
	c.stats.netlinkRemaps.Add(1)
	targets := map[uint64]int{} // namespace inode -> a PID in it
	for _, ct := range c.view.Load().all {
		if ct.Running() && !ct.HostNetwork && ct.NetNS != 0 && ct.PID > 0 {
			targets[ct.NetNS] = ct.PID
		}
	}
	hostLinks, err := netlink.LinkList()
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		hostLinks, err = netlink.LinkList()
	}
	if err != nil {
		if isPermission(err) {
			return &PrivilegeError{Op: "list host links", Capability: capNetlink, Err: err}
		}
		return fmt.Errorf("netlink: list host links: %w", err)
	}
	byIndex := make(map[int]netlink.Link, len(hostLinks))
	for _, l := range hostLinks {
		byIndex[l.Attrs().Index] = l
	}
	c.mu.Lock()
	prev := c.st.netByNS
	c.mu.Unlock()
	out := make(map[uint64]netInfo, len(targets))
	var firstErr error
	for ns, pid := range targets {
		ni, err := c.mapNamespace(pid, ns, hostLinks, byIndex)
		if err != nil {
			var pe *PrivilegeError
			if errors.As(err, &pe) {
				return err
			}
			if firstErr == nil {
				firstErr = err
			}
			// Most often the process just exited and its exit is not
			// yet known: keep what the namespace had, so that the
			// container keeps its interfaces when it is marked exited.
			if old, ok := prev[ns]; ok {
				out[ns] = old
			}
			continue
		}
		out[ns] = ni
	}
	c.update(func(st *state, _ time.Time) { st.netByNS = out })
	return firstErr
}

// mapNamespace maps one container namespace. The namespace's ID in the
// host namespace (netnsid, which host-side veths carry as their peer's
// IFLA_LINK_NETNSID) matches the host ends without entering it; entering
// it (setns, CAP_SYS_ADMIN) lists its links, whose IFLA_LINK is the peer's
// host ifindex, and its addresses.
func (c *Collection) mapNamespace(pid int, ns uint64, hostLinks []netlink.Link, byIndex map[int]netlink.Link) (netInfo, error) {
	var ni netInfo
	path := filepath.Join(c.cfg.procRoot, strconv.Itoa(pid), "ns", "net")
	h, err := netns.GetFromPath(path)
	if err != nil {
		if isPermission(err) {
			return ni, &PrivilegeError{Op: "open " + path, Capability: capProc, Err: err}
		}
		return ni, fmt.Errorf("netlink: open %s: %w", path, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil || st.Ino != ns {
		return ni, fmt.Errorf("netlink: %s is no longer namespace %d", path, ns)
	}
	seen := map[int]bool{}
	add := func(l netlink.Link) {
		a := l.Attrs()
		if !seen[a.Index] {
			seen[a.Index] = true
			ni.ifaces = append(ni.ifaces, Iface{Name: a.Name, Index: a.Index})
		}
	}
	nsid, err := netlink.GetNetNsIdByFd(int(h))
	if err == nil && nsid >= 0 {
		for _, l := range hostLinks {
			if _, veth := l.(*netlink.Veth); veth && l.Attrs().NetNsID == nsid {
				add(l)
			}
		}
	}
	nh, err := handleIn(h)
	if err != nil {
		if isPermission(err) {
			return ni, &PrivilegeError{Op: fmt.Sprintf("enter network namespace of PID %d", pid), Capability: capSetns, Err: err}
		}
		return ni, fmt.Errorf("netlink: enter namespace of PID %d: %w", pid, err)
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return ni, fmt.Errorf("netlink: links of PID %d: %w", pid, err)
	}
	for _, l := range links {
		if _, veth := l.(*netlink.Veth); !veth {
			continue
		}
		peer, ok := byIndex[l.Attrs().ParentIndex]
		if !ok {
			continue
		}
		// The index is the peer's in its own namespace: make sure the
		// host link of that index is a veth whose peer is this link.
		if _, veth := peer.(*netlink.Veth); !veth || peer.Attrs().ParentIndex != l.Attrs().Index {
			continue
		}
		if nsid >= 0 && peer.Attrs().NetNsID != nsid {
			continue
		}
		add(peer)
	}
	addrs, err := nh.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return ni, fmt.Errorf("netlink: addresses of PID %d: %w", pid, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		ni.addrs = append(ni.addrs, ip)
	}
	slices.SortFunc(ni.ifaces, func(a, b Iface) int { return a.Index - b.Index })
	slices.SortFunc(ni.addrs, netip.Addr.Compare)
	ni.addrs = slices.Compact(ni.addrs)
	return ni, nil
}

// handleIn opens a netlink handle in a namespace. netlink.NewHandleAt does
// the same but flattens setns's errno into text, and the caller needs
// EPERM to name the missing capability. The work runs on a goroutine of
// its own, locked to its thread: should the thread fail to return to our
// namespace, the goroutine ends still locked and the runtime discards the
// thread rather than reuse it in the wrong namespace.
func handleIn(ns netns.NsHandle) (*netlink.Handle, error) {
	type result struct {
		h   *netlink.Handle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer cur.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if rerr := netns.Set(cur); rerr != nil {
			if h != nil {
				h.Close()
			}
			ch <- result{err: fmt.Errorf("return to own namespace: %w", rerr)}
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- result{h, err}
	}()
	r := <-ch
	return r.h, r.err
}
