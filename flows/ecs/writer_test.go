package ecs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// lines records each Write call.
type lines struct {
	calls []string
	fail  error
}

func (l *lines) Write(p []byte) (int, error) {
	if l.fail != nil {
		return 0, l.fail
	}
	l.calls = append(l.calls, string(p))
	return len(p), nil
}

func TestWriters(t *testing.T) {
	docs := func(w *Writer, n int) {
		var d Doc
		for i := 0; i < n; i++ {
			d.Reset()
			d.Int("n", int64(i))
			d.Str("s", strings.Repeat("x", i))
			if err := w.Write(&d); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("line writer: one Write per document, nothing held", func(t *testing.T) {
		var l lines
		w := NewLineWriter(&l)
		docs(w, 3)
		want := []string{`{"n":0}` + "\n", `{"n":1,"s":"x"}` + "\n", `{"n":2,"s":"xx"}` + "\n"}
		if strings.Join(l.calls, "|") != strings.Join(want, "|") {
			t.Fatalf("writes %q, want %q", l.calls, want)
		}
		if err := w.Flush(); err != nil || len(l.calls) != 3 || w.Count() != 3 {
			t.Fatalf("flush %v, writes %d, count %d", err, len(l.calls), w.Count())
		}
	})
	t.Run("buffered writer: held until Flush, same bytes", func(t *testing.T) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		docs(w, 3)
		if buf.Len() != 0 {
			t.Fatal("written before Flush")
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != "{\"n\":0}\n{\"n\":1,\"s\":\"x\"}\n{\"n\":2,\"s\":\"xx\"}\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("line writer: the first error sticks", func(t *testing.T) {
		boom := errors.New("boom")
		w := NewLineWriter(&lines{fail: boom})
		var d Doc
		d.Int("n", 1)
		if err := w.Write(&d); !errors.Is(err, boom) {
			t.Fatalf("write: %v", err)
		}
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("flush after a failed write: %v", err)
		}
	})
}
