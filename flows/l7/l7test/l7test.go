// Package l7test holds what the protocol parsers' tests share: feeding a
// session two streams in chunks chosen by fuzz input, checking that its
// output is valid, and writing seed corpora.
package l7test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz from the in-code seeds")

// FeedChunks plays two streams into s in chunks chosen by cuts: each cut
// byte's top bit is the direction and its low bits the chunk length; a zero
// length reports a gap of 7 bytes instead. What cuts leave is fed at the
// end. Over UDP each chunk is a datagram.
func FeedChunks(ctx *l7.Context, s l7.Session, streams [2][]byte, cuts []byte) {
	for _, b := range cuts {
		d := l7.Dir(b >> 7)
		n := int(b & 0x7f)
		if n == 0 {
			s.Gap(ctx, d, 7)
			continue
		}
		n = min(n, len(streams[d]))
		s.Feed(ctx, d, streams[d][:n])
		streams[d] = streams[d][n:]
	}
	for d := range streams {
		if len(streams[d]) > 0 {
			s.Feed(ctx, l7.Dir(d), streams[d])
		}
	}
}

// CheckOutput renders the session's fields and summary: the JSON must be
// valid, whatever the session was fed.
func CheckOutput(t testing.TB, s l7.Session) {
	t.Helper()
	var d ecs.Doc
	s.Fields(&d)
	if out := d.AppendJSON(nil); !json.Valid(out) {
		t.Fatalf("invalid JSON %s", out)
	}
	var sum l7.Summary
	s.Summary(&sum)
}

// WriteSeeds writes seeds (client stream, server stream, cuts) as the seed
// corpus of fuzzName in testdata/fuzz, when the test binary runs with
// -write-seeds; otherwise it skips.
func WriteSeeds(t *testing.T, fuzzName string, seeds [][3][]byte) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz/" + fuzzName)
	}
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1], s[2])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// CheckReset checks a parser's l7.Resetter: a session that served flow a
// (first streams) and was then Reset for flow b must give exactly the
// fields and summary of a new session fed b's streams, so that nothing of
// one flow leaks into the record of the next.
func CheckReset(t *testing.T, p l7.Parser, a, b *l7.FlowInfo, first, second [2][]byte) {
	t.Helper()
	used := p.NewSession(a)
	r, ok := used.(l7.Resetter)
	if !ok {
		t.Fatalf("%s sessions do not implement l7.Resetter", p.Name())
	}
	FeedChunks(&l7.Context{Flow: a}, used, first, nil)
	r.Reset(b)
	FeedChunks(&l7.Context{Flow: b}, used, second, nil)
	fresh := p.NewSession(b)
	FeedChunks(&l7.Context{Flow: b}, fresh, second, nil)
	render := func(s l7.Session) (string, l7.Summary) {
		var d ecs.Doc
		s.Fields(&d)
		var sum l7.Summary
		s.Summary(&sum)
		return string(d.AppendJSON(nil)), sum
	}
	gotF, gotS := render(used)
	wantF, wantS := render(fresh)
	if gotF != wantF {
		t.Errorf("fields after Reset:\n got %s\nwant %s", gotF, wantF)
	}
	if fmt.Sprint(gotS) != fmt.Sprint(wantS) {
		t.Errorf("summary after Reset:\n got %+v\nwant %+v", gotS, wantS)
	}
	if wantF == "{}" {
		t.Error("the second flow gave no fields: the check compares nothing")
	}
}

// Fields renders the session's fields as a flat map from dotted ECS names to
// their JSON values, failing the test if the JSON is invalid. Objects at the
// dotted names in whole (per-command or per-procedure tables) are kept as
// values instead of being flattened.
func Fields(t testing.TB, s l7.Session, whole ...string) map[string]any {
	t.Helper()
	var d ecs.Doc
	s.Fields(&d)
	out := d.AppendJSON(nil)
	var nested map[string]any
	if err := json.Unmarshal(out, &nested); err != nil {
		t.Fatalf("fields are not JSON: %v\n%s", err, out)
	}
	flat := map[string]any{}
	var walk func(string, map[string]any)
	walk = func(p string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && !slices.Contains(whole, p+k) {
				walk(p+k+".", sub)
			} else {
				flat[p+k] = v
			}
		}
	}
	walk("", nested)
	return flat
}

// JSON turns Go test values into what JSON decoding yields, to compare
// them with Fields' values.
func JSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
