package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"outflow/capture/synth"
)

// TestReadDeterministic: offline analysis of one capture must give the same
// records and alerts every time (forensics, diffing runs). Hash keys that
// are random live (against crafted collisions) are fixed offline; a busy
// capture with tens of thousands of beacon series makes collisions in the
// beacon detector's admission table certain, so a random key shows here.
func TestReadDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 300k-packet capture")
	}
	s, err := synth.Bench(300_000, 8_000, 7)
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(t.TempDir(), "bench.pcap")
	if _, err := synth.WriteFile(pcap, s, synth.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	var runs [2][]string
	for i := range runs {
		r := runOutflow(t, nil, "read", "--flows", pcap)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		alerts := 0
		for _, m := range r.records {
			if ev, ok := m["event"].(map[string]any); ok {
				delete(ev, "created") // wall clock: when the alert was written
				if ev["kind"] == "alert" {
					alerts++
				}
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			runs[i] = append(runs[i], string(b))
		}
		if alerts == 0 {
			t.Fatal("no alerts: the capture does not exercise the detectors")
		}
	}
	if len(runs[0]) != len(runs[1]) {
		t.Fatalf("run 1 wrote %d documents, run 2 %d", len(runs[0]), len(runs[1]))
	}
	for i := range runs[0] {
		if runs[0][i] != runs[1][i] {
			t.Fatalf("document %d differs:\n%s\n%s", i, runs[0][i], runs[1][i])
		}
	}
}
