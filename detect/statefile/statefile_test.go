package statefile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	good := Encode("baseline", 2, []byte(`{"a":1}`))
	tests := []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"good", good, nil, ""},
		{"empty body", Encode("baseline", 2, nil), nil, ""},
		{"empty file", nil, ErrForeign, "header"},
		{"foreign JSON", []byte(`{"a":1}`), ErrForeign, "header"},
		{"magic without space", []byte("outflow-statex"), ErrForeign, "header"},
		{"another kind", Encode("isolation", 2, []byte("{}")), ErrForeign, `holds "isolation" state, not "baseline"`},
		{"older version", Encode("baseline", 1, []byte("{}")), ErrVersion, "version 1, this build reads version 2"},
		{"no newline", []byte("outflow-state baseline 2 0 00000000"), ErrCorrupt, "header line"},
		{"long header", []byte("outflow-state " + strings.Repeat("x", 200) + "\n"), ErrCorrupt, "header line"},
		{"fields missing", []byte("outflow-state baseline 2\n"), ErrCorrupt, "2 fields"},
		{"bad version", []byte("outflow-state baseline two 0 00000000\n"), ErrCorrupt, "bad version"},
		{"bad length", []byte("outflow-state baseline 2 -1 00000000\n"), ErrCorrupt, "bad length"},
		{"bad checksum", []byte("outflow-state baseline 2 0 0000000g\n"), ErrCorrupt, "bad checksum"},
		{"short checksum", []byte("outflow-state baseline 2 0 0\n"), ErrCorrupt, "bad checksum"},
		{"cut short", good[:len(good)-2], ErrCorrupt, "cut short"},
		{"appended to", append(bytes.Clone(good), 'x'), ErrCorrupt, "appended"},
		{"bit flip", bytes.Replace(good, []byte(`"a"`), []byte(`"b"`), 1), ErrCorrupt, "checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := Decode(tc.data, "baseline", 2)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %v with %q", err, tc.err, tc.msg)
			}
			if body != nil {
				t.Fatal("a body came back with the error")
			}
		})
	}
	body, _ := Decode(good, "baseline", 2)
	if string(body) != `{"a":1}` {
		t.Fatalf("body %q", body)
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.state")
	if _, err := Read(path, "k", 1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	for _, body := range []string{"first", "second, longer than the first"} {
		if err := Write(path, "k", 1, []byte(body)); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path, "k", 1)
		if err != nil || string(got) != body {
			t.Fatalf("read %q, %v; want %q", got, err, body)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want the state file only", len(ents))
	}
	if _, err := Read(path, "other", 1); !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), path) {
		t.Fatalf("wrong kind: %v (want the path named)", err)
	}
	to, err := Quarantine(path)
	if err != nil || to != path+".rejected" {
		t.Fatal(to, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("quarantined file still in place")
	}
	// A directory that cannot be written: an error, and nothing left.
	if err := Write(filepath.Join(dir, "missing", "x.state"), "k", 1, nil); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	big := filepath.Join(dir, "big.state")
	if f, err := os.Create(big); err == nil {
		f.Truncate(MaxSize + 1) // sparse: nothing written
		f.Close()
	}
	if _, err := Read(big, "k", 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("oversized file: %v", err)
	}
}

func TestEncodePanicsOnBadKind(t *testing.T) {
	for _, k := range []string{"", "Upper", "with space", "a\nb"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("kind %q accepted", k)
				}
			}()
			Encode(k, 1, nil)
		}()
	}
}

// FuzzDecode: Decode never panics, and what it accepts re-encodes to the
// same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(Encode("baseline", 2, []byte(`{"a":1}`)))
	f.Add([]byte("outflow-state baseline 2 3 00000000\nabc"))
	f.Add([]byte("outflow-state baseline 2 99999999999 ffffffff\n"))
	f.Add([]byte("outflow-state \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := Decode(data, "baseline", 2)
		if err != nil {
			if !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if again := Encode("baseline", 2, body); !bytes.Equal(again, data) {
			// Only a non-canonical header (leading zeros, upper-case hex,
			// extra spaces) may differ.
			if _, err := Decode(again, "baseline", 2); err != nil {
				t.Fatalf("re-encoded file rejected: %v", err)
			}
		}
	})
}
