//go:build !linux

package container

import (
	"errors"
	"fmt"
	"net/netip"
)

// platform holds the Linux-only parts of a Collection: nothing elsewhere.
type platform struct{}

func (*platform) close() {}

// New fails outside Linux: containers, /proc, network namespaces and
// sock_diag are Linux's.
func New(opts ...Option) (*Collection, error) {
	if _, err := newConfig(opts); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("container discovery: %w", errors.ErrUnsupported)
}

// OwnerOfSocket finds nothing outside Linux.
func (c *Collection) OwnerOfSocket(proto uint8, local, remote netip.AddrPort) (*Container, bool) {
	return nil, false
}

// HostAccepts finds nothing outside Linux.
func (c *Collection) HostAccepts(local, remote netip.AddrPort) (accepts, connection bool) {
	return false, false
}

func (c *Collection) byPIDSlow(int) (*Container, bool) { return nil, false }

func readNetNS(string, int) (uint64, error) {
	return 0, fmt.Errorf("network namespaces: %w", errors.ErrUnsupported)
}
