package config

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Size is a byte count. In the file it is a plain integer (bytes) or a
// number with a unit: "100MB", "1.5GiB", "512 KiB".
type Size uint64

// Size units: SI powers of 1000 and IEC powers of 1024.
const (
	KB  Size = 1000
	MB       = 1000 * KB
	GB       = 1000 * MB
	TB       = 1000 * GB
	PB       = 1000 * TB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
	PiB Size = 1 << 50
)

var sizeUnits = []struct {
	name string
	mult Size
}{
	{"PiB", PiB}, {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"PB", PB}, {"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", 1},
}

// unitOf finds a unit by name. Prefixes are case-insensitive ("kB", "Mib"
// are fine) but the final B must be upper case: a lower-case b is bits, a
// common slip with network rates, and silently reading "100Mb" as 100
// megabytes would be 8 times off.
func unitOf(u string) (Size, error) {
	switch u {
	case "", "B", "byte", "bytes":
		return 1, nil
	}
	if !strings.HasSuffix(u, "B") {
		if strings.HasSuffix(u, "b") {
			return 0, fmt.Errorf("unit %q is bits; sizes are bytes (B)", u)
		}
		if len(u) == 1 && strings.ContainsAny(u, "kKmMgGtTpP") {
			return 0, fmt.Errorf("unit %q is ambiguous: use %sB (powers of 1000) or %siB (powers of 1024)", u, strings.ToUpper(u), strings.ToUpper(u))
		}
		return 0, fmt.Errorf("unknown unit %q", u)
	}
	for _, su := range sizeUnits {
		if strings.EqualFold(u, su.name) {
			return su.mult, nil
		}
	}
	return 0, fmt.Errorf("unknown unit %q", u)
}

// ParseSize parses a size: a non-negative integer of bytes, or a decimal
// number followed by a unit (B, KB/kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB,
// PiB), optionally separated by a space.
func ParseSize(s string) (Size, error) {
	v, why := parseSize(s)
	if why != "" {
		return 0, fmt.Errorf("invalid size %q: %s", s, why)
	}
	return v, nil
}

// parseSize returns the size or why s is not one.
func parseSize(s string) (Size, string) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, "must not be negative"
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '_') {
		i++
	}
	num, unit := strings.ReplaceAll(t[:i], "_", ""), strings.TrimSpace(t[i:])
	intPart, frac, hasFrac := strings.Cut(num, ".")
	if num == "" || num == "." || strings.Contains(frac, ".") {
		return 0, `not a size (like 1024, "100MB" or "1.5GiB")`
	}
	mult, err := unitOf(unit)
	if err != nil {
		return 0, err.Error()
	}
	var n uint64
	if intPart != "" {
		n, err = strconv.ParseUint(intPart, 10, 64)
		if err != nil {
			return 0, "too large"
		}
	}
	hi, v := bits.Mul64(n, uint64(mult))
	if hi != 0 {
		return 0, "too large"
	}
	if hasFrac && strings.Trim(frac, "0") != "" {
		f, _ := strconv.ParseFloat("0."+frac, 64)
		part := f * float64(mult)
		if part != math.Trunc(part) && mult == 1 {
			return 0, "not a whole number of bytes"
		}
		add := uint64(math.Round(part))
		if v+add < v {
			return 0, "too large"
		}
		v += add
	}
	return Size(v), ""
}

// String formats s with the largest unit that divides it exactly
// (IEC first), so it parses back to the same value.
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	for _, su := range sizeUnits {
		if s%su.mult == 0 {
			return strconv.FormatUint(uint64(s/su.mult), 10) + su.name
		}
	}
	return strconv.FormatUint(uint64(s), 10) + "B"
}
