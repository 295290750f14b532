package container

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

const hostNS = 4026531840

// testCollection is a collection fed by hand, with no source running.
func testCollection(grace time.Duration) *Collection {
	c := newCollection(config{log: discardLogger(), now: time.Now, grace: grace, rescan: time.Hour})
	c.hostNS = hostNS
	return c
}

// addDocker records a running Docker container as the Docker source would.
func addDocker(c *Collection, name string, pid int, ns uint64, mode string, started time.Time, addrs ...string) string {
	id := testID(name)
	info := &dockerInfo{name: name, image: "img", networkMode: mode, running: true, pid: pid, netNS: ns, started: started}
	for _, a := range addrs {
		info.addrs = append(info.addrs, netip.MustParseAddr(a))
	}
	c.update(func(st *state, now time.Time) { setDocker(st, id, info, now) })
	return id
}

func TestLookupsAndPreference(t *testing.T) {
	c := testCollection(time.Minute)
	t0 := time.Unix(1700000000, 0)
	pause := addDocker(c, "pause", 10, 4026532001, "bridge", t0, "172.17.0.2")
	app := addDocker(c, "app", 11, 4026532001, "container:"+testID("pause"), t0.Add(-time.Hour))
	web := addDocker(c, "web", 20, 4026532002, "bridge", t0, "172.17.0.3", "fd00::3")
	host := addDocker(c, "host", 30, hostNS, "host", t0, "10.0.0.9")
	joined := addDocker(c, "joined", 31, hostNS, "container:"+testID("host"), t0)
	c.update(func(st *state, _ time.Time) {
		st.netByNS = map[uint64]netInfo{
			4026532001: {ifaces: []Iface{{"veth1", 7}}, addrs: []netip.Addr{netip.MustParseAddr("172.17.0.2")}},
			4026532002: {ifaces: []Iface{{"veth2", 9}}, addrs: []netip.Addr{netip.MustParseAddr("fe80::1"), netip.MustParseAddr("172.17.0.4")}},
		}
	})

	check := func(what string, ct *Container, ok bool, want string) {
		t.Helper()
		if !ok || ct.ID != want {
			id := "none"
			if ct != nil {
				id = ct.Name
			}
			t.Errorf("%s = %s; want %s", what, id, want[:12])
		}
	}
	ct, ok := c.ByNetNS(4026532001)
	check("ByNetNS(pod): the namespace owner, though it started later", ct, ok, pause)
	ct, ok = c.ByHostIface(7)
	check("ByHostIface(7)", ct, ok, pause)
	ct, ok = c.ByHostIface(9)
	check("ByHostIface(9)", ct, ok, web)
	ct, ok = c.ByAddr(netip.MustParseAddr("172.17.0.4"))
	check("ByAddr(netlink address)", ct, ok, web)
	ct, ok = c.ByAddr(netip.MustParseAddr("fd00::3"))
	check("ByAddr(v6)", ct, ok, web)
	if ct, ok := c.ByAddr(netip.MustParseAddr("10.0.0.9")); ok {
		t.Errorf("ByAddr found host-network container %s by a host address", ct.Name)
	}
	if _, ok := c.ByHostIface(8); ok {
		t.Errorf("ByHostIface(8) found something")
	}
	ct, ok = c.ByPID(11)
	check("ByPID(11)", ct, ok, app)
	if ct, _ := c.ByID(app); len(ct.HostIfaces) != 1 || ct.HostIfaces[0].Name != "veth1" {
		t.Errorf("app shares the pod's interfaces: %+v", ct.HostIfaces)
	}
	hn := c.HostNetwork()
	if len(hn) != 2 || (hn[0].ID != host && hn[1].ID != host) || (hn[0].ID != joined && hn[1].ID != joined) {
		t.Errorf("HostNetwork = %v", hn)
	}
	if ct, _ := c.ByID(joined); !ct.HostNetwork || len(ct.Addrs) != 0 {
		t.Errorf("container joined to a host-network one: %+v", ct)
	}

	// The pause container exits: the namespace now answers with app, and
	// the interface stays with whoever runs.
	c.update(func(st *state, now time.Time) { st.recs[pause].markExited(now, now) })
	ct, ok = c.ByNetNS(4026532001)
	check("ByNetNS after the owner exits", ct, ok, app)
	ct, ok = c.ByAddr(netip.MustParseAddr("172.17.0.2"))
	check("ByAddr after the owner exits", ct, ok, app)
	if ct, ok := c.ByID(pause); !ok || ct.Running() || ct.HostIfaces[0].Index != 7 {
		t.Errorf("exited pause = %+v, %v", ct, ok)
	}
	if len(c.Snapshot()) != 5 {
		t.Errorf("Snapshot has %d containers", len(c.Snapshot()))
	}
}

func TestSubscribe(t *testing.T) {
	c := testCollection(0)
	a := addDocker(c, "a", 1, 4026532001, "bridge", time.Time{})
	var mu sync.Mutex
	var got []string
	record := func(tag string) func(Event) {
		return func(e Event) {
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %s %s", tag, e.Type, e.Container.Name))
			mu.Unlock()
		}
	}
	cancel1 := c.Subscribe(record("1"))
	b := addDocker(c, "b", 2, 4026532002, "bridge", time.Time{})
	cancel2 := c.Subscribe(record("2"))
	c.update(func(st *state, now time.Time) { st.recs[a].markExited(now, now) })
	cancel1()
	time.Sleep(time.Millisecond) // a grace of 0 is over once time moves
	c.expire()
	cancel2()
	c.update(func(st *state, now time.Time) { st.recs[b].markExited(now, now) })
	replay := []string{"2 added a", "2 added b"} // in ID order
	if b < a {
		replay[0], replay[1] = replay[1], replay[0]
	}
	want := append([]string{"1 added a", "1 added b"}, replay...)
	want = append(want, "1 updated a", "2 updated a", "2 removed a")
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n%q\nwant\n%q", got, want)
	}
	if _, ok := c.ByID(a); ok {
		t.Errorf("a still there after a grace of 0")
	}
}

// TestConcurrentLookups runs lookups while sources update (run with -race).
func TestConcurrentLookups(t *testing.T) {
	c := testCollection(time.Millisecond)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.MustParseAddr("172.17.0.5")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if ct, ok := c.ByAddr(a); ok && ct.Name == "" {
					t.Error("half-built container")
					return
				}
				c.ByNetNS(4026532005)
				c.ByHostIface(5)
				c.ByPID(5)
				c.Snapshot()
			}
		}()
	}
	cancel := c.Subscribe(func(Event) {})
	for i := range 200 {
		name := fmt.Sprint("c", i%7)
		id := addDocker(c, name, 5, 4026532005, "bridge", time.Time{}, "172.17.0.5")
		c.update(func(st *state, now time.Time) {
			st.netByNS = map[uint64]netInfo{4026532005: {ifaces: []Iface{{"v", 5}}}}
			if i%3 == 0 {
				st.recs[id].markExited(now, now)
			}
		})
		c.expire()
	}
	cancel()
	close(stop)
	wg.Wait()
}

func TestMergeAddrs(t *testing.T) {
	p := netip.MustParseAddr
	got := mergeAddrs([]netip.Addr{p("10.0.0.2"), p("fd00::1")}, []netip.Addr{p("10.0.0.1"), p("10.0.0.2")})
	want := []netip.Addr{p("10.0.0.1"), p("10.0.0.2"), p("fd00::1")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mergeAddrs = %v; want %v", got, want)
	}
}

func TestPrivilegeError(t *testing.T) {
	err := fmt.Errorf("scan: %w", &PrivilegeError{Op: "read /proc/42/ns/net", Capability: "CAP_SYS_PTRACE", Err: syscall.EACCES})
	var pe *PrivilegeError
	if !errors.As(err, &pe) || pe.Capability != "CAP_SYS_PTRACE" {
		t.Fatalf("errors.As failed on %v", err)
	}
	want := "scan: read /proc/42/ns/net: permission denied (the sensor needs CAP_SYS_PTRACE)"
	if err.Error() != want {
		t.Errorf("message %q; want %q", err.Error(), want)
	}
	if !isPermission(err) {
		t.Errorf("isPermission(%v) = false", err)
	}
}

func BenchmarkLookups(b *testing.B) {
	c := testCollection(time.Minute)
	for i := range 200 {
		addDocker(c, fmt.Sprint("c", i), 100+i, uint64(4026532000+i), "bridge", time.Time{}, fmt.Sprintf("172.17.%d.%d", i/250, 2+i%250))
	}
	a, miss := netip.MustParseAddr("172.17.0.77"), netip.MustParseAddr("8.8.8.8")
	b.ReportAllocs()
	for b.Loop() {
		c.ByAddr(a)
		c.ByAddr(miss)
		c.ByNetNS(4026532077)
		c.ByHostIface(77)
		c.ByPID(177)
	}
}
