package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// dockerTimeout bounds one Engine API request (a pause freezes a cgroup:
// quick, unless the daemon is stuck).
const dockerTimeout = 15 * time.Second

// Docker is Runtime through the Docker Engine API on a unix socket.
type Docker struct {
	socket string
	hc     *http.Client
}

// NewDocker talks to the Engine listening on socket.
func NewDocker(socket string) *Docker {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    1,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Docker{socket: socket, hc: &http.Client{Transport: tr, Timeout: dockerTimeout}}
}

// errNotFound is the Engine's 404.
var errNotFound = errors.New("no such container")

func (d *Docker) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("docker socket %s: %w", d.socket, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotFound
	case resp.StatusCode/100 != 2:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("docker %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return fmt.Errorf("docker %s %s: decode: %w", method, path, err)
	}
	return nil
}

// State reports whether the container runs and whether it is paused.
func (d *Docker) State(ctx context.Context, id string) (running, paused bool, err error) {
	var in struct {
		ID    string `json:"Id"`
		State struct{ Running, Paused bool }
	}
	if err := d.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", &in); err != nil {
		return false, false, err
	}
	if in.ID != id {
		return false, false, fmt.Errorf("docker inspect %s: answered for %q", id, in.ID)
	}
	return in.State.Running, in.State.Paused, nil
}

// Pause freezes the container's processes.
func (d *Docker) Pause(ctx context.Context, id string) error {
	return d.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/pause", nil)
}

// Unpause resumes them.
func (d *Docker) Unpause(ctx context.Context, id string) error {
	return d.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/unpause", nil)
}
