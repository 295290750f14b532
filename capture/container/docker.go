package container

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds on the Docker Engine API client.
const (
	dockerRequestTimeout = 10 * time.Second
	// dockerMaxBody bounds a list or inspect answer (an inspect is a few
	// KiB; a list of thousands of containers a few MiB).
	dockerMaxBody = 32 << 20
	// dockerMaxEvent bounds one line of the event stream.
	dockerMaxEvent   = 1 << 20
	dockerBackoffMin = 500 * time.Millisecond
	dockerBackoffMax = 30 * time.Second
	// dockerMaxList bounds how many containers one list may return.
	dockerMaxList = 1 << 16
)

// errNoSuchContainer is the Engine's 404 for an inspect.
var errNoSuchContainer = errors.New("no such container")

// dockerClient talks to the Docker Engine API over its unix socket with
// plain net/http. Paths carry no API version: the daemon then answers in
// its own (current) version, whose fields used here have been stable since
// API 1.24.
type dockerClient struct {
	socket string
	hc     *http.Client
}

func newDockerClient(socket string) *dockerClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &dockerClient{socket: socket, hc: &http.Client{Transport: tr}}
}

func (d *dockerClient) close() { d.hc.CloseIdleConnections() }

// get fetches path and decodes its JSON answer into out.
func (d *dockerClient) get(ctx context.Context, path string, out any) error {
	return d.do(ctx, http.MethodGet, path, out)
}

// do sends one request and decodes a JSON answer into out (nil: none).
func (d *dockerClient) do(ctx context.Context, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, dockerRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return d.wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNoSuchContainer
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("docker %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, dockerMaxBody)).Decode(out); err != nil {
		return fmt.Errorf("docker %s %s: decode: %w", method, path, err)
	}
	return nil
}

// ErrNoSuchContainer is the Engine's answer for an unknown container.
var ErrNoSuchContainer = errNoSuchContainer

// DockerControl changes containers' run state through the Docker Engine
// API: what containment needs of the runtime (pausing a host-network
// container, which cannot be cut off the network without the host).
type DockerControl struct{ c *dockerClient }

// NewDockerControl talks to the Engine listening on socket.
func NewDockerControl(socket string) *DockerControl {
	return &DockerControl{newDockerClient(socket)}
}

// State reports whether the container runs and whether it is paused.
func (d *DockerControl) State(ctx context.Context, id string) (running, paused bool, err error) {
	var in struct {
		ID    string `json:"Id"`
		State struct{ Running, Paused bool }
	}
	if err := d.c.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &in); err != nil {
		return false, false, err
	}
	if in.ID != id {
		return false, false, fmt.Errorf("docker inspect %s: answered for %q", id, in.ID)
	}
	return in.State.Running, in.State.Paused, nil
}

// Pause freezes the container's processes.
func (d *DockerControl) Pause(ctx context.Context, id string) error {
	return d.c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/pause", nil)
}

// Unpause resumes them.
func (d *DockerControl) Unpause(ctx context.Context, id string) error {
	return d.c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/unpause", nil)
}

// wrap names the socket in a connection error, and the missing access
// when the socket refused us.
func (d *dockerClient) wrap(err error) error {
	if isPermission(err) {
		return fmt.Errorf("docker socket %s: %w (run as root or in the docker group)", d.socket, err)
	}
	return fmt.Errorf("docker socket %s: %w", d.socket, err)
}

// list returns the IDs of the running containers.
func (d *dockerClient) list(ctx context.Context) ([]string, error) {
	var cs []struct {
		ID string `json:"Id"`
	}
	if err := d.get(ctx, "/containers/json", &cs); err != nil {
		return nil, err
	}
	if len(cs) > dockerMaxList {
		cs = cs[:dockerMaxList]
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.ID != "" {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// dockerInspect is the part of GET /containers/{id}/json used here.
type dockerInspect struct {
	ID    string `json:"Id"`
	Name  string
	Image string
	State struct {
		Running    bool
		Pid        int
		StartedAt  string
		FinishedAt string
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
	HostConfig struct {
		NetworkMode string
		Privileged  bool
		PidMode     string
	}
	Mounts []struct {
		Source      string
		Destination string
		RW          bool
	}
	NetworkSettings struct {
		Ports    map[string][]dockerPortBinding
		Networks map[string]struct {
			IPAddress         string
			GlobalIPv6Address string
		}
	}
}

type dockerPortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// inspect returns what Docker says about one container.
func (d *dockerClient) inspect(ctx context.Context, id string) (*dockerInspect, error) {
	var in dockerInspect
	if err := d.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &in); err != nil {
		return nil, err
	}
	if !isContainerID(in.ID) {
		return nil, fmt.Errorf("docker inspect %s: unexpected ID %q", id, in.ID)
	}
	return &in, nil
}

// dockerEvent is one message of GET /events.
type dockerEvent struct {
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

// events streams container and network events to fn until ctx ends or the
// stream breaks; ready is called once the daemon has accepted the
// subscription, so that a list made after it misses no event.
func (d *dockerClient) events(ctx context.Context, ready func(), fn func(dockerEvent)) error {
	q := url.Values{"filters": {`{"type":["container","network"]}`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return d.wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker GET /events: %s", resp.Status)
	}
	ready()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), dockerMaxEvent)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var ev dockerEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("docker events: decode: %w", err)
		}
		fn(ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("docker events: %w", err)
	}
	return errors.New("docker events: stream ended")
}

// DockerPortBinding is one host binding of a Docker port map
// (NetworkSettings.Ports, HostConfig.PortBindings).
type DockerPortBinding = dockerPortBinding

// PublishedPorts converts a Docker port map ("80/tcp" -> host bindings)
// into published ports, sorted; entries it cannot parse are skipped.
func PublishedPorts(m map[string][]DockerPortBinding) []PublishedPort {
	var ports []PublishedPort
	for spec, bindings := range m {
		portStr, proto, _ := strings.Cut(spec, "/")
		cport, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		if proto == "" {
			proto = "tcp"
		}
		for _, b := range bindings {
			hport, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			hip, _ := netip.ParseAddr(b.HostIP)
			ports = append(ports, PublishedPort{HostIP: hip.Unmap(), HostPort: uint16(hport), ContainerPort: uint16(cport), Proto: proto})
		}
	}
	slices.SortFunc(ports, func(a, b PublishedPort) int {
		if c := strings.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		if a.HostPort != b.HostPort {
			return int(a.HostPort) - int(b.HostPort)
		}
		return a.HostIP.Compare(b.HostIP)
	})
	return ports
}

// dockerInfo is one container as Docker describes it, converted.
type dockerInfo struct {
	name, image, networkMode, pidMode string
	labels                            map[string]string
	privileged, running               bool
	pid                               int
	netNS                             uint64
	started, finished                 time.Time
	ports                             []PublishedPort
	mounts                            []Mount
	addrs                             []netip.Addr
}

// convertInspect turns an inspect answer into a dockerInfo; it never fails:
// fields it cannot parse are left empty.
func convertInspect(in *dockerInspect) *dockerInfo {
	di := &dockerInfo{
		name:        strings.TrimPrefix(in.Name, "/"),
		image:       in.Config.Image,
		networkMode: in.HostConfig.NetworkMode,
		pidMode:     in.HostConfig.PidMode,
		labels:      in.Config.Labels,
		privileged:  in.HostConfig.Privileged,
		running:     in.State.Running,
		pid:         in.State.Pid,
		started:     parseDockerTime(in.State.StartedAt),
		finished:    parseDockerTime(in.State.FinishedAt),
	}
	if di.image == "" {
		di.image = in.Image
	}
	if di.networkMode == "default" {
		// Docker's name for its default network, which is the bridge on Linux.
		di.networkMode = "bridge"
	}
	if di.pid < 0 || !di.running {
		di.pid = 0
	}
	di.ports = PublishedPorts(in.NetworkSettings.Ports)
	for _, m := range in.Mounts {
		di.mounts = append(di.mounts, Mount{Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	for _, n := range in.NetworkSettings.Networks {
		for _, s := range [...]string{n.IPAddress, n.GlobalIPv6Address} {
			if a, err := netip.ParseAddr(s); err == nil {
				di.addrs = append(di.addrs, a.Unmap())
			}
		}
	}
	slices.SortFunc(di.addrs, netip.Addr.Compare)
	di.addrs = slices.Compact(di.addrs)
	return di
}

// parseDockerTime parses Docker's RFC 3339 times; its zero time
// ("0001-01-01T00:00:00Z") and garbage give the zero time.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// dockerSource keeps the collection in step with a Docker daemon.
type dockerSource struct {
	c      *Collection
	client *dockerClient
}

// dockerActions are the container events that change what we know.
var dockerActions = map[string]bool{
	"start": true, "restart": true, "die": true, "stop": true,
	"destroy": true, "rename": true, "update": true, "unpause": true,
}

// startDocker subscribes to the event stream, lists the running containers
// and returns once both are done, so that New returns a complete picture;
// then it follows the stream, resubscribing (and listing again) when the
// daemon goes away.
func (c *Collection) startDocker(socket string) error {
	ds := &dockerSource{c: c, client: newDockerClient(socket)}
	c.docker = ds
	first := make(chan error, 1)
	c.goRun(func() {
		defer ds.client.close()
		backoff := dockerBackoffMin
		firstDone := false
		for c.ctx.Err() == nil {
			synced := false
			err := ds.client.events(c.ctx, func() {
				err := ds.sync(c.ctx)
				if !firstDone {
					first <- err
					firstDone = true
				} else if err != nil {
					c.stats.dockerErrors.Add(1)
					c.cfg.log.Warn("docker resync", "err", err)
				}
				synced = err == nil
			}, ds.handle)
			if c.ctx.Err() != nil {
				break
			}
			if !firstDone {
				first <- err
				return
			}
			c.stats.dockerErrors.Add(1)
			c.cfg.log.Warn("docker source", "err", err)
			if synced {
				backoff = dockerBackoffMin
			}
			select {
			case <-c.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, dockerBackoffMax)
		}
		if !firstDone {
			first <- c.ctx.Err()
		}
	})
	select {
	case err := <-first:
		return err
	case <-time.After(2 * dockerRequestTimeout):
		return fmt.Errorf("docker socket %s: no answer in %v", socket, 2*dockerRequestTimeout)
	}
}

// sync lists the running containers, inspects each, and marks exited the
// Docker containers no longer listed (their events were missed while the
// stream was down).
func (ds *dockerSource) sync(ctx context.Context) error {
	ids, err := ds.client.list(ctx)
	if err != nil {
		return err
	}
	infos := make(map[string]*dockerInfo, len(ids))
	for _, id := range ids {
		info, err := ds.inspect(ctx, id)
		if errors.Is(err, errNoSuchContainer) {
			continue
		}
		if err != nil {
			return err
		}
		infos[id] = info
	}
	ds.c.update(func(st *state, now time.Time) {
		for id, r := range st.recs {
			if r.docker != nil && infos[id] == nil {
				r.markExited(now, now)
			}
		}
		for id, info := range infos {
			setDocker(st, id, info, now)
		}
	})
	return nil
}

// inspect asks Docker about a container and reads its network namespace.
func (ds *dockerSource) inspect(ctx context.Context, id string) (*dockerInfo, error) {
	in, err := ds.client.inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	info := convertInspect(in)
	if info.pid > 0 {
		ns, err := readNetNS(ds.c.cfg.procRoot, info.pid)
		var pe *PrivilegeError
		switch {
		case errors.As(err, &pe):
			return nil, err
		case err == nil:
			info.netNS = ns
		}
		// Otherwise the process is gone (it exited, or lives in another
		// PID namespace): the /proc scan or the next event says more.
	}
	return info, nil
}

// setDocker records what Docker says about a container.
func setDocker(st *state, id string, info *dockerInfo, now time.Time) {
	r := st.recs[id]
	if r == nil {
		r = &record{id: id}
		st.recs[id] = r
	}
	r.docker = info
	if info.running {
		r.markRunning()
	} else {
		r.markExited(info.finished, now)
	}
}

// handle applies one event: any change re-inspects the container, whose
// answer is authoritative; a container Docker no longer knows has exited.
func (ds *dockerSource) handle(ev dockerEvent) {
	ds.c.stats.dockerEvents.Add(1)
	id := ev.Actor.ID
	switch ev.Type {
	case "container":
		action, _, _ := strings.Cut(ev.Action, ":")
		if !dockerActions[action] {
			return
		}
	case "network":
		if ev.Action != "connect" && ev.Action != "disconnect" {
			return
		}
		id = ev.Actor.Attributes["container"]
	default:
		return
	}
	if !isContainerID(id) {
		return
	}
	info, err := ds.inspect(ds.c.ctx, id)
	switch {
	case errors.Is(err, errNoSuchContainer):
		var at time.Time
		if ev.TimeNano > 0 {
			at = time.Unix(0, ev.TimeNano)
		}
		ds.c.update(func(st *state, now time.Time) {
			if r := st.recs[id]; r != nil {
				r.markExited(at, now)
			}
		})
	case err != nil:
		ds.c.stats.dockerErrors.Add(1)
		ds.c.cfg.log.Warn("docker inspect", "id", id, "err", err)
	default:
		ds.c.update(func(st *state, now time.Time) { setDocker(st, id, info, now) })
	}
}
