// Package respond cuts a container off the network and puts it back:
// the containment response of `outflow isolate`, `outflow release` and
// `outflow sense --respond isolate`.
//
// A bridged container is isolated by setting the host-side end of its veth
// pair(s) down: its namespace keeps its addresses and routes, but nothing
// crosses to the bridge, while its neighbours on the bridge carry on. A
// host-network container shares the host's interfaces, and cutting those
// would cut the host, so it is paused through the runtime's API (its
// processes are frozen; its sockets stay open but nothing is sent).
//
// Every isolation writes a record of exactly what it changed (which links
// were up and set down, whether the container was running and was paused)
// in a state file per container, written before the response returns;
// release restores that and nothing else, then deletes the record. Both are
// idempotent. Nothing is done to a container that is not identified with
// certainty: an ambiguous name or ID prefix, a container not running, a
// veth that is not found or no longer the one discovery mapped, all refuse
// with an error.
package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"outflow/capture/container"
	"outflow/detect/statefile"
)

// Actions and methods, as written in event.action and
// outflow.response.method.
const (
	ActionIsolate = "isolate"
	ActionRelease = "release"

	MethodLinkDown = "link-down" // host-side veth(s) set down
	MethodPause    = "pause"     // frozen through the runtime API
)

// recordKind and recordVersion head the isolation records.
const (
	recordKind    = "isolation"
	recordVersion = 1
)

// ErrRefused marks a response not made because the container is not
// identified with certainty, or cannot be cut off safely.
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
}

// LinkInfo is a host network link as the responder checks it.
type LinkInfo struct {
	Name  string
	Index int
	Veth  bool
	Up    bool // administratively up (IFF_UP)
}

// Links reads and sets host links (netlink on Linux; tests use a fake).
type Links interface {
	Link(index int) (LinkInfo, error)
	SetUp(index int) error
	SetDown(index int) error
}

// ErrNoLink is what Links.Link returns (wrapped) for an index that no link
// has.
var ErrNoLink = errors.New("no such link")

// Runtime pauses and resumes containers (the Docker Engine API).
type Runtime interface {
	State(ctx context.Context, id string) (running, paused bool, err error)
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
}

// Responder isolates and releases containers.
type Responder struct {
	// Dir holds the isolation records, one state file per container.
	Dir   string
	Links Links
	// Runtime pauses host-network containers; nil: they cannot be
	// isolated.
	Runtime Runtime
	// Now is the clock for records and events (default time.Now).
	Now func() time.Time
}

// Record is what an isolation changed, kept until its release.
type Record struct {
	ContainerID string     `json:"container_id"`
	Name        string     `json:"name,omitempty"`
	Image       string     `json:"image,omitempty"`
	Method      string     `json:"method"`
	Links       []LinkInfo `json:"links,omitempty"` // set down by the isolation (they were up)
	Paused      bool       `json:"paused,omitempty"`
	AlertID     string     `json:"alert_id,omitempty"`
	Time        time.Time  `json:"time"`
}

// Result is what one action did; Event writes it as an ECS event.
type Result struct {
	Action    string
	Method    string
	Container *container.Container
	Changed   bool     // something was changed (false: it was already so)
	Links     []string // the links set down or up
	Note      string   // why nothing changed, or what to know
	// AlsoAffected names other containers sharing the network namespace:
	// cut off (or restored) with it.
	AlsoAffected []string
	AlertID      string
	Rule         string // the triggering alert's rule.name, when known
	Target       string // what the operator named, when no container was identified
	Err          error  // set on failure (the error the call returned)
	Time         time.Time
}

func (r *Responder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Responder) recordPath(id string) string {
	return filepath.Join(r.Dir, id+".state")
}

// loadRecord reads a container's record; nil when there is none.
func (r *Responder) loadRecord(id string) (*Record, error) {
	if !isHexID(id) {
		return nil, refuse("%q is not a full container ID", id)
	}
	body, err := statefile.Read(r.recordPath(id), recordKind, recordVersion)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("isolation record: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(body, &rec); err != nil || rec.ContainerID != id {
		return nil, fmt.Errorf("isolation record %s: %w: not the record of this container", r.recordPath(id), statefile.ErrCorrupt)
	}
	return &rec, nil
}

func (r *Responder) saveRecord(rec *Record) error {
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("isolation record: %w", err)
	}
	body, _ := json.Marshal(rec)
	return statefile.Write(r.recordPath(rec.ContainerID), recordKind, recordVersion, body)
}

// Records lists the isolation records in Dir (for release of a container
// that is gone).
func (r *Responder) Records() ([]*Record, error) {
	ents, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("isolation records: %w", err)
	}
	var out []*Record
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".state")
		if !ok || !isHexID(id) {
			continue
		}
		rec, err := r.loadRecord(id)
		if err != nil || rec == nil {
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// sharing names the other running containers in c's network namespace.
func sharing(c *container.Container, all []*container.Container) []string {
	if c.NetNS == 0 || c.HostNetwork {
		return nil
	}
	var out []string
	for _, o := range all {
		if o.ID != c.ID && o.Running() && o.NetNS == c.NetNS {
			out = append(out, displayName(o))
		}
	}
	slices.Sort(out)
	return out
}

func displayName(c *container.Container) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ShortID()
}

// Isolate cuts c off the network. all is every container discovery knows
// (to name those sharing c's namespace). alertID is the triggering alert,
// if any. It returns the Result also when it fails (with Err set), so that
// the failure is written as an event too.
func (r *Responder) Isolate(ctx context.Context, c *container.Container, all []*container.Container, alertID string) (*Result, error) {
	res := &Result{Action: ActionIsolate, Container: c, AlertID: alertID, Time: r.now()}
	err := r.isolate(ctx, c, all, res)
	res.Err = err
	return res, err
}

func (r *Responder) isolate(ctx context.Context, c *container.Container, all []*container.Container, res *Result) error {
	if c == nil {
		return refuse("no container")
	}
	if !c.Running() {
		return refuse("container %s has exited", displayName(c))
	}
	rec, err := r.loadRecord(c.ID)
	if err != nil {
		return err
	}
	if c.HostNetwork {
		res.Method = MethodPause
		res.Note = "host-network container: its interfaces are the host's, so it is paused instead of cut off"
		return r.isolatePause(ctx, c, rec, res)
	}
	res.Method = MethodLinkDown
	if c.NetworkMode == "none" {
		return refuse("container %s has no network (--network=none)", displayName(c))
	}
	if len(c.HostIfaces) == 0 {
		return refuse("container %s: no host-side veth found (macvlan or ipvlan network, or not mapped yet); nothing can be set down safely", displayName(c))
	}
	res.AlsoAffected = sharing(c, all)
	if rec != nil && rec.Method != MethodLinkDown {
		return fmt.Errorf("isolation record of %s says %s, but the container is bridged now; release it first", displayName(c), rec.Method)
	}
	// Check every link before touching any: all or nothing.
	var up []LinkInfo
	for _, hi := range c.HostIfaces {
		li, err := r.Links.Link(hi.Index)
		if err != nil {
			return refuse("container %s: veth %s (index %d): %v", displayName(c), hi.Name, hi.Index, err)
		}
		if li.Name != hi.Name || !li.Veth {
			return refuse("container %s: interface %d is now %q (veth %v), not the veth %s discovery mapped", displayName(c), hi.Index, li.Name, li.Veth, hi.Name)
		}
		if li.Up {
			up = append(up, li)
		}
	}
	if rec == nil {
		if len(up) == 0 {
			res.Note = "its veths were already down (not by outflow); nothing changed"
			return nil
		}
		rec = &Record{ContainerID: c.ID, Name: c.Name, Image: c.Image, Method: MethodLinkDown, AlertID: res.AlertID, Time: res.Time}
	} else if len(up) == 0 {
		res.Note = "already isolated"
		for _, l := range rec.Links {
			res.Links = append(res.Links, l.Name)
		}
		return nil
	}
	// Record before changing, with every link this call will set down, so
	// that a crash in between leaves a record release can act on (setting
	// up a link that is up is harmless).
	for _, li := range up {
		if !slices.ContainsFunc(rec.Links, func(x LinkInfo) bool { return x.Index == li.Index && x.Name == li.Name }) {
			rec.Links = append(rec.Links, LinkInfo{Name: li.Name, Index: li.Index, Veth: true})
		}
	}
	if err := r.saveRecord(rec); err != nil {
		return err
	}
	for _, li := range up {
		if err := r.Links.SetDown(li.Index); err != nil {
			return fmt.Errorf("set %s down: %w (the record keeps what was changed; release restores it)", li.Name, err)
		}
		res.Links = append(res.Links, li.Name)
	}
	res.Changed = true
	return nil
}

func (r *Responder) isolatePause(ctx context.Context, c *container.Container, rec *Record, res *Result) error {
	if r.Runtime == nil || c.Runtime != container.RuntimeDocker {
		return refuse("host-network container %s cannot be cut off without cutting the host, and pausing it needs the Docker API (runtime %q)", displayName(c), c.Runtime)
	}
	if rec != nil && rec.Method != MethodPause {
		return fmt.Errorf("isolation record of %s says %s, but the container is host-network now; release it first", displayName(c), rec.Method)
	}
	running, paused, err := r.Runtime.State(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("container %s: %w", displayName(c), err)
	}
	if !running {
		return refuse("container %s is not running", displayName(c))
	}
	if paused {
		if rec != nil {
			res.Note = "already isolated (paused)"
		} else {
			res.Note = "already paused (not by outflow); nothing changed"
		}
		return nil
	}
	if rec == nil {
		rec = &Record{ContainerID: c.ID, Name: c.Name, Image: c.Image, Method: MethodPause, AlertID: res.AlertID, Time: res.Time}
	}
	rec.Paused = true
	if err := r.saveRecord(rec); err != nil {
		return err
	}
	if err := r.Runtime.Pause(ctx, c.ID); err != nil {
		return fmt.Errorf("pause %s: %w (the record keeps what was changed; release restores it)", displayName(c), err)
	}
	res.Changed = true
	return nil
}

// Release restores what the isolation of c changed. c may be a container
// that is gone (exited or removed), known only from its record: its record
// is then dropped, there being nothing left to restore.
func (r *Responder) Release(ctx context.Context, c *container.Container, all []*container.Container, alertID string) (*Result, error) {
	res := &Result{Action: ActionRelease, Container: c, AlertID: alertID, Time: r.now()}
	err := r.release(ctx, c, all, res)
	res.Err = err
	return res, err
}

func (r *Responder) release(ctx context.Context, c *container.Container, all []*container.Container, res *Result) error {
	if c == nil {
		return refuse("no container")
	}
	rec, err := r.loadRecord(c.ID)
	if err != nil {
		return err
	}
	if rec == nil {
		res.Note = "not isolated by outflow: nothing to restore"
		if c.HostNetwork {
			res.Method = MethodPause
		} else {
			res.Method = MethodLinkDown
		}
		return nil
	}
	res.Method = rec.Method
	if res.AlertID == "" {
		res.AlertID = rec.AlertID
	}
	if !c.Running() {
		res.Note = "the container is gone; its isolation record is removed"
		return r.dropRecord(c.ID)
	}
	switch rec.Method {
	case MethodPause:
		if rec.Paused {
			if r.Runtime == nil {
				return refuse("container %s was paused, and resuming it needs the Docker API", displayName(c))
			}
			_, paused, err := r.Runtime.State(ctx, c.ID)
			if err != nil {
				return fmt.Errorf("container %s: %w", displayName(c), err)
			}
			if paused {
				if err := r.Runtime.Unpause(ctx, c.ID); err != nil {
					return fmt.Errorf("unpause %s: %w", displayName(c), err)
				}
				res.Changed = true
			} else {
				res.Note = "already resumed (not by outflow)"
			}
		}
	case MethodLinkDown:
		res.AlsoAffected = sharing(c, all)
		var todo []LinkInfo
		for _, l := range rec.Links {
			li, err := r.Links.Link(l.Index)
			if errors.Is(err, ErrNoLink) {
				continue // gone with its namespace: nothing to restore
			}
			if err != nil {
				return fmt.Errorf("container %s: veth %s: %w", displayName(c), l.Name, err)
			}
			if li.Name != l.Name || !li.Veth {
				// The index went to another link: not ours to touch.
				res.Note = fmt.Sprintf("link %d is now %q, not the %s that was set down; left alone", l.Index, li.Name, l.Name)
				continue
			}
			if !li.Up {
				todo = append(todo, li)
			}
		}
		for _, li := range todo {
			if err := r.Links.SetUp(li.Index); err != nil {
				return fmt.Errorf("set %s up: %w (the record is kept; run release again)", li.Name, err)
			}
			res.Links = append(res.Links, li.Name)
			res.Changed = true
		}
		if len(todo) == 0 && res.Note == "" {
			res.Note = "its veths were already up (not by outflow)"
		}
	default:
		return fmt.Errorf("isolation record of %s: %w: unknown method %q", displayName(c), statefile.ErrCorrupt, rec.Method)
	}
	return r.dropRecord(c.ID)
}

func (r *Responder) dropRecord(id string) error {
	if err := os.Remove(r.recordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("isolation record: %w", err)
	}
	return nil
}

// Resolve finds the one container query names: its full ID, its name, or
// an ID prefix of at least 12 characters. Only running containers answer
// names and prefixes; anything that matches more than one container, or
// none, is refused.
func Resolve(all []*container.Container, query string) (*container.Container, error) {
	q := strings.TrimPrefix(strings.TrimSpace(query), "/")
	if q == "" {
		return nil, refuse("empty container name")
	}
	for _, c := range all {
		if c.ID == q {
			return c, nil
		}
	}
	var byName, byPrefix []*container.Container
	for _, c := range all {
		if !c.Running() {
			continue
		}
		if c.Name == q {
			byName = append(byName, c)
		}
		if strings.HasPrefix(c.ID, q) {
			byPrefix = append(byPrefix, c)
		}
	}
	if len(byPrefix) > 0 && len(q) < 12 && len(byName) == 0 {
		return nil, refuse("%q: an ID prefix needs at least 12 characters (the short ID docker ps shows), or give the name", q)
	}
	if len(q) < 12 {
		byPrefix = nil
	}
	cands := append(byName, byPrefix...)
	slices.SortFunc(cands, func(a, b *container.Container) int { return strings.Compare(a.ID, b.ID) })
	cands = slices.CompactFunc(cands, func(a, b *container.Container) bool { return a.ID == b.ID })
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		for _, c := range all {
			if c.Name == q || len(q) >= 12 && strings.HasPrefix(c.ID, q) {
				return nil, refuse("container %s has exited", q)
			}
		}
		return nil, refuse("no running container is named %q or has that ID", q)
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.ShortID() + " (" + c.Name + ")"
	}
	return nil, refuse("%q is ambiguous: it names %s", q, strings.Join(names, ", "))
}
