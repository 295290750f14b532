package ecs

import (
	"bufio"
	"fmt"
	"io"
	"sync"
)

// Writer writes documents as newline-delimited JSON. It is safe for
// concurrent use: each document is written whole, so flow records and alerts
// from different goroutines never interleave within a line.
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer // nil: each line goes to direct
	direct io.Writer
	line   []byte
	count  uint64
	err    error
}

// NewWriter buffers output to w. Call Flush to push it out.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 256<<10)}
}

// NewLineWriter writes each document to w in one Write call, unbuffered:
// for a w that gathers lines itself, which a buffer in between would only
// copy once more.
func NewLineWriter(w io.Writer) *Writer {
	return &Writer{direct: w}
}

// Write encodes d as one line. The first write error is kept and returned
// by every later call and by Flush.
func (w *Writer) Write(d *Doc) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.line = d.AppendJSON(w.line[:0])
	w.line = append(w.line, '\n')
	var err error
	if w.w != nil {
		_, err = w.w.Write(w.line)
	} else {
		_, err = w.direct.Write(w.line)
	}
	if err != nil {
		w.err = fmt.Errorf("write record: %w", err)
		return w.err
	}
	w.count++
	return nil
}

// Count is the number of documents written.
func (w *Writer) Count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.w == nil {
		return nil
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("write record: %w", err)
	}
	return w.err
}
