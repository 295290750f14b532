package detect

import (
	"testing"

	"outflow/detect/statefile"
)

// FuzzBaseline: the state-file loader never panics on any bytes, and what
// it accepts survives a save and a load unchanged.
func FuzzBaseline(f *testing.F) {
	f.Add(statefile.Encode(baselineKind, baselineVersion, []byte(`{"workloads":[{"workload":"image:a","activity_s":3,"destinations":["tcp/443 a.example","udp/53 10.0.0.0/24"]}]}`)))
	f.Add(statefile.Encode(baselineKind, baselineVersion, []byte(`{"workloads":null}`)))
	f.Add(statefile.Encode(baselineKind, baselineVersion, []byte(`[1,2]`)))
	f.Add([]byte("outflow-state unexpected-destination 1 2 00000000\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, err := decodeBaseline(data)
		if err != nil {
			return
		}
		d := NewUnexpectedDestination(UnexpectedDestinationConfig{})
		d.workloads = ws
		again, err := decodeBaseline(statefile.Encode(baselineKind, baselineVersion, d.encode(0)))
		if err != nil {
			t.Fatalf("a loaded baseline does not load again after saving: %v", err)
		}
		if len(again) != len(ws) {
			t.Fatalf("%d workloads became %d", len(ws), len(again))
		}
		for k, w := range ws {
			w2 := again[k]
			if w2 == nil || len(w2.dests) != len(w.dests) || w2.activity != w.activity || w2.saturated != w.saturated {
				t.Fatalf("workload %q changed: %+v -> %+v", k, w, w2)
			}
			for dk := range w.dests {
				if _, ok := w2.dests[dk]; !ok {
					t.Fatalf("workload %q lost %v", k, dk)
				}
			}
		}
	})
}

// FuzzBaselineBody fuzzes the JSON body behind the header's checksum,
// which FuzzBaseline's inputs rarely get past.
func FuzzBaselineBody(f *testing.F) {
	f.Add([]byte(`{"saved":"2025-01-02T03:04:05Z","workloads":[{"workload":"image:registry.example/api","activity_s":86400,"destinations":["tcp/443 api.example.com","udp/53 10.0.0.0/24","tcp/8443 2001:db8:1:2::/64","132/9 198.51.100.0/24"]}]}`))
	f.Add([]byte(`{"workloads":[{"workload":"k8s:ns/a/b","activity_s":0,"saturated":true,"destinations":[]}]}`))
	f.Add([]byte(`{"workloads":[{"workload":"x","activity_s":1,"destinations":["tcp/1 a"]},{"workload":"x"}]}`))
	f.Add([]byte(`{"workloads":[{"workload":"x","activity_s":1e30}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ws, err := decodeBaselineBody(body)
		if err != nil {
			return
		}
		d := NewUnexpectedDestination(UnexpectedDestinationConfig{})
		d.workloads = ws
		again, err := decodeBaselineBody(d.encode(0))
		if err != nil || len(again) != len(ws) {
			t.Fatalf("a loaded baseline does not load again after saving: %v", err)
		}
		for k, w := range ws {
			if w2 := again[k]; w2 == nil || len(w2.dests) != len(w.dests) || w2.activity != w.activity {
				t.Fatalf("workload %q changed: %+v -> %+v", k, w, w2)
			}
		}
	})
}
