package ecs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDocNesting(t *testing.T) {
	tests := []struct {
		name  string
		build func(d *Doc)
		want  string
	}{
		{"flat", func(d *Doc) { d.Str("message", "hi"); d.Int("a", 1) }, `{"a":1,"message":"hi"}`},
		{"nested", func(d *Doc) {
			d.Str("source.ip", "10.0.0.1")
			d.Int("source.port", 80)
			d.Str("destination.ip", "10.0.0.2")
			d.Str("event.kind", "event")
		}, `{"destination":{"ip":"10.0.0.2"},"event":{"kind":"event"},"source":{"ip":"10.0.0.1","port":80}}`},
		{"deep and siblings", func(d *Doc) {
			d.Str("a.b.c", "x")
			d.Str("a.bc", "y")
			d.Str("a.b.d.e", "z")
			d.Str("a.b.f", "w")
		}, `{"a":{"b":{"c":"x","d":{"e":"z"},"f":"w"},"bc":"y"}}`},
		{"last wins", func(d *Doc) { d.Int("x.y", 1); d.Int("x.y", 2) }, `{"x":{"y":2}}`},
		{"empty skipped", func(d *Doc) { d.Str("x", ""); d.Strs("y", nil); d.Bool("z", false) }, `{"z":false}`},
		{"escapes", func(d *Doc) { d.Str("s", "a\"b\\c\n\x01\xff") }, `{"s":"a\"b\\c\n\u0001\ufffd"}`},
		{"bytes", func(d *Doc) { d.Bytes("s", []byte("x\ty\xfe")) }, `{"s":"x\ty\ufffd"}`},
		{"array", func(d *Doc) { d.Strs("related.ip", []string{"1.1.1.1", "2.2.2.2"}) }, `{"related":{"ip":["1.1.1.1","2.2.2.2"]}}`},
		{"time", func(d *Doc) { d.Time("@timestamp", 1500000000123456789) }, `{"@timestamp":"2017-07-14T02:40:00.123456789Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Doc
			tc.build(&d)
			got := string(d.AppendJSON(nil))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			var v any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
		})
	}
}

func TestDocReuseNoAlloc(t *testing.T) {
	var d Doc
	var out []byte
	build := func() {
		d.Reset()
		d.Str("source.ip", "192.0.2.1")
		d.Uint("source.bytes", 1234)
		d.Time("event.start", 1)
		d.Str("network.transport", "tcp")
		out = d.AppendJSON(out[:0])
	}
	build()
	if n := testing.AllocsPerRun(100, build); n != 0 {
		t.Fatalf("allocs per doc = %v, want 0", n)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\x7f\xff\u2028\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		var d Doc
		d.Str("k", s)
		d.Bytes("b", []byte(s))
		var v map[string]any
		if err := json.Unmarshal(d.AppendJSON(nil), &v); err != nil {
			t.Fatalf("invalid JSON for %q: %v", s, err)
		}
		if got, ok := v["k"].(string); ok && !reflect.DeepEqual(len(got) > 0, len(s) > 0) {
			t.Fatalf("lost content for %q", s)
		}
	})
}

func TestAppendTimeMatchesRFC3339Nano(t *testing.T) {
	cases := []int64{0, 1, -1, 999_999_999, 1_500_000_000_123_456_789, 1_700_000_000_100_000_000, -86_400_000_000_001,
		951_782_400_000_000_000 /* 2000-02-29 */, 4_102_444_799_999_999_999, 253_402_300_799_999_999_999 / 1000}
	for i := int64(0); i < 2000; i++ {
		cases = append(cases, i*7_919_777_123_457_311%4_000_000_000_000_000_000)
	}
	for _, ns := range cases {
		want := time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
		if got := string(AppendTime(nil, ns)); got != want {
			t.Fatalf("AppendTime(%d) = %s, want %s", ns, got, want)
		}
	}
}

func TestDocSortStable(t *testing.T) {
	var d Doc
	d.Str("z.a", "1")
	d.Str("a", "2")
	d.Str("m.b", "3")
	d.Str("a", "4") // last set wins, so stability matters
	d.Str("m.a", "5")
	if got, want := string(d.AppendJSON(nil)), `{"a":"4","m":{"a":"5","b":"3"},"z":{"a":"1"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

// FuzzDocJSON checks AppendJSON against encoding/json on nested maps, for
// documents built one after another on one reused Doc, so that remembered
// key sequences are hit, missed and replaced. Keys come from a small
// alphabet so that prefixes are shared often, including "a-b" next to
// "a.b", where byte order and segment order differ.
func FuzzDocJSON(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x56, 0x00, 0x12, 0x34, 0x56})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1})
	f.Add([]byte{0xff, 0x00, 0xff, 0x00, 0x33, 0x33, 0x33, 0x33, 0x00, 0x33, 0x33})
	segs := []string{"a", "b", "ab", "a-b", "@t", "b_c"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Doc
		for doc := range bytes.SplitSeq(data, []byte{0}) {
			if len(doc) > 64 {
				doc = doc[:64]
			}
			d.Reset()
			want := map[string]any{}
			var keys []string
			for i, b := range doc {
				depth := 1 + int(b>>6)%3
				k := segs[int(b)%len(segs)]
				for j := 1; j < depth; j++ {
					k += "." + segs[int(b>>(2*j))%len(segs)]
				}
				if conflicts(keys, k) {
					continue
				}
				keys = append(keys, k)
				d.Int(k, int64(i))
				setPath(want, strings.Split(k, "."), float64(i))
			}
			out := d.AppendJSON(nil)
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", out, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("keys %q\ngot  %s\nwant %v", keys, out, want)
			}
		}
	})
}

// conflicts reports whether k is an object above, or a leaf below, one of
// keys ("a" and "a.b"), which Doc callers must not mix.
func conflicts(keys []string, k string) bool {
	for _, x := range keys {
		if strings.HasPrefix(x, k+".") || strings.HasPrefix(k, x+".") {
			return true
		}
	}
	return false
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// TestSafeRun checks the eight-at-a-time scan against the byte table: for
// every byte value at every position of a block, the safe run stops at the
// block that holds the first unsafe byte, and never before it.
func TestSafeRun(t *testing.T) {
	for b := 0; b < 256; b++ {
		for pos := 0; pos < 24; pos++ {
			buf := []byte(strings.Repeat("a~ !#[]}", 4)[:24])
			buf[pos] = byte(b)
			s := string(buf)
			first := len(s)
			for i := 0; i < len(s); i++ {
				if !safe[s[i]] {
					first = i
					break
				}
			}
			want := first / 8 * 8
			if first == len(s) {
				want = len(s) / 8 * 8
			}
			if got := safeRun(s); got != want {
				t.Fatalf("byte %#x at %d: safe run %d, want %d", b, pos, got, want)
			}
		}
	}
}
