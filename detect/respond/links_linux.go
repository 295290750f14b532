//go:build linux

package respond

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// Netlink is Links on the host's network namespace.
type Netlink struct{}

// Link reads one link by index.
func (Netlink) Link(index int) (LinkInfo, error) {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		var le netlink.LinkNotFoundError
		if errors.As(err, &le) {
			return LinkInfo{}, fmt.Errorf("link %d: %w", index, ErrNoLink)
		}
		return LinkInfo{}, fmt.Errorf("link %d: %w", index, err)
	}
	a := l.Attrs()
	_, veth := l.(*netlink.Veth)
	return LinkInfo{Name: a.Name, Index: a.Index, Veth: veth, Up: a.Flags&net.FlagUp != 0}, nil
}

// SetUp brings a link up.
func (n Netlink) SetUp(index int) error { return n.set(index, true) }

// SetDown takes a link down.
func (n Netlink) SetDown(index int) error { return n.set(index, false) }

func (Netlink) set(index int, up bool) error {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return fmt.Errorf("link %d: %w", index, err)
	}
	if up {
		err = netlink.LinkSetUp(l)
	} else {
		err = netlink.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", l.Attrs().Name, err)
	}
	return nil
}
