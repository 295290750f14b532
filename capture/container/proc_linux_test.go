//go:build linux

package container

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const fixtureHostNS = 4026531840

// withClock replaces the collection's clock.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// copyTree copies a fixture tree, symlinks as symlinks, so that a test can
// change it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

type wantProc struct {
	name    string // the ID is testID(name)
	runtime string
	pid     int
	netNS   uint64
	podUID  string
	startS  int64 // seconds after the fixture's btime
}

func TestScanProcFixtures(t *testing.T) {
	tests := []struct {
		root  string
		btime int64
		want  []wantProc
		pids  map[int]string // process -> container name
	}{
		{
			root: "testdata/proc-v1", btime: 1700000000,
			want: []wantProc{
				{"docker-a", RuntimeDocker, 100, 4026532200, "", 10},
				{"docker-host", RuntimeDocker, 200, fixtureHostNS, "", 20},
				{"k8s-pause", RuntimeContainerd, 300, 4026532300, "3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b", 30},
				{"k8s-cgroupfs", RuntimeContainerd, 301, 4026532300, "3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b", 31},
			},
			pids: map[int]string{100: "docker-a", 101: "docker-a", 200: "docker-host", 300: "k8s-pause", 301: "k8s-cgroupfs"},
		},
		{
			root: "testdata/proc-v2", btime: 1700000500,
			want: []wantProc{
				{"docker-v2", RuntimeDocker, 10, 4026532410, "", 1},
				{"cri-pause", RuntimeContainerd, 20, 4026532420, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 2},
				{"cri-containerd", RuntimeContainerd, 21, 4026532420, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 2},
				{"crio", RuntimeCRIO, 30, 4026532430, "11111111-2222-4333-8444-555555555555", 3},
				{"podman", RuntimePodman, 40, 4026532440, "", 4},
				{"podman-rootless", RuntimePodman, 50, 4026532450, "", 5},
			},
			pids: map[int]string{10: "docker-v2", 20: "cri-pause", 21: "cri-containerd", 30: "crio", 40: "podman", 50: "podman-rootless", 51: "podman-rootless"},
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.root), func(t *testing.T) {
			found, pids, err := scanProc(tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(tt.want) {
				t.Errorf("found %d containers, want %d", len(found), len(tt.want))
			}
			for _, w := range tt.want {
				p := found[testID(w.name)]
				if p == nil {
					t.Errorf("%s not found", w.name)
					continue
				}
				wantStart := time.Unix(tt.btime, 0).Add(time.Duration(w.startS) * time.Second)
				if w.name == "cri-containerd" {
					wantStart = wantStart.Add(100 * time.Millisecond) // 210 ticks
				}
				if p.runtime != w.runtime || p.pid != w.pid || p.netNS != w.netNS || p.podUID != w.podUID || !p.started.Equal(wantStart) {
					t.Errorf("%s = %+v; want runtime %s pid %d netns %d pod %q started %v",
						w.name, *p, w.runtime, w.pid, w.netNS, w.podUID, wantStart)
				}
			}
			if len(pids) != len(tt.pids) {
				t.Errorf("pids = %v; want %d entries", pids, len(tt.pids))
			}
			for pid, name := range tt.pids {
				if pids[pid] != testID(name) {
					t.Errorf("pid %d -> %q; want %s", pid, pids[pid], name)
				}
			}
			ns, err := hostNetNS(tt.root)
			if err != nil || ns != fixtureHostNS {
				t.Errorf("hostNetNS = %d, %v", ns, err)
			}
		})
	}
}

func TestScanProcMissingRoot(t *testing.T) {
	if _, _, err := scanProc(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("no error for a missing root")
	}
	if _, err := New(WithProcRoot(filepath.Join(t.TempDir(), "nope"))); err == nil {
		t.Fatal("New: no error for a missing root")
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		ppid  int
		start uint64
		ok    bool
	}{
		{"42 (sleep) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 100 1", 7, 12345, true},
		{"42 (a) b) (c) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 99 1000 100 1", 7, 99, true},
		{"42 (short) S 7", 0, 0, false},
		{"no paren", 0, 0, false},
		{"42 (x) S notanumber 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 99 1", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		ppid, start, ok := parseStat([]byte(tt.in))
		if ppid != tt.ppid || start != tt.start || ok != tt.ok {
			t.Errorf("parseStat(%q) = %d, %d, %v; want %d, %d, %v", tt.in, ppid, start, ok, tt.ppid, tt.start, tt.ok)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (sleep) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 100 1"))
	f.Add([]byte("1 ()) S 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ppid, start, ok := parseStat(b); !ok && (ppid != 0 || start != 0) {
			t.Fatalf("values without ok: %d %d", ppid, start)
		}
	})
}

func TestInitProcess(t *testing.T) {
	tests := []struct {
		name string
		es   []procEntry
		want int
	}{
		{"parent outside", []procEntry{{pid: 11, ppid: 10, start: 5}, {pid: 10, ppid: 3, start: 9}}, 10},
		{"two outside, earlier start", []procEntry{{pid: 20, ppid: 1, start: 9}, {pid: 30, ppid: 1, start: 5}}, 30},
		{"same start, lower pid", []procEntry{{pid: 30, ppid: 1, start: 5}, {pid: 20, ppid: 1, start: 5}}, 20},
		{"one", []procEntry{{pid: 7, ppid: 1}}, 7},
		{"cycle (stat unread)", []procEntry{{pid: 8}, {pid: 9}}, 8},
	}
	for _, tt := range tests {
		if got := initProcess(tt.es).pid; got != tt.want {
			t.Errorf("%s: init = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// TestCollectionFixture runs New on a fixture tree and checks every lookup.
func TestCollectionFixture(t *testing.T) {
	c, err := New(WithProcRoot("testdata/proc-v1"), WithRescan(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.HostNetNS() != fixtureHostNS {
		t.Errorf("HostNetNS = %d", c.HostNetNS())
	}
	a, pause, app, host := testID("docker-a"), testID("k8s-pause"), testID("k8s-cgroupfs"), testID("docker-host")
	if got := len(c.Snapshot()); got != 4 {
		t.Fatalf("Snapshot has %d containers; want 4", got)
	}
	if ct, ok := c.ByID(a); !ok || ct.PID != 100 || ct.NetNS != 4026532200 || ct.HostNetwork || ct.Runtime != RuntimeDocker {
		t.Errorf("ByID(docker-a) = %+v, %v", ct, ok)
	}
	if ct, ok := c.ByID(a[:12]); !ok || ct.ID != a {
		t.Errorf("ByID(short) = %v, %v", ct, ok)
	}
	if _, ok := c.ByID(a[:11]); ok {
		t.Errorf("ByID accepted an 11-character prefix")
	}
	if _, ok := c.ByID(testID("nobody")); ok {
		t.Errorf("ByID found an unknown ID")
	}
	if ct, ok := c.ByNetNS(4026532300); !ok || ct.ID != pause {
		t.Errorf("ByNetNS(pod) = %v, %v; want the pause container, which started first", ct, ok)
	}
	for pid, want := range map[int]string{100: a, 101: a, 200: host, 300: pause, 301: app} {
		if ct, ok := c.ByPID(pid); !ok || ct.ID != want {
			t.Errorf("ByPID(%d) = %v, %v; want %s", pid, ct, ok, want[:12])
		}
	}
	for _, pid := range []int{1, 90, 400, 999} {
		if ct, ok := c.ByPID(pid); ok {
			t.Errorf("ByPID(%d) = %s; want none", pid, ct.ID)
		}
	}
	hn := c.HostNetwork()
	if len(hn) != 1 || hn[0].ID != host || hn[0].NetworkMode != "host" || !hn[0].HostNetwork {
		t.Errorf("HostNetwork = %+v", hn)
	}
	if ct, ok := c.ByNetNS(fixtureHostNS); ok {
		t.Errorf("ByNetNS(host) = %s; the host namespace must answer nothing", ct.ID)
	}
	if ct, ok := c.ByID(pause); !ok || ct.Pod.UID != "3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b" {
		t.Errorf("pod UID of pause: %+v", ct)
	}
}

// TestExitGrace removes a container's processes from a fixture tree and
// follows it through exit, grace and removal, and a restart.
func TestExitGrace(t *testing.T) {
	root := copyTree(t, "testdata/proc-v2")
	clk := &fakeClock{t: time.Unix(1800000000, 0)}
	c, err := New(WithProcRoot(root), WithRescan(time.Hour), WithGrace(time.Minute), withClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var evs []Event
	cancel := c.Subscribe(func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() })
	defer cancel()
	events := func() []Event { mu.Lock(); defer mu.Unlock(); out := evs; evs = nil; return out }
	if got := events(); len(got) != 6 {
		t.Fatalf("replay gave %d events; want 6 Added", len(got))
	}
	id := testID("podman-rootless")
	before, _ := c.ByID(id)

	for _, pid := range []string{"50", "51"} {
		if err := os.RemoveAll(filepath.Join(root, pid)); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(time.Second)
	if err := c.rescan(); err != nil {
		t.Fatal(err)
	}
	got := events()
	if len(got) != 1 || got[0].Type != Updated || got[0].Container.ID != id || !got[0].Container.Exited.Equal(clk.now()) {
		t.Fatalf("after exit: events %+v; want one Updated with Exited", got)
	}
	// Kept with its identity: late packets still find it.
	if ct, ok := c.ByNetNS(4026532450); !ok || ct.ID != id || ct.Running() || ct.PID != before.PID {
		t.Errorf("ByNetNS during grace = %+v, %v", ct, ok)
	}
	if ct, ok := c.ByPID(50); ok {
		t.Errorf("ByPID(50) = %s after the process left", ct.ID)
	}

	clk.add(30 * time.Second)
	c.expireIfDue()
	c.flush() // waits for a delivery the background expiry may have started
	if got := events(); len(got) != 0 {
		t.Errorf("events within grace: %+v", got)
	}
	clk.add(31 * time.Second)
	c.expireIfDue()
	c.flush() // waits for a delivery the background expiry may have started
	got = events()
	if len(got) != 1 || got[0].Type != Removed || got[0].Container.ID != id {
		t.Fatalf("after grace: events %+v; want one Removed", got)
	}
	if _, ok := c.ByID(id); ok {
		t.Errorf("still there after grace")
	}
	if _, ok := c.ByNetNS(4026532450); ok {
		t.Errorf("netns still mapped after grace")
	}

	// Podman keeps IDs across restarts: the same ID comes back.
	podman := testID("podman")
	os.RemoveAll(filepath.Join(root, "40"))
	clk.add(time.Second)
	c.rescan()
	if ct, _ := c.ByID(podman); ct == nil || ct.Running() {
		t.Fatalf("podman not exited: %+v", ct)
	}
	restored := copyTree(t, "testdata/proc-v2")
	if err := os.Rename(filepath.Join(restored, "40"), filepath.Join(root, "40")); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	c.rescan()
	if ct, ok := c.ByID(podman); !ok || !ct.Running() {
		t.Errorf("podman after restart = %+v, %v; want running", ct, ok)
	}
	got = events()
	if len(got) != 2 || got[0].Type != Updated || got[1].Type != Updated || !got[1].Container.Running() {
		t.Errorf("restart events %+v", got)
	}
}
