package l7

// EqualFoldASCII reports whether b equals lower, a lowercase ASCII word,
// ignoring ASCII case. Protocol keywords (methods, header names, modes)
// are ASCII; this compares them without allocating or decoding UTF-8.
func EqualFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
