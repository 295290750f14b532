package main

import (
	"strings"
	"testing"
)

func TestMissingCaps(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		ok      bool
		missing []string // names expected in the list
	}{
		{"root", "Name:\tx\nCapEff:\t000001ffffffffff\n", true, nil},
		{"nobody", "CapEff:\t0000000000000000\n", true, []string{"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}},
		{"net caps only", "CapEff:\t0000000000003000\n", true, []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}},
		{"dac_read_search stands in for ptrace", "CapEff:\t0000000000203004\n", true, nil},
		{"no CapEff line", "Name:\tx\n", false, nil},
		{"garbage", "CapEff:\tzz\n", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := missingCaps(tc.status)
			if ok != tc.ok || len(got) != len(tc.missing) {
				t.Fatalf("missingCaps = %v, %v; want %d missing (%v), ok %v", got, ok, len(tc.missing), tc.missing, tc.ok)
			}
			for i, name := range tc.missing {
				if !strings.HasPrefix(got[i], name+" (") {
					t.Errorf("missing[%d] = %q, want %s", i, got[i], name)
				}
			}
		})
	}
}
