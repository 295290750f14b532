package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// tcpConn returns the frames of one TCP connection: handshake, n data
// segments from the client, FIN close.
func tcpConn(t *testing.T, cli, srv string, cport, sport uint16, n int) [][]byte {
	t.Helper()
	var frames [][]byte
	mk := func(fromClient bool, syn, ack, fin bool, payload []byte) {
		src, dst, sp, dp := cli, srv, cport, sport
		if !fromClient {
			src, dst, sp, dp = srv, cli, sport, cport
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: syn, ACK: ack, FIN: fin, Window: 65535}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), buf.Bytes()...))
	}
	mk(true, true, false, false, nil)
	mk(false, true, true, false, nil)
	mk(true, false, true, false, nil)
	for i := 0; i < n; i++ {
		mk(true, false, true, false, bytes.Repeat([]byte{'x'}, 100))
	}
	mk(true, false, true, true, nil)
	mk(false, false, true, true, nil)
	mk(true, false, true, false, nil)
	return frames
}

// writePcap writes frames one millisecond apart.
func writePcap(t *testing.T, path string, frames [][]byte, gz bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w = bufio.NewWriter(f)
	var out interface{ Write([]byte) (int, error) } = w
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		out = zw
	}
	pw := pcapgo.NewWriter(out)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}
		if err := pw.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	if zw != nil {
		zw.Close()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

type runResult struct {
	code    int
	records []map[string]any
	stderr  string
}

func runOutflow(t *testing.T, stdin []byte, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if stdin != nil {
		// read - takes standard input from os.Stdin.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := os.Stdin
		os.Stdin = r
		defer func() { os.Stdin = old }()
		go func() { w.Write(stdin); w.Close() }()
	}
	code := run(args, &stdout, &stderr)
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, line)
		}
		recs = append(recs, m)
	}
	return runResult{code, recs, stderr.String()}
}

func flowPorts(recs []map[string]any) []float64 {
	var ports []float64
	for _, r := range recs {
		if ev, _ := r["event"].(map[string]any); ev["dataset"] == "outflow.flow" {
			ports = append(ports, r["source"].(map[string]any)["port"].(float64))
		}
	}
	return ports
}

func TestReadFilesAndDamage(t *testing.T) {
	dir := t.TempDir()
	var frames [][]byte
	frames = append(frames, tcpConn(t, "172.17.0.2", "203.0.113.5", 40001, 443, 3)...)
	frames = append(frames, tcpConn(t, "172.17.0.2", "203.0.113.5", 40002, 443, 3)...)
	good := filepath.Join(dir, "good.pcap")
	writePcap(t, good, frames, false)
	gz := filepath.Join(dir, "good.pcap.gz")
	writePcap(t, gz, frames, true)
	data, _ := os.ReadFile(good)
	// Cut the file in the middle of the second connection's third frame.
	firstConnBytes := 24
	for _, fr := range frames[:len(frames)/2+2] {
		firstConnBytes += 16 + len(fr)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:firstConnBytes+10], 0o644)
	notCap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCap, []byte("hello, not a capture\n"), 0o644)

	tests := []struct {
		name     string
		args     []string
		stdin    []byte
		code     int
		ports    []float64
		errorHas []string
	}{
		{"pcap", []string{"read", "--flows", good}, nil, 0, []float64{40001, 40002}, nil},
		{"gzip found by magic", []string{"read", "--flows", gz}, nil, 0, []float64{40001, 40002}, nil},
		{"standard input", []string{"read", "--flows", "-"}, data, 0, []float64{40001, 40002}, nil},
		{"cut mid-record keeps earlier flows, exits 0", []string{"read", "--flows", cut}, nil, 0, []float64{40001, 40002}, []string{"cut.pcap", "offset"}},
		{"missing file: error, other files still read", []string{"read", "--flows", filepath.Join(dir, "nope.pcap"), good}, nil, 1, []float64{40001, 40002}, []string{"nope.pcap"}},
		{"not a capture", []string{"read", "--flows", notCap}, nil, 1, nil, []string{"notes.txt", "not a pcap"}},
		{"no files is a usage error", []string{"read"}, nil, 2, nil, nil},
		{"bad flag value", []string{"read", "--max-flows", "0", good}, nil, 2, nil, []string{"max-flows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runOutflow(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			got := flowPorts(r.records)
			if len(got) != len(tc.ports) {
				t.Fatalf("flows from ports %v, want %v", got, tc.ports)
			}
			for i := range got {
				if got[i] != tc.ports[i] {
					t.Fatalf("flows from ports %v, want %v", got, tc.ports)
				}
			}
			for _, s := range tc.errorHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tc.code != 2 && !strings.Contains(r.stderr, "packets_per_second=") {
				t.Errorf("no summary on stderr:\n%s", r.stderr)
			}
		})
	}
}
