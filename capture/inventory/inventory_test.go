package inventory

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"outflow/capture/container"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ecs"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, data []byte) *Snapshot {
	t.Helper()
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// want is what an address must resolve to ("" name: nothing).
type want struct {
	addr                   string
	name, id, image, rt    string
	podName, podNS, podUID string
	network                string
}

func checkLookups(t *testing.T, s *Snapshot, cases []want) {
	t.Helper()
	for _, w := range cases {
		e, ok := s.Lookup(netip.MustParseAddr(w.addr))
		if w.name == "" {
			if ok {
				t.Errorf("%s: attributed to %s/%s, want nothing", w.addr, e.Pod.Name, e.Name)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: not attributed, want %s", w.addr, w.name)
			continue
		}
		got := want{addr: w.addr, name: e.Name, id: e.ID, image: e.Image, rt: e.Runtime,
			podName: e.Pod.Name, podNS: e.Pod.Namespace, podUID: e.Pod.UID, network: e.NetworkMode}
		if got != w {
			t.Errorf("%s:\n got %+v\nwant %+v", w.addr, got, w)
		}
	}
}

func TestParseKubectl(t *testing.T) {
	s := mustParse(t, readTestdata(t, "pods.json"))
	web := want{name: "web", id: "4b7c0d9e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4", image: "registry.example.com/shop/web:2.14.1",
		rt: "containerd", podName: "web-7d9f8b6c5-x2k4q", podNS: "shop", podUID: "3f2b9c4e-8d1a-4e6b-b0c7-5a9e1d2f4c68"}
	web6 := web
	web.addr, web6.addr = "10.244.1.12", "fd00:10:244:1::c"
	checkLookups(t, s, []want{
		web, web6,
		{addr: "10.244.2.7", name: "api", id: "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc",
			image: "registry.example.com/payments/api@sha256:7c6b5a4938271605f4e3d2c1b0a998877c6b5a4938271605f4e3d2c1b0a99887",
			rt:    "containerd", podName: "payments-api-5c9f6d7b8-m7wzp", podNS: "payments", podUID: "b81c5a0f-6e2d-4c39-8f47-1d0a9e3b7c25"},
		// The running pod, not the completed job whose address it reuses.
		{addr: "10.244.1.40", name: "redis", id: "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2", image: "docker.io/library/redis:7.2-alpine",
			rt: "containerd", podName: "cache-0", podNS: "shop", podUID: "2c4e6a8b-0d1f-4357-9b8d-a1c3e5f70921"},
		// Host network: the node's address names no pod.
		{addr: "192.168.49.3"},
		{addr: "192.168.49.4"},
		{addr: "10.244.9.9"},
	})
	wantStats := Stats{Pods: 7, Addresses: 5, HostNetwork: 1}
	if s.Stats != wantStats {
		t.Errorf("stats %+v, want %+v", s.Stats, wantStats)
	}
	ne, _ := s.Lookup(netip.MustParseAddr("10.244.2.9"))
	if ne == nil || !ne.Privileged || ne.Node != "worker-2" || ne.Labels["app.kubernetes.io/name"] != "node-exporter" {
		t.Fatalf("node-exporter: %+v", ne)
	}
	if want := []container.PublishedPort{{HostPort: 9100, ContainerPort: 9100, Proto: "tcp"}}; !reflect.DeepEqual(ne.Ports, want) {
		t.Errorf("ports %+v, want %+v", ne.Ports, want)
	}
	if want := []container.Mount{{Source: "/proc", Destination: "/host/proc"}, {Source: "/", Destination: "/host/root", RW: true}}; !reflect.DeepEqual(ne.Mounts, want) {
		t.Errorf("mounts %+v, want %+v", ne.Mounts, want)
	}
	// The pending pod is listed, without a container ID or address.
	var pending *Entry
	for i := range s.Entries {
		if s.Entries[i].Pod.Name == "worker-6f8d9c7b5-2jxlp" {
			pending = &s.Entries[i]
		}
	}
	if pending == nil || pending.ID != "" || len(pending.Addrs) != 0 || !pending.Live {
		t.Errorf("pending pod: %+v", pending)
	}
}

func TestParseDocker(t *testing.T) {
	s := mustParse(t, readTestdata(t, "docker-inspect.json"))
	checkLookups(t, s, []want{
		// The exporter shares the web container's stack; the address is
		// the first container's of that stack.
		{addr: "172.18.0.2", name: "shop-web-1", id: "5a1d0c2b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b", image: "nginx:1.25", rt: "docker", network: "shop_default"},
		{addr: "172.18.0.3", name: "shop-db-1", id: "0f9e8d7c6b5a49382716051f2e3d4c5b6a7988796a5b4c3d2e1f00112233aabb", image: "postgres:16.2", rt: "docker", network: "shop_default"},
		{addr: "fd00:18::3", name: "shop-db-1", id: "0f9e8d7c6b5a49382716051f2e3d4c5b6a7988796a5b4c3d2e1f00112233aabb", image: "postgres:16.2", rt: "docker", network: "shop_default"},
		{addr: "172.17.0.2", name: "registry-mirror", id: "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f", image: "registry:2", rt: "docker", network: "bridge"},
		{addr: "172.18.0.1"},
	})
	wantStats := Stats{Containers: 6, Addresses: 4, HostNetwork: 1}
	if s.Stats != wantStats {
		t.Errorf("stats %+v, want %+v", s.Stats, wantStats)
	}
	web, _ := s.Lookup(netip.MustParseAddr("172.18.0.2"))
	wantPorts := []container.PublishedPort{
		{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 8443, ContainerPort: 443, Proto: "tcp"},
	}
	if !reflect.DeepEqual(web.Ports, wantPorts) {
		t.Errorf("web ports %+v, want %+v", web.Ports, wantPorts)
	}
	if want := []container.Mount{{Source: "/srv/shop/nginx.conf", Destination: "/etc/nginx/nginx.conf"}}; !reflect.DeepEqual(web.Mounts, want) {
		t.Errorf("web mounts %+v", web.Mounts)
	}
	for _, e := range s.Entries {
		if e.Name == "node-agent" && (!e.HostNetwork || !e.Privileged || e.PidMode != "host" || len(e.Mounts) != 2) {
			t.Errorf("node-agent: %+v", e)
		}
		if e.Name == "migrate" && (e.Live || len(e.Addrs) != 0) {
			t.Errorf("exited container: %+v", e)
		}
	}
}

func TestParseCombinations(t *testing.T) {
	pods, docker := readTestdata(t, "pods.json"), readTestdata(t, "docker-inspect.json")
	onePod := func(uid, ip, phase string) string {
		return fmt.Sprintf(`{"kind":"Pod","metadata":{"name":"p-%s","namespace":"ns","uid":%q},"spec":{"containers":[{"name":"c","image":"i"}]},
			"status":{"phase":%q,"podIP":%q,"containerStatuses":[{"name":"c","containerID":"cri-o://%s"}]}}`, uid, uid, phase, ip, uid)
	}
	dockerOn := func(id, ip string, running bool, labels string) string {
		return fmt.Sprintf(`[{"Id":%q,"Name":"/c-%s","State":{"Running":%v},"Config":{"Image":"img","Labels":%s},
			"HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":%q}}}}]`, id, id, running, labels, ip)
	}
	for _, tc := range []struct {
		name      string
		in        string
		stats     Stats
		addr      string
		wantName  string // "" for not attributed
		wantSrc   string
		wantRT    string
		wantPodNS string
	}{
		{name: "both files concatenated", in: string(pods) + "\n" + string(docker),
			stats: Stats{Pods: 7, Containers: 6, Addresses: 9, HostNetwork: 2}, addr: "172.18.0.3", wantName: "shop-db-1", wantSrc: SourceDocker, wantRT: "docker"},
		{name: "one pod object", in: onePod("u1", "10.1.0.5", "Running"),
			stats: Stats{Pods: 1, Addresses: 1}, addr: "10.1.0.5", wantName: "c", wantSrc: SourceKubernetes, wantRT: "cri-o", wantPodNS: "ns"},
		{name: "pod list kind", in: `{"kind":"PodList","items":[` + onePod("u1", "10.1.0.5", "Running") + `]}`,
			stats: Stats{Pods: 1, Addresses: 1}, addr: "10.1.0.5", wantName: "c", wantSrc: SourceKubernetes, wantRT: "cri-o", wantPodNS: "ns"},
		{name: "other kinds in a list are skipped", in: `{"kind":"List","items":[{"kind":"Service","metadata":{"name":"s"}},` + onePod("u1", "10.1.0.5", "Running") + `]}`,
			stats: Stats{Pods: 1, Ignored: 1, Addresses: 1}, addr: "10.1.0.5", wantName: "c", wantSrc: SourceKubernetes, wantRT: "cri-o", wantPodNS: "ns"},
		{name: "no pods", in: `{"apiVersion":"v1","items":[],"kind":"List","metadata":{"resourceVersion":""}}`, addr: "10.1.0.5"},
		{name: "no containers", in: `[]`, addr: "10.1.0.5"},
		{name: "two docker hosts reuse an address", in: dockerOn("aa", "172.17.0.2", true, "{}") + dockerOn("bb", "172.17.0.2", true, "{}"),
			stats: Stats{Containers: 2, Ambiguous: 1}, addr: "172.17.0.2"},
		{name: "the live one of two claims", in: dockerOn("aa", "172.17.0.2", false, "{}") + dockerOn("bb", "172.17.0.2", true, "{}"),
			stats: Stats{Containers: 2, Addresses: 1}, addr: "172.17.0.2", wantName: "c-bb", wantSrc: SourceDocker, wantRT: "docker"},
		{name: "two completed pods", in: onePod("u1", "10.1.0.5", "Succeeded") + onePod("u2", "10.1.0.5", "Failed"),
			stats: Stats{Pods: 2, Ambiguous: 1}, addr: "10.1.0.5"},
		{name: "one completed pod keeps its address", in: onePod("u1", "10.1.0.5", "Succeeded"),
			stats: Stats{Pods: 1, Addresses: 1}, addr: "10.1.0.5", wantName: "c", wantSrc: SourceKubernetes, wantRT: "cri-o", wantPodNS: "ns"},
		// The same pod seen by kubectl and by docker inspect on its node:
		// one network identity, kubectl's view wins.
		{name: "pod and its docker containers", in: onePod("u1", "10.1.0.5", "Running") +
			dockerOn("pause", "10.1.0.5", true, `{"io.kubernetes.pod.uid":"u1","io.kubernetes.docker.type":"podsandbox","io.kubernetes.pod.name":"p-u1","io.kubernetes.pod.namespace":"ns"}`),
			stats: Stats{Pods: 1, Containers: 1, Addresses: 1}, addr: "10.1.0.5", wantName: "c", wantSrc: SourceKubernetes, wantRT: "cri-o", wantPodNS: "ns"},
		// Docker alone on a Kubernetes node: the application container,
		// not the pause container that holds the address.
		{name: "docker pod sandbox", in: dockerOn("pause", "10.1.0.5", true, `{"io.kubernetes.pod.uid":"u1","io.kubernetes.docker.type":"podsandbox"}`) +
			dockerOn("app", "", true, `{"io.kubernetes.pod.uid":"u1","io.kubernetes.pod.name":"p-u1","io.kubernetes.pod.namespace":"ns","io.kubernetes.docker.type":"container"}`),
			stats: Stats{Containers: 2, Addresses: 1}, addr: "10.1.0.5", wantName: "c-app", wantSrc: SourceDocker, wantRT: "docker", wantPodNS: "ns"},
		{name: "podman", in: `[{"Id":"p1","Name":"web","ImageName":"docker.io/library/nginx:latest","State":{"Running":true},"Config":{},"HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":{"Networks":{"podman":{"IPAddress":"10.88.0.4"}}}}]`,
			stats: Stats{Containers: 1, Addresses: 1}, addr: "10.88.0.4", wantName: "web", wantSrc: SourceDocker, wantRT: "podman"},
		{name: "addresses that name no one", in: dockerOn("aa", "0.0.0.0", true, "{}") + dockerOn("bb", "127.0.0.1", true, "{}") + dockerOn("cc", "not-an-ip", true, "{}"),
			stats: Stats{Containers: 3}, addr: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, []byte(tc.in))
			if s.Stats != tc.stats {
				t.Errorf("stats %+v, want %+v", s.Stats, tc.stats)
			}
			e, ok := s.Lookup(netip.MustParseAddr(tc.addr))
			if tc.wantName == "" {
				if ok {
					t.Errorf("%s attributed to %+v", tc.addr, e)
				}
				return
			}
			if !ok {
				t.Fatalf("%s not attributed", tc.addr)
			}
			if e.Name != tc.wantName || e.Source != tc.wantSrc || e.Runtime != tc.wantRT || e.Pod.Namespace != tc.wantPodNS {
				t.Errorf("%s: %+v", tc.addr, e)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no JSON document"},
		{"blank", " \n\t", "no JSON document"},
		{"truncated", `[{"Id":"aa","Name":"/x"`, "unexpected EOF"},
		{"not JSON", "NAME READY STATUS\nweb 1/1 Running\n", "invalid character"},
		{"a number", "42", "expected an object or an array"},
		{"a string", `"pods"`, "expected an object or an array"},
		{"another kind", `{"kind":"Service","metadata":{"name":"s"}}`, `kind "Service"`},
		{"an unknown object", `{"hello":"world"}`, "not kubectl or docker inspect"},
		{"array of numbers", `[1,2]`, "cannot unmarshal number"},
		{"labels not a map", `[{"Id":"aa","Config":{"Labels":["a"]}}]`, "cannot unmarshal array"},
		{"nested too deep", `{"items":{"items":{"items":{"items":{"items":{"items":[]}}}}}}`, "nested too deeply"},
		{"second document bad", "[]\n{", "document 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func flowBetween(a, b string) *flows.Flow {
	return &flows.Flow{Key: flows.Key{A: netip.MustParseAddr(a).As16(), B: netip.MustParseAddr(b).As16(), APort: 40000, BPort: 443, Proto: 6}, Proto: 6}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openTestdata(t *testing.T, names ...string) (*Inventory, string) {
	t.Helper()
	var data []byte
	for _, n := range names {
		data = append(data, readTestdata(t, n)...)
	}
	path := filepath.Join(t.TempDir(), "inventory.json")
	writeFile(t, path, data)
	inv, err := Open(path, Options{Poll: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Close)
	return inv, path
}

// docFields renders what an enricher wrote as flat dotted keys.
func docFields(t *testing.T, d *ecs.Doc) map[string]any {
	t.Helper()
	var nested map[string]any
	if err := json.Unmarshal(d.AppendJSON(nil), &nested); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && k != "labels" {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", nested)
	return out
}

func TestAttributeAndEnrich(t *testing.T) {
	inv, _ := openTestdata(t, "pods.json", "docker-inspect.json")
	podFields := map[string]any{
		"container.id":               "4b7c0d9e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4",
		"container.name":             "web",
		"container.image.name":       "registry.example.com/shop/web:2.14.1",
		"container.runtime":          "containerd",
		"container.labels":           map[string]any{"app": "web", "pod-template-hash": "7d9f8b6c5", "security.istio.io/tlsMode": "istio"},
		"orchestrator.type":          "kubernetes",
		"orchestrator.namespace":     "shop",
		"orchestrator.resource.type": "pod",
		"orchestrator.resource.name": "web-7d9f8b6c5-x2k4q",
		"orchestrator.resource.id":   "3f2b9c4e-8d1a-4e6b-b0c7-5a9e1d2f4c68",
	}
	dockerFields := map[string]any{
		"container.id":                   "0f9e8d7c6b5a49382716051f2e3d4c5b6a7988796a5b4c3d2e1f00112233aabb",
		"container.name":                 "shop-db-1",
		"container.image.name":           "postgres:16.2",
		"container.runtime":              "docker",
		"container.labels":               map[string]any{"com.docker.compose.project": "shop", "com.docker.compose.service": "db"},
		"outflow.container.network_mode": "shop_default",
	}
	for _, tc := range []struct {
		name    string
		f       *flows.Flow
		want    map[string]any
		inbound bool
	}{
		{"pod egress", flowBetween("10.244.1.12", "203.0.113.10"), podFields, false},
		{"pod egress IPv6", flowBetween("fd00:10:244:1::c", "2001:db8::10"), podFields, false},
		{"into the pod", flowBetween("198.51.100.7", "10.244.1.12"), podFields, true},
		{"container", flowBetween("172.18.0.3", "203.0.113.10"), dockerFields, false},
		{"pod to container: the initiator's", flowBetween("10.244.1.12", "172.18.0.3"), podFields, false},
		{"host network", flowBetween("192.168.49.3", "203.0.113.10"), map[string]any{}, false},
		{"unknown", flowBetween("10.9.9.9", "203.0.113.10"), map[string]any{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.Owner = inv.Attribute(f)
			if (f.Owner != 0) != (len(tc.want) > 0) {
				t.Fatalf("owner %d", f.Owner)
			}
			if inv.Inbound(f) != tc.inbound {
				t.Errorf("inbound %v, want %v", inv.Inbound(f), tc.inbound)
			}
			var d ecs.Doc
			inv.EnrichFlow(f, &d)
			if got := docFields(t, &d); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fields\n got %v\nwant %v", got, tc.want)
			}
			c := inv.Container(f)
			if len(tc.want) == 0 {
				if c != nil {
					t.Errorf("detect container %+v", c)
				}
				return
			}
			if c == nil || c.ID != tc.want["container.id"] || c.Name != tc.want["container.name"] || c.Image != tc.want["container.image.name"] ||
				c.PodName != tc.want["orchestrator.resource.name"] && tc.want["orchestrator.resource.name"] != nil {
				t.Fatalf("detect container %+v", c)
			}
			// Alerts: the writer adds container.*; the inventory the rest.
			var ad ecs.Doc
			inv.EnrichAlert(&detect.Alert{Container: c}, &ad)
			got := docFields(t, &ad)
			for k, v := range tc.want {
				if strings.HasPrefix(k, "orchestrator.") || k == "container.labels" {
					if !reflect.DeepEqual(got[k], v) {
						t.Errorf("alert %s = %v, want %v", k, got[k], v)
					}
				}
			}
		})
	}
	c := inv.Counters()
	if c.Attributed != 5 || c.Unattributed != 2 || c.Reloads != 1 || c.Owners != 13 {
		t.Errorf("counters %+v", c)
	}
}

func TestAttributeNoAllocs(t *testing.T) {
	inv, _ := openTestdata(t, "pods.json")
	f, g := flowBetween("10.244.1.12", "203.0.113.10"), flowBetween("10.9.9.9", "203.0.113.10")
	if n := testing.AllocsPerRun(1000, func() {
		f.Owner = inv.Attribute(f)
		g.Owner = inv.Attribute(g)
		_ = inv.Container(f)
	}); n != 0 {
		t.Errorf("%.1f allocations per lookup", n)
	}
}

func TestReload(t *testing.T) {
	one := `[{"Id":"aa","Name":"/web","State":{"Running":true},"Config":{"Image":"nginx:1"},"NetworkSettings":{"Networks":{"b":{"IPAddress":"172.17.0.2"}}}}]`
	moved := `[{"Id":"aa","Name":"/web","State":{"Running":true},"Config":{"Image":"nginx:2"},"NetworkSettings":{"Networks":{"b":{"IPAddress":"172.17.0.9"}}}}]`
	other := `[{"Id":"bb","Name":"/db","State":{"Running":true},"Config":{"Image":"pg"},"NetworkSettings":{"Networks":{"b":{"IPAddress":"172.17.0.3"}}}}]`
	path := filepath.Join(t.TempDir(), "inv.json")
	writeFile(t, path, []byte(one))
	inv, err := Open(path, Options{Poll: -1, Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	f := flowBetween("172.17.0.2", "203.0.113.10")
	f.Owner = inv.Attribute(f)
	if e, ok := inv.Owner(f); !ok || e.Image != "nginx:1" {
		t.Fatalf("owner %+v", e)
	}

	// Unchanged: no reload.
	if changed, err := inv.Reload(); changed || err != nil {
		t.Fatalf("reload of the same file: %v, %v", changed, err)
	}
	// The container moved: a flow attributed before keeps its owner,
	// with the new metadata; its old address is free.
	writeFile(t, path, []byte(moved))
	if changed, err := inv.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v, %v", changed, err)
	}
	if e, ok := inv.Owner(f); !ok || e.Image != "nginx:2" {
		t.Errorf("owner after reload %+v", e)
	}
	if o := inv.Attribute(flowBetween("172.17.0.2", "203.0.113.10")); o != 0 {
		t.Error("old address still attributed")
	}
	if o := inv.Attribute(flowBetween("172.17.0.9", "203.0.113.10")); o != f.Owner {
		t.Errorf("new address: owner %d, want %d", o, f.Owner)
	}
	// A bad file keeps the previous inventory, and is reported once.
	for _, bad := range []string{"", `[{"Id":"aa",`, `{"kind":"Node"}`} {
		writeFile(t, path, []byte(bad))
		if changed, err := inv.Reload(); changed || err == nil {
			t.Errorf("%q: reload %v, %v", bad, changed, err)
		}
		if _, err := inv.Reload(); bad != "" && err != nil {
			t.Errorf("%q reported twice: %v", bad, err)
		}
		if o := inv.Attribute(flowBetween("172.17.0.9", "203.0.113.10")); o != f.Owner {
			t.Errorf("%q: previous inventory not kept", bad)
		}
	}
	if c := inv.Counters(); c.ReloadErrors < 3 || c.LastError == "" || c.Reloads != 2 {
		t.Errorf("counters %+v", c)
	}
	// A missing file is an error too; the inventory stays.
	os.Remove(path)
	if _, err := inv.Reload(); err == nil {
		t.Error("no error for a missing file")
	}
	// The container leaves: still named until Retain has passed.
	writeFile(t, path, []byte(other))
	if _, err := inv.Reload(); err != nil {
		t.Fatal(err)
	}
	if c := inv.Counters(); c.LastError != "" || c.Owners != 2 {
		t.Errorf("counters %+v", c)
	}
	if e, ok := inv.Owner(f); !ok || e.Name != "web" {
		t.Errorf("retained owner %+v", e)
	}
	inv.mu.Lock()
	inv.publish(inv.Snapshot(), time.Now().Add(2*time.Hour))
	inv.mu.Unlock()
	if e, ok := inv.Owner(f); ok {
		t.Errorf("owner %+v kept past Retain", e)
	}
	// Owner numbers are never reused.
	if o := inv.Attribute(flowBetween("172.17.0.3", "203.0.113.10")); o == f.Owner || o == 0 {
		t.Errorf("db owner %d (web was %d)", o, f.Owner)
	}
}

// The watcher notices a change on its own.
func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.json")
	writeFile(t, path, []byte(`[]`))
	inv, err := Open(path, Options{Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	// Write elsewhere and rename, as a careful operator does.
	tmp := path + ".new"
	writeFile(t, tmp, []byte(`[{"Id":"aa","Name":"/web","State":{"Running":true},"NetworkSettings":{"Networks":{"b":{"IPAddress":"172.17.0.2"}}}}]`))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	f := flowBetween("172.17.0.2", "203.0.113.10")
	for i := 0; inv.Attribute(f) == 0; i++ {
		if i == 1000 {
			t.Fatalf("no reload within 10 s: %+v", inv.Counters())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, []byte("NAME READY\n"))
	for _, p := range []string{filepath.Join(dir, "missing.json"), bad, dir} {
		if _, err := Open(p, Options{Poll: -1}); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

func BenchmarkAttribute(b *testing.B) {
	inv, err := Open(filepath.Join("testdata", "pods.json"), Options{Poll: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer inv.Close()
	f := flowBetween("10.244.1.12", "203.0.113.10")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.Owner = inv.Attribute(f)
	}
}

func BenchmarkParse(b *testing.B) {
	data := append(readTestdata(b, "pods.json"), readTestdata(b, "docker-inspect.json")...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// Posture detectors see how a pod or container was started.
func TestDetectPosture(t *testing.T) {
	inv, _ := openTestdata(t, "pods.json", "docker-inspect.json")
	for _, tc := range []struct {
		addr string
		want detect.Container
	}{
		{"10.244.2.9", detect.Container{ID: "77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd77ee88ff99aa00bb11cc22dd", Name: "node-exporter",
			Image: "quay.io/prometheus/node-exporter:v1.7.0", Runtime: "containerd", Labels: map[string]string{"app.kubernetes.io/name": "node-exporter"},
			Privileged: true, Mounts: []detect.Mount{{Source: "/proc", Destination: "/host/proc"}, {Source: "/", Destination: "/host/root", RW: true}},
			Ports: []detect.Port{{HostPort: 9100, ContainerPort: 9100, Proto: "tcp"}}, PodNamespace: "monitoring", PodName: "node-exporter-tk9vb"}},
		{"172.17.0.2", detect.Container{ID: "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f", Name: "registry-mirror",
			Image: "registry:2", Runtime: "docker", NetworkMode: "bridge", Labels: map[string]string{},
			Ports: []detect.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5000, ContainerPort: 5000, Proto: "tcp"}}}},
	} {
		f := flowBetween(tc.addr, "203.0.113.10")
		f.Owner = inv.Attribute(f)
		if got := inv.Container(f); got == nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.addr, got, tc.want)
		}
	}
}
