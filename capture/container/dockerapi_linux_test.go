//go:build linux

package container

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDocker is a Docker Engine API answering from a map: a protocol-level
// test of the client (paths, JSON, 404s, the event stream and its loss).
type fakeDocker struct {
	t *testing.T

	mu         sync.Mutex
	inspect    map[string]map[string]any // ID -> inspect document
	listStatus int                       // when non-zero, /containers/json fails with it
	inspects   int
	streams    int

	events chan string   // lines for the open event stream
	drop   chan struct{} // ends the open event stream
	done   chan struct{}
}

func (f *fakeDocker) set(id string, doc map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if doc == nil {
		delete(f.inspect, id)
		return
	}
	doc["Id"] = id
	f.inspect[id] = doc
}

func (f *fakeDocker) count() (inspects, streams int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inspects, f.streams
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/events" {
		f.serveEvents(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method != http.MethodGet:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	case r.URL.Path == "/containers/json":
		if f.listStatus != 0 {
			http.Error(w, `{"message":"broken"}`, f.listStatus)
			return
		}
		list := []map[string]any{}
		for id, doc := range f.inspect {
			if doc["State"].(map[string]any)["Running"] == true {
				list = append(list, map[string]any{"Id": id, "Names": []string{doc["Name"].(string)}})
			}
		}
		json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(r.URL.Path, "/containers/") && strings.HasSuffix(r.URL.Path, "/json"):
		f.inspects++
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/containers/"), "/json")
		doc, ok := f.inspect[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"No such container: %s"}`, id)
			return
		}
		json.NewEncoder(w).Encode(doc)
	default:
		http.NotFound(w, r)
	}
}

// serveEvents streams the lines sent on f.events until dropped.
func (f *fakeDocker) serveEvents(w http.ResponseWriter, r *http.Request) {
	var filters map[string][]string
	if err := json.Unmarshal([]byte(r.URL.Query().Get("filters")), &filters); err != nil ||
		!reflect.DeepEqual(filters["type"], []string{"container", "network"}) {
		f.t.Errorf("events filters %q", r.URL.Query().Get("filters"))
	}
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case line := <-f.events:
			fmt.Fprintln(w, line)
			w.(http.Flusher).Flush()
		case <-f.drop:
			return
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	}
}

// startFakeDocker serves f on a unix socket in a temporary directory.
func startFakeDocker(t *testing.T) (*fakeDocker, string) {
	t.Helper()
	f := &fakeDocker{t: t, inspect: map[string]map[string]any{}, events: make(chan string, 16),
		drop: make(chan struct{}, 1), done: make(chan struct{})}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	if len(sock) >= 104 { // sun_path
		dir, err := os.MkdirTemp("", "ofd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock = filepath.Join(dir, "d.sock")
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		close(f.done)
		srv.Close()
	})
	return f, sock
}

func dockerDoc(name, image string, running bool, pid int, mode string, ips ...string) map[string]any {
	nets := map[string]any{}
	for i, ip := range ips {
		nets[fmt.Sprintf("net%d", i)] = map[string]any{"IPAddress": ip}
	}
	return map[string]any{
		"Name":            "/" + name,
		"Image":           "sha256:0000",
		"State":           map[string]any{"Running": running, "Pid": pid, "StartedAt": "2024-05-01T10:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
		"Config":          map[string]any{"Image": image, "Labels": map[string]string{}},
		"HostConfig":      map[string]any{"NetworkMode": mode},
		"NetworkSettings": map[string]any{"Networks": nets},
	}
}

// eventLog collects a subscription's events and waits for one.
type eventLog struct {
	ch chan Event
}

func subscribe(t *testing.T, c *Collection) *eventLog {
	l := &eventLog{ch: make(chan Event, 256)}
	cancel := c.Subscribe(func(e Event) {
		select {
		case l.ch <- e:
		default:
			t.Errorf("event log full")
		}
	})
	t.Cleanup(cancel)
	return l
}

// waitFor returns the first event satisfying ok, failing the test after
// timeout.
func (l *eventLog) waitFor(t *testing.T, what string, timeout time.Duration, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-l.ch:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", what, timeout)
		}
	}
}

func TestDockerAPI(t *testing.T) {
	root := copyTree(t, "testdata/proc-v1")
	fd, sock := startFakeDocker(t)
	a, h, k := testID("docker-a"), testID("docker-host"), testID("k8s-cgroupfs")
	docA := dockerDoc("web", "nginx:1.25", true, 100, "default", "172.17.0.2")
	docA["HostConfig"].(map[string]any)["Privileged"] = true
	docA["HostConfig"].(map[string]any)["PidMode"] = "host"
	docA["Config"].(map[string]any)["Labels"] = map[string]string{
		"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": "u-1"}
	docA["Mounts"] = []map[string]any{{"Source": "/srv", "Destination": "/data", "RW": true}}
	docA["NetworkSettings"].(map[string]any)["Ports"] = map[string]any{"80/tcp": []map[string]string{{"HostIp": "0.0.0.0", "HostPort": "8080"}}}
	fd.set(a, docA)
	fd.set(h, dockerDoc("probe", "busybox", true, 200, "host"))

	c, err := New(WithProcRoot(root), WithDocker(sock), WithRescan(time.Hour), WithGrace(time.Hour), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	ct, ok := c.ByID(a)
	want := &Container{
		ID: a, Name: "web", Image: "nginx:1.25", Runtime: RuntimeDocker, PID: 100, NetNS: 4026532200,
		NetworkMode: "bridge", Labels: docA["Config"].(map[string]any)["Labels"].(map[string]string),
		Pod:        Pod{Name: "web-0", Namespace: "shop", UID: "u-1"},
		Ports:      []PublishedPort{{netip.MustParseAddr("0.0.0.0"), 8080, 80, "tcp"}},
		Addrs:      []netip.Addr{netip.MustParseAddr("172.17.0.2")},
		Privileged: true, Mounts: []Mount{{"/srv", "/data", true}}, PidMode: "host",
		Started: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
	}
	if !ok || !reflect.DeepEqual(ct, want) {
		t.Errorf("ByID(a) =\n%+v\nwant\n%+v", ct, want)
	}
	if ct, ok := c.ByAddr(netip.MustParseAddr("172.17.0.2")); !ok || ct.ID != a {
		t.Errorf("ByAddr = %v, %v", ct, ok)
	}
	if ct, ok := c.ByAddr(netip.MustParseAddr("::ffff:172.17.0.2")); !ok || ct.ID != a {
		t.Errorf("ByAddr(mapped) = %v, %v", ct, ok)
	}
	if ct, ok := c.ByID(h); !ok || !ct.HostNetwork || ct.Name != "probe" || ct.NetNS != fixtureHostNS || len(ct.Addrs) != 0 {
		t.Errorf("host-network container = %+v, %v", ct, ok)
	}
	if ct, ok := c.ByID(k); !ok || ct.Runtime != RuntimeContainerd || ct.Name != "" {
		t.Errorf("container unknown to Docker = %+v, %v", ct, ok)
	}
	log := subscribe(t, c)
	for range 4 {
		log.waitFor(t, "replayed Added", time.Second, func(e Event) bool { return e.Type == Added })
	}

	// A new container: the start event brings it in, netns read from /proc.
	n := testID("docker-new")
	if err := os.MkdirAll(filepath.Join(root, "500", "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[4026532500]", filepath.Join(root, "500", "ns", "net")); err != nil {
		t.Fatal(err)
	}
	fd.set(n, dockerDoc("new", "redis:7", true, 500, "mynet", "10.9.0.2"))
	inspects, _ := fd.count()
	fd.events <- `{"Type":"container","Action":"exec_start: sh -c true","Actor":{"ID":"` + n + `"}}`
	fd.events <- `{"Type":"container","Action":"start","Actor":{"ID":"` + n + `","Attributes":{"name":"new"}},"timeNano":1714557600000000000}`
	e := log.waitFor(t, "Added", 5*time.Second, func(e Event) bool { return e.Container.ID == n })
	if e.Type != Added || e.Container.Name != "new" || e.Container.NetNS != 4026532500 || e.Container.NetworkMode != "mynet" {
		t.Errorf("start event gave %v %+v", e.Type, e.Container)
	}
	if got, _ := fd.count(); got != inspects+1 {
		t.Errorf("%d inspects for an exec and a start; want 1 (exec events are ignored)", got-inspects)
	}

	// A network connect re-inspects the container it names.
	doc := dockerDoc("new", "redis:7", true, 500, "mynet", "10.9.0.2", "10.8.0.7")
	fd.set(n, doc)
	fd.events <- `{"Type":"network","Action":"connect","Actor":{"ID":"netid","Attributes":{"container":"` + n + `"}}}`
	e = log.waitFor(t, "Updated", 5*time.Second, func(e Event) bool { return e.Container.ID == n })
	if e.Type != Updated || len(e.Container.Addrs) != 2 {
		t.Errorf("connect gave %v %+v", e.Type, e.Container.Addrs)
	}

	// die: Docker's FinishedAt becomes Exited; the container stays.
	doc = dockerDoc("new", "redis:7", false, 0, "mynet")
	doc["State"].(map[string]any)["FinishedAt"] = "2024-05-01T10:05:00Z"
	fd.set(n, doc)
	fd.events <- `{"Type":"container","Action":"die","Actor":{"ID":"` + n + `"}}`
	e = log.waitFor(t, "Updated", 5*time.Second, func(e Event) bool { return e.Container.ID == n })
	if e.Type != Updated || !e.Container.Exited.Equal(time.Date(2024, 5, 1, 10, 5, 0, 0, time.UTC)) ||
		e.Container.NetNS != 4026532500 || len(e.Container.Addrs) != 2 {
		t.Errorf("die gave %v %+v; want exited, identity kept", e.Type, e.Container)
	}
	// destroy: gone from Docker, still kept for the grace period.
	fd.set(n, nil)
	fd.events <- `{"Type":"container","Action":"destroy","Actor":{"ID":"` + n + `"}}`
	if ct, ok := c.ByID(n); !ok || ct.Running() {
		t.Errorf("after destroy: %+v, %v", ct, ok)
	}

	// The stream drops while a container exits: the client subscribes
	// again, lists, and marks the missed exit.
	docA["State"].(map[string]any)["Running"] = false
	fd.set(a, docA)
	fd.drop <- struct{}{}
	e = log.waitFor(t, "Updated after resync", 10*time.Second, func(e Event) bool { return e.Container.ID == a })
	if e.Type != Updated || e.Container.Running() {
		t.Errorf("resync gave %v %+v", e.Type, e.Container)
	}
	if _, streams := fd.count(); streams < 2 {
		t.Errorf("%d event streams; want a resubscription", streams)
	}
	if st := c.Stats(); st.DockerErrors == 0 || st.DockerEvents < 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestDockerUnavailable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "docker.sock")
	_, err := New(WithProcRoot("testdata/proc-v1"), WithDocker(missing))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("New with a missing socket: %v; want an error naming it", err)
	}

	fd, sock := startFakeDocker(t)
	fd.mu.Lock()
	fd.listStatus = http.StatusInternalServerError
	fd.mu.Unlock()
	_, err = New(WithProcRoot("testdata/proc-v1"), WithDocker(sock))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("New with a failing daemon: %v; want the status", err)
	}
}
