package container

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// testID is a container ID made from a name, as testdata/mkproc.sh makes them.
func testID(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

func TestParseCgroupPath(t *testing.T) {
	id := testID("x")
	id2 := testID("y")
	const uid = "3f1e2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b"
	const uidU = "3f1e2a4b_5c6d_4e7f_8a9b_0c1d2e3f4a5b"
	tests := []struct {
		name, path     string
		id, rt, podUID string
		ok             bool
	}{
		{"docker cgroupfs v1", "/docker/" + id, id, RuntimeDocker, "", true},
		{"docker cgroupfs v2", "/docker/" + id, id, RuntimeDocker, "", true},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", id, RuntimeDocker, "", true},
		{"docker deleted cgroup", "/system.slice/docker-" + id + ".scope (deleted)", id, RuntimeDocker, "", true},
		{"docker in docker", "/docker/" + id2 + "/docker/" + id, id, RuntimeDocker, "", true},
		{"docker rootless", "/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service/docker/" + id, id, RuntimeDocker, "", true},
		{"docker ecs", "/ecs/8b5a8a0e4a0a4a0b9c1d2e3f4a5b6c7d/" + id, id, RuntimeDocker, "", true},
		{"docker github actions", "/actions_job/" + id, id, RuntimeDocker, "", true},
		{"kubepods cgroupfs", "/kubepods/besteffort/pod" + uid + "/" + id, id, RuntimeContainerd, uid, true},
		{"kubepods cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + id, id, RuntimeContainerd, uid, true},
		{"kubepods systemd containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", id, RuntimeContainerd, uid, true},
		{"kubepods systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", id, RuntimeContainerd, uid, true},
		{"kubepods systemd docker", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/docker-" + id + ".scope", id, RuntimeDocker, uid, true},
		{"crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + id + ".scope", id, RuntimeCRIO, uid, true},
		{"crio cgroupfs", "/kubepods/burstable/pod" + uid + "/crio-" + id, id, RuntimeCRIO, uid, true},
		{"crio conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-conmon-" + id + ".scope", "", "", "", false},
		{"podman", "/machine.slice/libpod-" + id + ".scope", id, RuntimePodman, "", true},
		{"podman split", "/machine.slice/libpod-" + id + ".scope/container", id, RuntimePodman, "", true},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", id, RuntimePodman, "", true},
		{"podman cgroupfs", "/libpod_parent/libpod-" + id, id, RuntimePodman, "", true},
		{"podman cgroupfs bare", "/libpod_parent/" + id, id, RuntimePodman, "", true},
		{"podman conmon", "/machine.slice/libpod-conmon-" + id + ".scope", "", "", "", false},
		{"nerdctl", "/system.slice/nerdctl-" + id + ".scope", id, RuntimeContainerd, "", true},
		{"bare id unknown parent", "/custom/" + id, id, "", "", true},
		{"host root", "/", "", "", "", false},
		{"empty", "", "", "", "", false},
		{"systemd service", "/system.slice/containerd.service", "", "", "", false},
		{"init scope", "/init.scope", "", "", "", false},
		{"user session", "/user.slice/user-0.slice/session-3.scope", "", "", "", false},
		{"short hex", "/process_api/e68b87ac1f9f09f9d2ce4700ab625739", "", "", "", false},
		{"upper-case hex", "/docker/" + strings.ToUpper(id), "", "", "", false},
		{"65 hex", "/docker/" + id + "0", "", "", "", false},
		{"buildkit", "/docker/buildkit/k8b1qz4d3xw2v9h5m7n0p6r1s", "", "", "", false},
		{"pod slice without container", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice", "", "", "", false},
		{"bad pod uid", "/kubepods/besteffort/podnot-a-uid/" + id, id, RuntimeContainerd, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCgroupPath(tt.path)
			if ok != tt.ok || got.ID != tt.id || got.Runtime != tt.rt || got.PodUID != tt.podUID {
				t.Errorf("ParseCgroupPath(%q) = %+v, %v; want ID %q runtime %q pod %q, %v",
					tt.path, got, ok, tt.id, tt.rt, tt.podUID, tt.ok)
			}
		})
	}
}

func TestParseCgroup(t *testing.T) {
	id := testID("z")
	tests := []struct {
		name, content string
		id, rt        string
		ok            bool
	}{
		{"v2", "0::/system.slice/docker-" + id + ".scope\n", id, RuntimeDocker, true},
		{"v2 no newline", "0::/system.slice/docker-" + id + ".scope", id, RuntimeDocker, true},
		{"v1 all hierarchies", "12:pids:/docker/" + id + "\n11:memory:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n", id, RuntimeDocker, true},
		{"hybrid unified at root", "12:memory:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n0::/\n", id, RuntimeDocker, true},
		{"v1 only one controller says", "5:cpu:/\n4:memory:/kubepods/burstable/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/" + id + "\n", id, RuntimeContainerd, true},
		{"cgroup namespace", "0::/\n", "", "", false},
		{"host v1", "12:pids:/\n11:memory:/user.slice\n0::/\n", "", "", false},
		{"path with colon", "1:name=systemd:/kubepods.slice:cri-containerd:x/docker-" + id + ".scope\n", id, RuntimeDocker, true},
		{"garbage", "no colons here\n::\n:\n", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCgroup([]byte(tt.content))
			if ok != tt.ok || got.ID != tt.id || got.Runtime != tt.rt {
				t.Errorf("ParseCgroup(%q) = %+v, %v; want %q %q %v", tt.content, got, ok, tt.id, tt.rt, tt.ok)
			}
		})
	}
}

func FuzzParseCgroup(f *testing.F) {
	id := testID("f")
	f.Add([]byte("0::/system.slice/docker-" + id + ".scope\n"))
	f.Add([]byte("12:pids:/docker/" + id + "\n0::/\n"))
	f.Add([]byte("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/crio-conmon-" + id + ".scope"))
	f.Add([]byte("0::/machine.slice/libpod-" + id + ".scope/container (deleted)"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, ok := ParseCgroup(b)
		if ok != (info.ID != "") {
			t.Fatalf("ok %v with ID %q", ok, info.ID)
		}
		if ok && !isContainerID(info.ID) {
			t.Fatalf("ID %q is not a container ID", info.ID)
		}
		if info.PodUID != "" && len(info.PodUID) != 36 {
			t.Fatalf("pod UID %q", info.PodUID)
		}
	})
}

func TestParseNSLink(t *testing.T) {
	tests := []struct {
		link, kind string
		want       uint64
		ok         bool
	}{
		{"net:[4026531840]", "net", 4026531840, true},
		{"socket:[12345]", "socket", 12345, true},
		{"socket:[12345]", "net", 0, false},
		{"net:[]", "net", 0, false},
		{"net:[0]", "net", 0, false},
		{"net:[+5]", "net", 0, false},
		{"net:[-5]", "net", 0, false},
		{"net:[18446744073709551616]", "net", 0, false},
		{"net:4026531840", "net", 0, false},
		{"net:[4026531840", "net", 0, false},
		{"pipe:[77]", "socket", 0, false},
		{"/dev/null", "socket", 0, false},
		{"anon_inode:[eventpoll]", "anon_inode", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNSLink(tt.link, tt.kind)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseNSLink(%q, %q) = %d, %v; want %d, %v", tt.link, tt.kind, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseNSLink(f *testing.F) {
	f.Add("net:[4026531840]")
	f.Add("socket:[1]")
	f.Add("net:[99999999999999999999999]")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []string{"net", "socket"} {
			if n, ok := parseNSLink(s, kind); ok && (n == 0 || !strings.HasPrefix(s, kind+":[")) {
				t.Fatalf("parseNSLink(%q, %q) = %d", s, kind, n)
			}
		}
	})
}

func TestGenCache(t *testing.T) {
	g := newGenCache[int, int](2)
	g.put(1, 10)
	g.put(2, 20)
	g.put(3, 30) // rotates: {1,2} become old
	if v, ok := g.get(1); !ok || v != 10 {
		t.Fatalf("get(1) = %d, %v after one rotation", v, ok)
	}
	// 1 was promoted into the current generation next to 3; the next
	// rotation forgets 2, which nobody used.
	g.put(4, 40)
	if _, ok := g.get(2); ok {
		t.Errorf("2 survived two rotations without use")
	}
	for _, k := range []int{1, 3, 4} {
		if _, ok := g.get(k); !ok {
			t.Errorf("lost %d", k)
		}
	}
	if n := g.len(); n > 4 {
		t.Errorf("len %d: bound is two generations of 2", n)
	}
	g.reset()
	if _, ok := g.get(1); ok || g.len() != 0 {
		t.Errorf("reset kept entries")
	}
}
