//go:build !linux

package live

import (
	"errors"
	"testing"
)

func TestOpenNeedsLinux(t *testing.T) {
	s, err := Open(Config{Interface: "eth0"})
	if s != nil || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Open = %v, %v; want nil and ErrNotSupported", s, err)
	}
}
