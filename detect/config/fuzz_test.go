package config

import (
	"testing"
)

// FuzzParse: Parse never panics, and either returns a usable Config or
// errors that all carry the file name.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Example))
	f.Add([]byte(suppressConfig))
	f.Add([]byte("detectors: {beacon: {threshold: 0.5, min_period: 2h, max_period: 1h}}"))
	f.Add([]byte("internal_networks: [10.0.0.0/8, '::ffff:10.0.0.0/104']\ndedup_window: 1h"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("detectors:\n  file_transfer:\n    standard_ports: {ftp: [21], ftp: 22}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("Config with error")
			}
			for _, e := range errorsOf(err) {
				if e.File != "f.yaml" {
					t.Fatalf("error without file: %v", e)
				}
			}
			return
		}
		if _, err := c.Suppressor(); err != nil {
			t.Fatalf("parsed config has a bad suppressor: %v", err)
		}
		_ = c.Internal()
	})
}
