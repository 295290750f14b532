// Package ecs builds Elastic Common Schema documents as newline-delimited
// JSON without reflection and without allocating per document.
//
// Fields are added with dotted ECS names in any order ("source.ip",
// "network.protocol"); AppendJSON writes them as nested objects, grouped by
// prefix, keys in a stable sorted order. Values are encoded into the Doc's
// own buffer as they are added, so a Doc reused with Reset allocates nothing
// once its buffers have grown to the largest document.
package ecs

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type field struct {
	key        string
	start, end int // encoded JSON value in Doc.buf
}

// Doc is one ECS document under construction. The zero value is ready to use.
// A Doc is not safe for concurrent use.
type Doc struct {
	buf    []byte
	fields []field

	// Skeletons of recent documents: a reused Doc mostly sees a few key
	// sequences (one per record kind), whose JSON structure is worked out
	// once. See AppendJSON.
	skel  [maxSkeletons]skeleton
	nskel int // slots filled
	next  int // slot to replace next
}

// maxSkeletons is how many key sequences a Doc remembers: enough for the
// record kinds of the busiest protocols.
const maxSkeletons = 16

// skeleton is the JSON structure of one key sequence.
type skeleton struct {
	keys  []string // field keys in the order they were added
	order []int32  // fields in output order (sorted; of duplicates, the last)
	pre   []int32  // text[pre[j]:pre[j+1]] comes before field order[j]'s value
	text  []byte   // separators, object openings and keys; the closing tail last
}

// Reset empties the document, keeping its buffers.
func (d *Doc) Reset() {
	d.buf = d.buf[:0]
	d.fields = d.fields[:0]
}

// Len is the number of fields set.
func (d *Doc) Len() int { return len(d.fields) }

func (d *Doc) add(key string, start int) {
	d.fields = append(d.fields, field{key: key, start: start, end: len(d.buf)})
}

// Str sets a string field. Empty strings are skipped: ECS omits unknowns.
func (d *Doc) Str(key, v string) {
	if v == "" {
		return
	}
	s := len(d.buf)
	d.buf = AppendString(d.buf, v)
	d.add(key, s)
}

// Bytes sets a string field from bytes (invalid UTF-8 is replaced).
func (d *Doc) Bytes(key string, v []byte) {
	if len(v) == 0 {
		return
	}
	s := len(d.buf)
	d.buf = appendStringBytes(d.buf, v)
	d.add(key, s)
}

// Int sets an integer field.
func (d *Doc) Int(key string, v int64) {
	s := len(d.buf)
	d.buf = strconv.AppendInt(d.buf, v, 10)
	d.add(key, s)
}

// Uint sets an unsigned integer field.
func (d *Doc) Uint(key string, v uint64) {
	s := len(d.buf)
	d.buf = strconv.AppendUint(d.buf, v, 10)
	d.add(key, s)
}

// Float sets a number field with up to prec decimals.
func (d *Doc) Float(key string, v float64, prec int) {
	s := len(d.buf)
	d.buf = strconv.AppendFloat(d.buf, v, 'f', prec, 64)
	d.add(key, s)
}

// Bool sets a boolean field.
func (d *Doc) Bool(key string, v bool) {
	s := len(d.buf)
	d.buf = strconv.AppendBool(d.buf, v)
	d.add(key, s)
}

// Time sets a timestamp from Unix nanoseconds: RFC 3339, UTC, nanoseconds.
func (d *Doc) Time(key string, ns int64) {
	s := len(d.buf)
	d.buf = append(d.buf, '"')
	d.buf = AppendTime(d.buf, ns)
	d.buf = append(d.buf, '"')
	d.add(key, s)
}

// AppendTime appends Unix nanoseconds as RFC 3339 in UTC with the fraction
// trimmed of trailing zeros: the same text as time.RFC3339Nano, several
// times faster, since every record carries three timestamps.
func AppendTime(dst []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	if days < -719162 || days > 2932896 { // outside years 0001-9999: let time do it
		return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	dst = append4(dst, int(y))
	dst = append(dst, '-')
	dst = append2(dst, int(m))
	dst = append(dst, '-')
	dst = append2(dst, int(d))
	dst = append(dst, 'T')
	dst = append2(dst, int(rem/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(rem/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(rem%60))
	if frac != 0 {
		var b [10]byte
		b[0] = '.'
		for i := 9; i >= 1; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for b[n-1] == '0' {
			n--
		}
		dst = append(dst, b[:n]...)
	}
	return append(dst, 'Z')
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// Strs sets an array of strings. A nil or empty slice is skipped.
func (d *Doc) Strs(key string, v []string) {
	if len(v) == 0 {
		return
	}
	s := len(d.buf)
	d.buf = append(d.buf, '[')
	for i, x := range v {
		if i > 0 {
			d.buf = append(d.buf, ',')
		}
		d.buf = AppendString(d.buf, x)
	}
	d.buf = append(d.buf, ']')
	d.add(key, s)
}

// Raw sets a field to already-encoded JSON (an object, array or number).
// The caller guarantees it is valid JSON.
func (d *Doc) Raw(key string, json []byte) {
	if len(json) == 0 {
		return
	}
	s := len(d.buf)
	d.buf = append(d.buf, json...)
	d.add(key, s)
}

// AppendJSON appends the document as one JSON object (no newline) to dst.
// Of fields set more than once, the last one wins. Callers must not set both
// a key and a longer key below it ("a" and "a.b"); ECS never does.
//
// The structure around the values (object nesting, keys, commas) depends
// only on the sequence of keys, so it is computed once per sequence and
// kept: a document whose keys match a remembered sequence is written as
// structure and values interleaved, without sorting or walking its keys.
func (d *Doc) AppendJSON(dst []byte) []byte {
	sk := d.skeleton()
	dst = append(dst, '{')
	for j, i := range sk.order {
		f := &d.fields[i]
		dst = append(dst, sk.text[sk.pre[j]:sk.pre[j+1]]...)
		dst = append(dst, d.buf[f.start:f.end]...)
	}
	dst = append(dst, sk.text[sk.pre[len(sk.order)]:]...)
	return append(dst, '}')
}

// skeleton returns the remembered skeleton of the document's key sequence,
// building it (in the least recently built slot) when there is none.
func (d *Doc) skeleton() *skeleton {
	for i := range d.nskel {
		sk := &d.skel[i]
		if len(sk.keys) != len(d.fields) {
			continue
		}
		match := true
		// Keys are mostly the same constants, so equal strings share their
		// bytes and compare by pointer.
		for j := range d.fields {
			if sk.keys[j] != d.fields[j].key {
				match = false
				break
			}
		}
		if match {
			return sk
		}
	}
	sk := &d.skel[d.next]
	d.next = (d.next + 1) % maxSkeletons
	if d.nskel < maxSkeletons {
		d.nskel++
	}
	sk.build(d.fields)
	return sk
}

// build works out the structure of the key sequence of fields.
func (sk *skeleton) build(fields []field) {
	sk.keys = sk.keys[:0]
	sk.order = sk.order[:0]
	for i := range fields {
		sk.keys = append(sk.keys, fields[i].key)
		sk.order = append(sk.order, int32(i))
	}
	// Stable sort of the field indexes by key. Plain byte order suffices
	// for nesting: keys that share a prefix ("source.") are contiguous.
	o := sk.order
	for i := 1; i < len(o); i++ {
		x := o[i]
		j := i
		for j > 0 && sk.keys[o[j-1]] > sk.keys[x] {
			o[j] = o[j-1]
			j--
		}
		o[j] = x
	}
	// Of equal keys, keep the last set.
	w := 0
	for i, x := range o {
		if i+1 < len(o) && sk.keys[o[i+1]] == sk.keys[x] {
			continue
		}
		o[w] = x
		w++
	}
	sk.order = o[:w]

	t := sk.text[:0]
	sk.pre = sk.pre[:0]
	prev := "" // key of the previous field written
	for _, i := range sk.order {
		k := sk.keys[i]
		sk.pre = append(sk.pre, int32(len(t)))
		// common: length of the shared prefix of whole object segments.
		common, n := 0, min(len(prev), len(k))
		for j := 0; j < n && prev[j] == k[j]; j++ {
			if k[j] == '.' {
				common = j + 1
			}
		}
		// Close the objects of prev below the shared ones.
		for range strings.Count(prev[common:], ".") {
			t = append(t, '}')
		}
		if prev != "" {
			t = append(t, ',')
		}
		// Open the objects of k below the shared ones, then the leaf.
		pos := common
		for {
			dot := strings.IndexByte(k[pos:], '.')
			if dot < 0 {
				break
			}
			t = appendKey(t, k[pos:pos+dot])
			t = append(t, ':', '{')
			pos += dot + 1
		}
		t = appendKey(t, k[pos:])
		t = append(t, ':')
		prev = k
	}
	sk.pre = append(sk.pre, int32(len(t)))
	for range strings.Count(prev, ".") {
		t = append(t, '}')
	}
	sk.text = t
}

// safe marks the bytes a JSON string holds as they are: printable ASCII
// other than the quote and the backslash.
var safe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendKey writes a key segment. Keys are mostly the program's own
// constants (ECS names), so they are checked for safety, not escaped, in the
// common case; label keys come from the runtime and may need escaping.
func appendKey(dst []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if !safe[k[i]] {
			return AppendString(dst, k)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// safeRun returns how many leading bytes of s are safe (need no escaping),
// eight at a time: most strings in records (names, hashes, fingerprints,
// user agents) are plain ASCII throughout. It stops at the eight bytes that
// hold the first unsafe one; the caller goes on byte by byte from there.
func safeRun(s string) int {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below 0x20, at or above 0x7f, or equal to '"' or '\\'
		// sets its high bit in one of these (exact for "is there any").
		ctl := (x - 0x20*ones) &^ x
		del := x + 0x01*ones // 0x7f and up carry into the high bit
		quote := x ^ ('"' * ones)
		bslash := x ^ ('\\' * ones)
		if (ctl|del|x|(quote-ones)&^quote|(bslash-ones)&^bslash)&high != 0 {
			break
		}
	}
	return i
}

// AppendString appends s as a JSON string literal.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i += safeRun(s[i:])
		if i >= len(s) {
			break
		}
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendStringBytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, b[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// Addr sets an IP address field; the zero Addr is skipped.
func (d *Doc) Addr(key string, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	s := len(d.buf)
	d.buf = append(d.buf, '"')
	d.buf = a.AppendTo(d.buf)
	d.buf = append(d.buf, '"')
	d.add(key, s)
}

// Addrs sets an array of IP addresses, skipping invalid ones and repeats.
func (d *Doc) Addrs(key string, addrs ...netip.Addr) {
	s := len(d.buf)
	d.buf = append(d.buf, '[')
	n := 0
outer:
	for i, a := range addrs {
		if !a.IsValid() {
			continue
		}
		for _, b := range addrs[:i] {
			if a == b {
				continue outer
			}
		}
		if n > 0 {
			d.buf = append(d.buf, ',')
		}
		d.buf = append(d.buf, '"')
		d.buf = a.AppendTo(d.buf)
		d.buf = append(d.buf, '"')
		n++
	}
	if n == 0 {
		d.buf = d.buf[:s]
		return
	}
	d.buf = append(d.buf, ']')
	d.add(key, s)
}
