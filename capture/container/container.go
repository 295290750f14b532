// Package container discovers the containers running on the sensor's host
// and answers, from the packet path, which container a packet belongs to:
// by network namespace, by host-side veth interface, by bridged address, by
// process, or (for host-network containers, which share the host's
// addresses) by the socket that carries the flow.
//
// A Collection merges several discovery sources, each chosen with an Option
// passed to New, in the style of inspektor-gadget's container collection:
//
//   - /proc (always on; WithProcRoot moves it): every process's cgroup names
//     its container (Docker, containerd/Kubernetes, CRI-O, Podman; cgroup v1
//     and v2 path forms), its /proc/PID/ns/net link the network namespace.
//   - WithDocker: the Docker Engine API for names, images, labels, network
//     mode, ports, addresses, and its event stream to follow starts and exits.
//   - WithNetlink: the host-side veth peer of each container namespace, and
//     the addresses inside it, followed through link notifications.
//   - WithRescan: how often /proc is scanned again.
//
// Lookups read an immutable index published through an atomic pointer: they
// take no lock and allocate nothing, so packet goroutines may call them
// freely. Containers handed out are never modified afterwards; an update
// publishes a new *Container.
package container

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Runtimes named in Container.Runtime.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
)

// Container is what the sensor knows about one container. Values handed out
// by a Collection are shared and must be treated as read-only.
type Container struct {
	// ID is the runtime's full container ID (64 hex digits for every
	// runtime discovered here).
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Image   string `json:"image,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	// PID is the container's init process in the sensor's PID namespace.
	PID int `json:"pid,omitempty"`
	// NetNS is the inode of /proc/PID/ns/net: containers with the same
	// NetNS share one network stack (a Kubernetes pod, --network
	// container:ID).
	NetNS uint64 `json:"netns,omitempty"`
	// NetworkMode is "bridge", "host", "none", "container:<id>" or a Docker
	// network's name; "host" or "" when only /proc saw the container.
	NetworkMode string `json:"network_mode,omitempty"`
	// HostNetwork is set when the container shares the host's network
	// namespace: its packets carry host addresses, and only its sockets
	// (OwnerOfSocket) tell it apart from the host.
	HostNetwork bool              `json:"host_network"`
	Labels      map[string]string `json:"labels,omitempty"`
	Pod         Pod               `json:"pod,omitzero"`
	Ports       []PublishedPort   `json:"ports,omitempty"`
	// Addrs are the container's own addresses (empty for host-network
	// containers, whose addresses are the host's).
	Addrs []netip.Addr `json:"addrs,omitempty"`
	// HostIfaces are the host-side ends of the container's veth pairs.
	HostIfaces []Iface   `json:"host_ifaces,omitempty"`
	Privileged bool      `json:"privileged,omitempty"`
	Mounts     []Mount   `json:"mounts,omitempty"`
	PidMode    string    `json:"pid_mode,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	// Exited is when the container was seen to exit; zero while it runs.
	// An exited container keeps the network identity it had when it ran.
	Exited time.Time `json:"exited,omitzero"`
}

// ShortID is the 12-character form of the ID that docker ps shows.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// Running reports whether the container has not been seen to exit.
func (c *Container) Running() bool { return c.Exited.IsZero() }

// Pod is the Kubernetes pod a container belongs to, from the
// io.kubernetes.pod.* labels (the UID also from the kubepods cgroup path).
type Pod struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	UID       string `json:"uid,omitempty"`
}

// PublishedPort is a container port published on the host.
type PublishedPort struct {
	HostIP        netip.Addr `json:"host_ip,omitzero"`
	HostPort      uint16     `json:"host_port"`
	ContainerPort uint16     `json:"container_port"`
	Proto         string     `json:"proto"`
}

// Iface is a network interface in the host's namespace.
type Iface struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// Mount is a filesystem mounted into the container.
type Mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// EventType says what happened to a container.
type EventType uint8

// Event types.
const (
	Added EventType = iota + 1
	Updated
	Removed
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event tells a subscriber about a container that appeared, changed (an
// exit is an update that sets Exited) or was dropped after its grace period.
type Event struct {
	Type      EventType
	Container *Container
}

// PrivilegeError is a discovery step the kernel refused for lack of a
// capability. It names the capability so that an operator can grant it.
type PrivilegeError struct {
	Op         string // what was attempted, e.g. "read /proc/42/ns/net"
	Capability string // e.g. "CAP_SYS_PTRACE"
	Err        error
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%s: %v (the sensor needs %s)", e.Op, e.Err, e.Capability)
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// Capabilities named in PrivilegeErrors.
const (
	// Reading another process's /proc/PID/ns/* links and /proc/PID/fd/*
	// entries is a ptrace read-access check; listing /proc/PID/fd of
	// another user's process also needs the directory search permission.
	capProc    = "CAP_SYS_PTRACE"
	capProcFD  = "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
	capSetns   = "CAP_SYS_ADMIN"
	capNetlink = "CAP_NET_ADMIN"
)

// Defaults.
const (
	DefaultProcRoot = "/proc"
	DefaultRescan   = 5 * time.Second
	// DefaultGrace is how long an exited container stays in the
	// collection: packets captured before the exit are still in flight
	// through the pipeline, and open flows are reported (with the
	// container's name) when they time out, after the container is gone.
	DefaultGrace = 2 * time.Minute
	// DefaultDockerSocket is where the Docker Engine listens.
	DefaultDockerSocket = "/var/run/docker.sock"
)

// Option chooses a discovery source or a setting for New.
type Option func(*config)

type config struct {
	procRoot     string
	dockerSocket string
	netlink      bool
	rescan       time.Duration
	grace        time.Duration
	log          *slog.Logger
	now          func() time.Time
}

// WithProcRoot scans dir instead of /proc. The scanner reads only file
// contents and symlink texts (never stat), so a tree of plain files and
// symlinks stands in for /proc in tests.
func WithProcRoot(dir string) Option { return func(c *config) { c.procRoot = dir } }

// WithDocker adds the Docker Engine API listening on socketPath (a unix
// socket) as a source, and follows its event stream.
func WithDocker(socketPath string) Option {
	return func(c *config) { c.dockerSocket = socketPath }
}

// WithNetlink maps each container's network namespace to its host-side
// veth interfaces and addresses, and follows link changes. It needs
// CAP_SYS_ADMIN (to enter the namespaces) and CAP_NET_ADMIN.
func WithNetlink() Option { return func(c *config) { c.netlink = true } }

// WithRescan sets how often /proc is scanned again (default 5 s); the
// scan finds containers no other source reports and processes that exited.
func WithRescan(interval time.Duration) Option {
	return func(c *config) { c.rescan = interval }
}

// WithGrace sets how long exited containers are kept (default 2 min).
func WithGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithLogger receives the errors of background sources (a Docker stream
// that dropped, a netlink update that failed); they are discarded otherwise.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

func newConfig(opts []Option) (config, error) {
	cfg := config{procRoot: DefaultProcRoot, rescan: DefaultRescan, grace: DefaultGrace, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.procRoot == "" {
		return cfg, errors.New("container: empty proc root")
	}
	if cfg.rescan <= 0 {
		return cfg, fmt.Errorf("container: rescan interval %v: must be positive", cfg.rescan)
	}
	if cfg.grace < 0 {
		return cfg, fmt.Errorf("container: grace period %v: must not be negative", cfg.grace)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
