//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc builds a /proc tree: a host init, a Docker container with a
// namespace of its own and a Kubernetes container on the host network.
// ns/net entries are symlinks with the kernel's link text.
func fakeProc(t *testing.T) (root, dockerID, k8sID string) {
	t.Helper()
	id := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	dockerID, k8sID = id("web"), id("agent")
	root = t.TempDir()
	procs := []struct {
		pid, cgroup, netns string
	}{
		{"1", "0::/init.scope\n", "4026531840"},
		{"42", "0::/system.slice/docker-" + dockerID + ".scope\n", "4026532999"},
		{"77", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-" + k8sID + ".scope\n", "4026531840"},
	}
	for _, p := range procs {
		dir := filepath.Join(root, p.pid)
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(p.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("net:["+p.netns+"]", filepath.Join(dir, "ns", "net")); err != nil {
			t.Fatal(err)
		}
	}
	return root, dockerID, k8sID
}

func TestContainersCommand(t *testing.T) {
	root, dockerID, k8sID := fakeProc(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"containers", "--proc", root, "--docker-socket", ""}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CONTAINER ID") {
		t.Fatalf("table:\n%s", stdout.String())
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	// ID NAME IMAGE PID NETNS NETWORK HOST-IFACES ADDRESSES
	if f := rows[dockerID[:12]]; len(f) != 8 || f[3] != "42" || f[4] != "4026532999" || f[5] != "-" {
		t.Errorf("docker row %q", f)
	}
	if f := rows[k8sID[:12]]; len(f) != 8 || f[3] != "77" || f[4] != "4026531840" || f[5] != "host" {
		t.Errorf("host-network row %q", f)
	}

	stdout.Reset()
	if code := run([]string{"containers", "--json", "--proc", root, "--docker-socket", ""}, &stdout, &stderr); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr.String())
	}
	got := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, l)
		}
		got[m["id"].(string)] = m
	}
	if m := got[dockerID]; m == nil || m["runtime"] != "docker" || m["pid"] != 42.0 || m["netns"] != 4026532999.0 || m["host_network"] != false {
		t.Errorf("docker object %v", m)
	}
	if m := got[k8sID]; m == nil || m["runtime"] != "containerd" || m["host_network"] != true ||
		m["pod"].(map[string]any)["uid"] != "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" {
		t.Errorf("kubernetes object %v", m)
	}
}

func TestContainersCommandErrors(t *testing.T) {
	root, _, _ := fakeProc(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		errorHas string
	}{
		{"missing proc", []string{"containers", "--proc", filepath.Join(root, "nope"), "--docker-socket", ""}, 1, "--proc"},
		{"explicit socket that is not there", []string{"containers", "--proc", root, "--docker-socket", filepath.Join(root, "docker.sock")}, 1, "docker.sock"},
		{"unknown flag", []string{"containers", "--bogus"}, 2, "bogus"},
		{"argument", []string{"containers", "extra"}, 2, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.errorHas) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.errorHas)
			}
			if strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("stack trace in %q", stderr.String())
			}
		})
	}
}
