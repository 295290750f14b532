package l7

import "testing"

func TestEqualFoldASCII(t *testing.T) {
	tests := []struct {
		b, lower string
		want     bool
	}{
		{"Content-Length", "content-length", true},
		{"OCTET", "octet", true},
		{"octet", "octet", true},
		{"octe", "octet", false},
		{"octet!", "octet", false},
		{"0ctet", "octet", false},
		{"", "", true},
		{"\xc3\x89", "\xc3\xa9", false}, // only ASCII folds
	}
	for _, tc := range tests {
		if got := EqualFoldASCII([]byte(tc.b), tc.lower); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.b, tc.lower, got, tc.want)
		}
	}
}
