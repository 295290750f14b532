package detect

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"outflow/flows"
	"outflow/flows/decode"
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

// TestBeaconAdmission: a series waits outside the tracker until its second
// check-in, which enters it together with the first.
func TestBeaconAdmission(t *testing.T) {
	type checkin struct {
		dst  string
		at   time.Duration
		size uint64
	}
	tests := []struct {
		name            string
		checkins        []checkin
		waiting, series int
		trackerCheckins uint64
		held            []uint32 // sizes held for a second check-in
	}{
		{"one check-in waits", []checkin{{"203.0.113.50", 0, 100}}, 1, 0, 0, []uint32{100}},
		{"the second admits both", []checkin{{"203.0.113.50", 0, 100}, {"203.0.113.50", time.Minute, 100}}, 1, 1, 2, nil},
		{"other destinations wait apart", []checkin{{"203.0.113.50", 0, 100}, {"203.0.113.51", time.Minute, 200}}, 2, 0, 0, []uint32{100, 200}},
		// Held bytes saturate at 32 bits, as ring entries do.
		{"a huge check-in saturates", []checkin{{"203.0.113.50", 0, 5 << 30}}, 1, 0, 0, []uint32{math.MaxUint32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewBeacon(BeaconConfig{Seed: 1}, MustNetworks(DefaultInternal))
			for _, c := range tc.checkins {
				f := &Flow{Flow: &flows.Flow{Proto: decode.ProtoTCP}, Dst: netip.MustParseAddr(c.dst), DstPort: 443,
					Entity: Entity{IP: netip.MustParseAddr("172.17.0.5")}}
				d.checkin(f, seriesAddr, "", int64(c.at), c.size, nil)
			}
			if d.Waiting != uint64(tc.waiting) {
				t.Errorf("waiting = %d, want %d", d.Waiting, tc.waiting)
			}
			if st := d.Stats(); st.Series != tc.series || st.Checkins != tc.trackerCheckins {
				t.Errorf("tracker series, check-ins = %d, %d; want %d, %d", st.Series, st.Checkins, tc.series, tc.trackerCheckins)
			}
			var held []uint32
			for _, p := range d.pending {
				if p.tag != 0 {
					held = append(held, p.size)
				}
			}
			slices.Sort(held)
			if !slices.Equal(held, tc.held) {
				t.Errorf("held sizes = %v, want %v", held, tc.held)
			}
		})
	}
}
