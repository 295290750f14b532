package detect

import (
	"testing"
	"time"

	"outflow/flows"
)

// TestBeaconScope: every destination is scored by default; with egress_only
// (RITA's scope) only those outside the internal networks, and listed
// egress proxies.
func TestBeaconScope(t *testing.T) {
	tests := []struct {
		name string
		dst  string
		cfg  BeaconConfig
		want int
	}{
		{"outside destination", "203.0.113.50", BeaconConfig{}, 1},
		{"internal destination", "10.20.0.9", BeaconConfig{}, 1},
		{"outside destination, egress_only", "203.0.113.50", BeaconConfig{EgressOnly: true}, 1},
		{"internal destination, egress_only", "10.20.0.9", BeaconConfig{EgressOnly: true}, 0},
		{"internal egress proxy, egress_only", "10.20.0.9", BeaconConfig{EgressOnly: true, Proxies: MustNetworks([]string{"10.20.0.9/32"})}, 1},
		{"another internal address than the proxy", "10.20.0.10", BeaconConfig{EgressOnly: true, Proxies: MustNetworks([]string{"10.20.0.9/32"})}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Seed = 1
			r := newRig(NewBeacon(tc.cfg, MustNetworks(DefaultInternal)))
			// A check-in every 60 s (+-1 s) for 20 minutes, 2 KB each.
			for i := range 20 {
				at := time.Duration(i)*time.Minute + time.Duration(i%3)*time.Second
				r.tcpUpload("172.17.0.5", tc.dst, uint16(40000+i), 443, at, time.Second, 2800)
			}
			r.table.Flush(flows.EndEndOfInput)
			r.engine.Flush()
			got := 0
			for _, a := range r.alerts {
				if a.Rule == BeaconRule && !a.Update {
					got++
				}
			}
			if got != tc.want {
				t.Fatalf("beacon alerts (not counting updates) = %d, want %d", got, tc.want)
			}
		})
	}
}
