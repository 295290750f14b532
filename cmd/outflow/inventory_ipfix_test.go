package main

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outflow/capture/synth"
)

// recField returns the value at a dotted ECS key of a nested record.
func recField(m map[string]any, key string) any {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// An inventory written as an operator would: kubectl output then docker
// inspect output, in one file.
const invTestFile = `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"api-6d8f7c9b4-7xk2p","namespace":"payments","uid":"0b6f1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e","labels":{"app":"api"}},
 "spec":{"nodeName":"worker-1","containers":[{"name":"api","image":"registry.example.com/payments/api:3.2.0"}]},
 "status":{"phase":"Running","podIP":"172.17.0.2","podIPs":[{"ip":"172.17.0.2"}],
  "containerStatuses":[{"name":"api","image":"registry.example.com/payments/api:3.2.0","containerID":"containerd://1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988"}]}}]}
[{"Id":"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b","Name":"/batch-runner","State":{"Running":true},
  "Config":{"Image":"batch:1.0","Labels":{"team":"data"}},"HostConfig":{"NetworkMode":"bridge"},
  "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.3"}}}}]
`

func TestReadInventory(t *testing.T) {
	dir := t.TempDir()
	var frames [][]byte
	frames = append(frames, tcpConn(t, "172.17.0.2", "203.0.113.5", 40001, 443, 3)...)
	frames = append(frames, tcpConn(t, "172.17.0.3", "203.0.113.5", 40002, 443, 3)...)
	frames = append(frames, tcpConn(t, "172.17.0.9", "203.0.113.5", 40003, 443, 3)...)
	pcap := filepath.Join(dir, "in.pcap")
	writePcap(t, pcap, frames, false)
	inv := filepath.Join(dir, "inventory.json")
	if err := os.WriteFile(inv, []byte(invTestFile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The sharded pipeline attributes the same way as one worker.
	for _, workers := range []string{"1", "2"} {
		t.Run("workers="+workers, func(t *testing.T) {
			r := runOutflow(t, nil, "read", "--flows", "--workers", workers, "--inventory", inv, pcap)
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			want := map[float64]map[string]any{
				40001: {
					"container.id": "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988", "container.name": "api",
					"container.image.name": "registry.example.com/payments/api:3.2.0", "container.runtime": "containerd",
					"container.labels.app": "api", "orchestrator.type": "kubernetes", "orchestrator.namespace": "payments",
					"orchestrator.resource.type": "pod", "orchestrator.resource.name": "api-6d8f7c9b4-7xk2p",
					"orchestrator.resource.id": "0b6f1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e",
				},
				40002: {
					"container.id": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b", "container.name": "batch-runner",
					"container.image.name": "batch:1.0", "container.runtime": "docker", "container.labels.team": "data",
					"outflow.container.network_mode": "bridge", "orchestrator.type": nil,
				},
				40003: {"container.id": nil, "orchestrator.type": nil},
			}
			seen := 0
			for _, rec := range r.records {
				if recField(rec, "event.dataset") != "outflow.flow" {
					continue
				}
				port, _ := recField(rec, "source.port").(float64)
				for k, v := range want[port] {
					if got := recField(rec, k); got != v {
						t.Errorf("flow from port %v: %s = %v, want %v", port, k, got, v)
					}
				}
				seen++
			}
			if seen != 3 {
				t.Errorf("%d flow records, want 3", seen)
			}
			for _, s := range []string{"inventory loaded", "pods=1 containers=1 ignored_objects=0 addresses=2", "inventory_attributed_flows=2", "inventory_unattributed_flows=1"} {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

func TestReadInventoryAndIPFIXErrors(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "in.pcap")
	writePcap(t, pcap, tcpConn(t, "172.17.0.2", "203.0.113.5", 40001, 443, 1), false)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("NAME                  READY   STATUS\napi-6d8f7c9b4-7xk2p   1/1     Running\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		has  string
	}{
		{"missing inventory", []string{"read", "--inventory", filepath.Join(dir, "nope.json"), pcap}, 1, "nope.json"},
		{"not JSON: kubectl's table output", []string{"read", "--inventory", bad, pcap}, 1, "bad.json"},
		{"rate must be positive", []string{"read", "--ipfix", "127.0.0.1:4739", "--ipfix-rate", "0", pcap}, 2, "--ipfix-rate"},
		{"collector address", []string{"read", "--ipfix", "no-port", pcap}, 1, "--ipfix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runOutflow(t, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.has) {
				t.Errorf("exit %d, want %d, stderr should name %q:\n%s", r.code, tc.code, tc.has, r.stderr)
			}
		})
	}
}

// read --ipfix sends every flow record to the collector (here a plain UDP
// socket: the message contents are checked against nfcapd in flows/ipfix).
func TestReadIPFIX(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dir := t.TempDir()
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, tcpConn(t, "172.17.0.2", "203.0.113.5", uint16(41000+i), 443, 1)...)
	}
	pcap := filepath.Join(dir, "in.pcap")
	writePcap(t, pcap, frames, false)
	// Two workers share one exporter: sequence numbers stay one series.
	r := runOutflow(t, nil, "read", "--workers", "2", "--ipfix", pc.LocalAddr().String(), "--ipfix-domain", "42", pcap)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "ipfix_records=40 ipfix_dropped=0") {
		t.Errorf("summary lacks the export counters:\n%s", r.stderr)
	}
	// Every message is IPFIX from domain 42; the sequence numbers count
	// the records.
	buf := make([]byte, 65536)
	var seq uint32
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for seq < 40 {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d records: %v", seq, err)
		}
		m := buf[:n]
		if n < 16 || binary.BigEndian.Uint16(m) != 10 || int(binary.BigEndian.Uint16(m[2:])) != n || binary.BigEndian.Uint32(m[12:]) != 42 {
			t.Fatalf("not an IPFIX message from domain 42: % x", m[:min(n, 16)])
		}
		if got := binary.BigEndian.Uint32(m[8:]); got != seq {
			t.Fatalf("sequence %d, want %d", got, seq)
		}
		// Count the data records: each set after the templates.
		for p := m[16:]; len(p) >= 4; {
			id, l := binary.BigEndian.Uint16(p), int(binary.BigEndian.Uint16(p[2:]))
			if l < 4 || l > len(p) {
				t.Fatalf("set length %d", l)
			}
			if id >= 256 {
				seq += uint32(ipfixDataRecords(p[4:l]))
			}
			p = p[l:]
		}
	}
}

// ipfixDataRecords counts outflow's IPv4 data records in a set body: fixed
// fields, then two length-prefixed strings.
func ipfixDataRecords(b []byte) int {
	const fixed = 4 + 4 + 2 + 2 + 1 + 2 + 1 + 1 + 8*4 + 8 + 8 + 1
	n := 0
	for len(b) >= fixed+2 {
		b = b[fixed:]
		for range 2 {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return n
			}
			b = b[1+int(b[0]):]
		}
		n++
	}
	return n
}

// Alerts name the pod too: the detectors key on its container, and the
// alert carries the orchestrator fields.
func TestReadInventoryAlerts(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "demo.pcap")
	if _, err := synth.WriteFile(pcap, synth.Demo(1), synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	// The demo's beaconing container, 172.17.0.4, as a pod.
	inv := filepath.Join(dir, "pods.json")
	os.WriteFile(inv, []byte(`{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"beacon-0","namespace":"ops","uid":"u-1"},
		"spec":{"containers":[{"name":"agent","image":"agent:1"}]},"status":{"phase":"Running","podIP":"172.17.0.4",
		"containerStatuses":[{"name":"agent","containerID":"containerd://4444444444444444444444444444444444444444444444444444444444444444"}]}}]}`), 0o644)
	for _, workers := range []string{"1", "2"} {
		t.Run("workers="+workers, func(t *testing.T) {
			r := runOutflow(t, nil, "read", "--workers", workers, "--inventory", inv, pcap)
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			n := 0
			for _, rec := range r.records {
				if recField(rec, "outflow.entity") != "container 444444444444" {
					continue
				}
				n++
				for k, v := range map[string]any{"container.name": "agent", "container.image.name": "agent:1", "orchestrator.namespace": "ops",
					"orchestrator.resource.name": "beacon-0", "orchestrator.type": "kubernetes"} {
					if got := recField(rec, k); got != v {
						t.Errorf("alert %v: %s = %v, want %v", recField(rec, "rule.name"), k, got, v)
					}
				}
			}
			if n == 0 {
				t.Errorf("no alert about the pod's container; entities: %v", func() (es []any) {
					for _, rec := range r.records {
						es = append(es, recField(rec, "outflow.entity"))
					}
					return es
				}())
			}
		})
	}
}
