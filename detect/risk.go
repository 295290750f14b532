package detect

import (
	"path"
	"strings"
)

// Container risk reasons, as written in outflow.container.risk. Each is a
// way out of the container that the runtime was asked for at start.
const (
	RiskPrivileged    = "privileged"      // --privileged: every capability, every device
	RiskHostRootMount = "host-root-mount" // the host's / mounted (-v /:/host)
	RiskRuntimeSocket = "runtime-socket"  // a container runtime's API socket mounted: the host, by proxy
	RiskHostPID       = "host-pid"        // --pid=host: the host's processes are visible and signalable
)

// riskWeight is how much of a way out each reason is on its own (0..1).
// The socket is the worst: whoever holds it starts a privileged container
// at will. A read-only root mount still gives away every secret on the host.
var riskWeight = map[string]float64{
	RiskRuntimeSocket: 0.9,
	RiskPrivileged:    0.8,
	RiskHostRootMount: 0.8,
	RiskHostPID:       0.5,
}

// runtimeSockets are the API sockets of the container runtimes, and
// runtimeSocketDirs the directories that hold them (mounting /run gives the
// socket away as surely as mounting the socket).
var (
	runtimeSockets = []string{
		"/var/run/docker.sock", "/run/docker.sock",
		"/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
		"/run/crio/crio.sock", "/var/run/crio/crio.sock",
		"/run/podman/podman.sock", "/var/run/podman/podman.sock",
		"/run/k3s/containerd/containerd.sock",
	}
	runtimeSocketDirs = []string{"/run", "/var/run", "/run/containerd", "/var/run/containerd", "/run/crio", "/var/run/crio", "/run/podman", "/var/run/podman"}
)

// ContainerRisk returns why c is a risky container (RiskPrivileged, ...,
// in that order) and a score in 0..1 combining them as independent ways
// out: 1 - Π(1 - weight).
func ContainerRisk(c *Container) (reasons []string, score float64) {
	if c == nil {
		return nil, 0
	}
	add := func(r string) {
		for _, x := range reasons {
			if x == r {
				return
			}
		}
		reasons = append(reasons, r)
	}
	if c.Privileged {
		add(RiskPrivileged)
	}
	for _, m := range c.Mounts {
		src := path.Clean("/" + m.Source)
		switch {
		case src == "/":
			add(RiskHostRootMount)
		case isRuntimeSocket(src):
			add(RiskRuntimeSocket)
		}
	}
	if c.PidMode == "host" {
		add(RiskHostPID)
	}
	keep := 1.0
	for _, r := range reasons {
		keep *= 1 - riskWeight[r]
	}
	return reasons, 1 - keep
}

func isRuntimeSocket(src string) bool {
	for _, s := range runtimeSockets {
		if src == s {
			return true
		}
	}
	for _, d := range runtimeSocketDirs {
		if src == d {
			return true
		}
	}
	// Sockets of runtimes installed elsewhere (rootless Docker keeps it
	// in $XDG_RUNTIME_DIR).
	return strings.HasSuffix(src, "/docker.sock") || strings.HasSuffix(src, "/containerd.sock") ||
		strings.HasSuffix(src, "/crio.sock") || strings.HasSuffix(src, "/podman.sock")
}
