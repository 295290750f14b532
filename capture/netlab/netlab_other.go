//go:build !linux

package netlab

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"
)

// Host is one side of a lab.
type Host struct {
	NS     string
	Iface  string
	V4, V6 netip.Addr
}

// Lab is a pair of network namespaces; only Linux has them.
type Lab struct {
	Client, Server Host
}

// New skips the test: network namespaces are Linux only.
func New(t testing.TB) *Lab {
	t.Helper()
	skip(t, "netlab needs Linux network namespaces")
	return nil
}

// Require skips the test: network namespaces are Linux only.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	skip(t, "netlab needs Linux network namespaces")
}

func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd       { return nil }
func (l *Lab) Run(ns, name string, args ...string) []byte              { return nil }
func (l *Lab) Start(ns, name string, args ...string) *exec.Cmd         { return nil }
func (l *Lab) Capture(ns, iface, path string, filter ...string) func() { return func() {} }
func (l *Lab) WaitListen(ns, proto string, port uint16)                {}
func (l *Lab) Output(cmd *exec.Cmd) string                             { return "" }

// Bounds, as on Linux.
const (
	CommandTimeout = 60 * time.Second
	WaitTimeout    = 10 * time.Second
)
