//go:build !linux

package respond

import (
	"errors"
	"fmt"
)

// Netlink is Links on the host's network namespace: Linux only.
type Netlink struct{}

var errUnsupported = fmt.Errorf("network links: %w", errors.ErrUnsupported)

// Link fails outside Linux.
func (Netlink) Link(int) (LinkInfo, error) { return LinkInfo{}, errUnsupported }

// SetUp fails outside Linux.
func (Netlink) SetUp(int) error { return errUnsupported }

// SetDown fails outside Linux.
func (Netlink) SetDown(int) error { return errUnsupported }
