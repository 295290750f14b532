//go:build !linux

package live

import (
	"fmt"

	"outflow/capture"
)

// Source is a live capture; only Linux has one.
type Source struct{}

// Open returns an error wrapping ErrNotSupported: AF_PACKET is Linux only.
func Open(cfg Config) (*Source, error) {
	return nil, fmt.Errorf("live capture on %q: %w", cfg.Interface, ErrNotSupported)
}

// Next returns ErrNotSupported.
func (s *Source) Next(p *capture.Packet) error { return ErrNotSupported }

// Name returns "".
func (s *Source) Name() string { return "" }

// InterfaceName returns "".
func (s *Source) InterfaceName(i int) string { return "" }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Stats returns ErrNotSupported.
func (s *Source) Stats() (Stats, error) { return Stats{}, ErrNotSupported }
