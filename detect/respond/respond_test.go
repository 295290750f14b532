package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outflow/capture/container"
	"outflow/flows/ecs"
)

// fakeLinks is a host's links, with a log of every change.
type fakeLinks struct {
	links   map[int]*LinkInfo
	changes []string
	failSet bool
}

func (f *fakeLinks) Link(i int) (LinkInfo, error) {
	l, ok := f.links[i]
	if !ok {
		return LinkInfo{}, fmt.Errorf("link %d: %w", i, ErrNoLink)
	}
	return *l, nil
}

func (f *fakeLinks) set(i int, up bool) error {
	if f.failSet {
		return errors.New("operation not permitted")
	}
	l, ok := f.links[i]
	if !ok {
		return ErrNoLink
	}
	l.Up = up
	f.changes = append(f.changes, fmt.Sprintf("%s up=%v", l.Name, up))
	return nil
}
func (f *fakeLinks) SetUp(i int) error   { return f.set(i, true) }
func (f *fakeLinks) SetDown(i int) error { return f.set(i, false) }

type fakeRuntime struct {
	running, paused map[string]bool
	calls           []string
}

func (f *fakeRuntime) State(_ context.Context, id string) (bool, bool, error) {
	return f.running[id], f.paused[id], nil
}
func (f *fakeRuntime) Pause(_ context.Context, id string) error {
	f.paused[id] = true
	f.calls = append(f.calls, "pause")
	return nil
}
func (f *fakeRuntime) Unpause(_ context.Context, id string) error {
	f.paused[id] = false
	f.calls = append(f.calls, "unpause")
	return nil
}

func id(c byte) string { return strings.Repeat(string(c), 64) }

type world struct {
	r     *Responder
	links *fakeLinks
	rt    *fakeRuntime
	all   []*container.Container
	web   *container.Container // bridged, two veths (one already down by hand)
	pod   *container.Container // shares web's namespace
	agent *container.Container // host network
}

func newWorld(t *testing.T) *world {
	w := &world{
		links: &fakeLinks{links: map[int]*LinkInfo{
			10: {Name: "vethweb0", Index: 10, Veth: true, Up: true},
			11: {Name: "vethweb1", Index: 11, Veth: true, Up: false}, // down before outflow touched it
			20: {Name: "vethdb", Index: 20, Veth: true, Up: true},
			30: {Name: "eth0", Index: 30, Up: true},
		}},
		rt: &fakeRuntime{running: map[string]bool{id('c'): true}, paused: map[string]bool{}},
	}
	w.web = &container.Container{ID: id('a'), Name: "web", Image: "web:1", Runtime: "docker", NetworkMode: "bridge", NetNS: 7,
		HostIfaces: []container.Iface{{Name: "vethweb0", Index: 10}, {Name: "vethweb1", Index: 11}}}
	w.pod = &container.Container{ID: id('b'), Name: "web-sidecar", Runtime: "docker", NetworkMode: "container:" + id('a'), NetNS: 7}
	w.agent = &container.Container{ID: id('c'), Name: "agent", Runtime: "docker", NetworkMode: "host", HostNetwork: true}
	w.all = []*container.Container{w.web, w.pod, w.agent}
	w.r = &Responder{Dir: t.TempDir(), Links: w.links, Runtime: w.rt, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	return w
}

func TestIsolateReleaseBridged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	res, err := w.r.Isolate(ctx, w.web, w.all, "alert-1")
	if err != nil || !res.Changed || res.Method != MethodLinkDown {
		t.Fatalf("isolate: %+v, %v", res, err)
	}
	if strings.Join(w.links.changes, ";") != "vethweb0 up=false" {
		t.Fatalf("changes %v: only the veth that was up goes down", w.links.changes)
	}
	if strings.Join(res.AlsoAffected, ",") != "web-sidecar" {
		t.Errorf("also affected %v", res.AlsoAffected)
	}
	if w.links.links[20].Up != true {
		t.Fatal("a neighbour's veth was touched")
	}
	// Idempotent.
	res, err = w.r.Isolate(ctx, w.web, w.all, "alert-2")
	if err != nil || res.Changed || res.Note != "already isolated" || len(w.links.changes) != 1 {
		t.Fatalf("second isolate: %+v, %v, %v", res, err, w.links.changes)
	}
	// Someone brought it back up: isolate again cuts it again.
	w.links.links[10].Up = true
	if res, err = w.r.Isolate(ctx, w.web, w.all, ""); err != nil || !res.Changed {
		t.Fatalf("re-isolate: %+v, %v", res, err)
	}
	// Release restores exactly what was changed: vethweb1 stays down.
	res, err = w.r.Release(ctx, w.web, w.all, "")
	if err != nil || !res.Changed || strings.Join(res.Links, ",") != "vethweb0" || res.AlertID != "alert-1" {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if !w.links.links[10].Up || w.links.links[11].Up {
		t.Fatalf("after release: web0 up %v, web1 up %v; want true, false", w.links.links[10].Up, w.links.links[11].Up)
	}
	if _, err := os.Stat(filepath.Join(w.r.Dir, id('a')+".state")); !os.IsNotExist(err) {
		t.Fatal("record left after release")
	}
	// Idempotent.
	res, err = w.r.Release(ctx, w.web, w.all, "")
	if err != nil || res.Changed || !strings.Contains(res.Note, "not isolated by outflow") {
		t.Fatalf("second release: %+v, %v", res, err)
	}
}

func TestIsolateReleaseHostNetwork(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	res, err := w.r.Isolate(ctx, w.agent, w.all, "")
	if err != nil || !res.Changed || res.Method != MethodPause || !w.rt.paused[id('c')] || len(w.links.changes) != 0 {
		t.Fatalf("isolate: %+v, %v (links %v)", res, err, w.links.changes)
	}
	if !strings.Contains(res.Message(), "pausing") {
		t.Errorf("the output must say it paused: %q", res.Message())
	}
	if res, _ = w.r.Isolate(ctx, w.agent, w.all, ""); res.Changed {
		t.Fatal("second isolate paused again")
	}
	if res, err = w.r.Release(ctx, w.agent, w.all, ""); err != nil || !res.Changed || w.rt.paused[id('c')] {
		t.Fatalf("release: %+v, %v", res, err)
	}
	// Paused by someone else: isolate changes nothing, and so release
	// does not resume it.
	w.rt.paused[id('c')] = true
	if res, err = w.r.Isolate(ctx, w.agent, w.all, ""); err != nil || res.Changed {
		t.Fatalf("isolate of a paused container: %+v, %v", res, err)
	}
	if res, err = w.r.Release(ctx, w.agent, w.all, ""); err != nil || res.Changed || !w.rt.paused[id('c')] {
		t.Fatalf("release resumed what outflow did not pause: %+v, %v", res, err)
	}
	if strings.Join(w.rt.calls, ",") != "pause,unpause" {
		t.Fatalf("runtime calls %v", w.rt.calls)
	}
}

func TestIsolateRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(w *world) *container.Container
		msg    string
	}{
		{"exited", func(w *world) *container.Container { w.web.Exited = time.Now(); return w.web }, "has exited"},
		{"no veth found", func(w *world) *container.Container { w.web.HostIfaces = nil; return w.web }, "no host-side veth"},
		{"veth gone", func(w *world) *container.Container { delete(w.links.links, 11); return w.web }, "no such link"},
		{"index reused by another link", func(w *world) *container.Container {
			w.links.links[10] = &LinkInfo{Name: "vethother", Index: 10, Veth: true, Up: true}
			return w.web
		}, "not the veth vethweb0"},
		{"index now a NIC", func(w *world) *container.Container {
			w.web.HostIfaces = []container.Iface{{Name: "eth0", Index: 30}}
			return w.web
		}, "veth false"},
		{"no network", func(w *world) *container.Container { w.web.NetworkMode = "none"; return w.web }, "no network"},
		{"host network without the runtime API", func(w *world) *container.Container { w.r.Runtime = nil; return w.agent }, "needs the Docker API"},
		{"host network of another runtime", func(w *world) *container.Container { w.agent.Runtime = "containerd"; return w.agent }, "needs the Docker API"},
		{"nothing", func(w *world) *container.Container { return nil }, "no container"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			c := tc.mutate(w)
			res, err := w.r.Isolate(ctx, c, w.all, "")
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want refused with %q", err, tc.msg)
			}
			if res.Err != err || len(w.links.changes) != 0 || len(w.rt.calls) != 0 {
				t.Fatalf("something was done: links %v, runtime %v", w.links.changes, w.rt.calls)
			}
			if ents, _ := os.ReadDir(w.r.Dir); len(ents) != 0 {
				t.Fatal("a record was written for a refused isolation")
			}
		})
	}
}

// TestIsolateFailureIsReleasable: a change that fails half way leaves a
// record that release can act on.
func TestIsolateFailureIsReleasable(t *testing.T) {
	w := newWorld(t)
	w.links.failSet = true
	if _, err := w.r.Isolate(context.Background(), w.web, w.all, ""); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want the netlink failure", err)
	}
	w.links.failSet = false
	res, err := w.r.Release(context.Background(), w.web, w.all, "")
	if err != nil || res.Changed || !w.links.links[10].Up {
		t.Fatalf("release after a failed isolation: %+v, %v", res, err)
	}
	if recs, _ := w.r.Records(); len(recs) != 0 {
		t.Fatalf("records left: %v", recs)
	}
}

func TestReleaseOfGoneContainer(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.r.Isolate(ctx, w.web, w.all, ""); err != nil {
		t.Fatal(err)
	}
	recs, err := w.r.Records()
	if err != nil || len(recs) != 1 || recs[0].Name != "web" {
		t.Fatalf("records %v, %v", recs, err)
	}
	gone := &container.Container{ID: id('a'), Name: "web", Exited: time.Now()}
	delete(w.links.links, 10)
	res, err := w.r.Release(ctx, gone, nil, "")
	if err != nil || res.Changed || !strings.Contains(res.Note, "gone") {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if recs, _ := w.r.Records(); len(recs) != 0 {
		t.Fatal("record kept")
	}
}

func TestCorruptRecord(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.r.Dir, id('a')+".state"), []byte("junk"), 0o600)
	_, err := w.r.Isolate(context.Background(), w.web, w.all, "")
	if err == nil || !strings.Contains(err.Error(), "isolation record") || len(w.links.changes) != 0 {
		t.Fatalf("isolate over a corrupt record: %v (links %v)", err, w.links.changes)
	}
}

func TestResolve(t *testing.T) {
	ids := []string{"0123456789ab" + strings.Repeat("0", 52), "0123456789ab" + strings.Repeat("1", 52), "fedcba987654" + strings.Repeat("2", 52), "aaaaaaaaaaaa" + strings.Repeat("3", 52)}
	all := []*container.Container{
		{ID: ids[0], Name: "web"},
		{ID: ids[1], Name: "db"},
		{ID: ids[2], Name: "0123456789ab"}, // a name that is another's ID prefix
		{ID: ids[3], Name: "old", Exited: time.Now()},
	}
	tests := []struct {
		q    string
		want string // ID, or "" for a refusal
		msg  string
	}{
		{"web", ids[0], ""},
		{"/db", ids[1], ""},
		{ids[1], ids[1], ""},
		{"fedcba987654", ids[2], ""},
		{"fedcba9876542", ids[2], ""},
		{"0123456789ab0", ids[0], ""},
		{"0123456789ab", "", "ambiguous"},
		{"fedcba", "", "at least 12"},
		{"nosuch", "", "no running container"},
		{"old", "", "has exited"},
		{ids[3], ids[3], ""}, // a full ID is certain: the caller judges the state
		{"", "", "empty"},
	}
	for _, tc := range tests {
		c, err := Resolve(all, tc.q)
		switch {
		case tc.want == "" && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%q: %v, %v; want refused with %q", tc.q, c, err, tc.msg)
		case tc.want != "" && (err != nil || c.ID != tc.want):
			t.Errorf("%q: %v, %v; want %s", tc.q, c, err, tc.want[:12])
		}
	}
}

func TestEvent(t *testing.T) {
	w := newWorld(t)
	res, _ := w.r.Isolate(context.Background(), w.web, w.all, "a1b2")
	res.Rule = "exposed-port-inbound"
	var d ecs.Doc
	res.Event(&d, "node1")
	m := map[string]any{}
	if err := json.Unmarshal(d.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	ev := m["event"].(map[string]any)
	out := m["outflow"].(map[string]any)["response"].(map[string]any)
	if ev["kind"] != "event" || fmt.Sprint(ev["category"]) != "[network]" || fmt.Sprint(ev["type"]) != "[denied]" || ev["action"] != "isolate" || ev["outcome"] != "success" {
		t.Errorf("event %v", ev)
	}
	if m["container"].(map[string]any)["name"] != "web" || out["alert_id"] != "a1b2" || out["method"] != "link-down" || out["changed"] != true {
		t.Errorf("doc %v", m)
	}
	res, _ = w.r.Release(context.Background(), w.web, w.all, "")
	d.Reset()
	res.Event(&d, "node1")
	m = map[string]any{}
	json.Unmarshal(d.AppendJSON(nil), &m)
	if fmt.Sprint(m["event"].(map[string]any)["type"]) != "[allowed]" {
		t.Errorf("release event type %v", m["event"])
	}
	res, _ = w.r.Isolate(context.Background(), nil, nil, "")
	d.Reset()
	res.Event(&d, "node1")
	m = map[string]any{}
	json.Unmarshal(d.AppendJSON(nil), &m)
	if m["event"].(map[string]any)["outcome"] != "failure" || m["error"].(map[string]any)["type"] != "refused" {
		t.Errorf("refusal event %v", m)
	}
}
