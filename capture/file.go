package capture

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// bufSize is the read buffer of a file source. Records are handed out
	// as slices of it, so it must hold the largest record we accept whole.
	bufSize = 1 << 20
	// maxCapLen bounds a record's captured length (libpcap's own maximum
	// snap length); anything above it is damage, not data.
	maxCapLen = 256 << 10
)

// Open opens a capture file, or standard input when path is "-". The format
// (pcap or pcapng, either optionally gzip-compressed) is detected from the
// first bytes, never from the name. Closing the source closes the file;
// standard input is left open.
func Open(path string) (Source, error) {
	return OpenBuffers(path, nil)
}

// OpenBuffers is Open with packet data read into buffers lent by bufs
// (see Buffers): p.Data then stays valid past the next call to Next, for
// as long as bufs keeps the buffer it is in. A nil bufs is Open.
func OpenBuffers(path string, bufs Buffers) (Source, error) {
	if path == "-" {
		return newSource("stdin", os.Stdin, nil, bufs)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	src, err := newSource(path, f, f, bufs)
	if err != nil {
		f.Close()
		return nil, err
	}
	return src, nil
}

// NewReader reads a capture from r, which the caller keeps owning: Close
// on the source does not close r. name is used in errors and logs.
func NewReader(name string, r io.Reader) (Source, error) {
	return newSource(name, r, nil, nil)
}

func newSource(name string, r io.Reader, c io.Closer, bufs Buffers) (src Source, err error) {
	s := stream{name: name, br: newBlockReader(r, nil), closer: c}
	defer func() {
		if err != nil {
			s.br.release()
		}
	}()
	if m, err := s.br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(s.br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // cut inside the gzip header
			}
			s.gzipped = true
			return nil, s.fail(s.wrapRead(err))
		}
		s.gz, s.gzipped = zr, true
		// The compressed input keeps its own buffer; records are
		// read from the decompressed stream.
		s.br = newBlockReader(zr, bufs)
	} else if err != nil && err != io.EOF {
		return nil, s.fail(s.wrapRead(err))
	} else {
		s.br.lend(bufs)
	}

	m, err := s.br.Peek(4)
	if len(m) < 4 {
		if err != io.EOF {
			return nil, s.fail(s.wrapRead(err))
		}
		return nil, s.fail(ErrNotCapture)
	}
	switch {
	case m[0] == 0xd4 && m[1] == 0xc3 && m[2] == 0xb2 && m[3] == 0xa1,
		m[0] == 0xa1 && m[1] == 0xb2 && m[2] == 0xc3 && m[3] == 0xd4,
		m[0] == 0x4d && m[1] == 0x3c && m[2] == 0xb2 && m[3] == 0xa1,
		m[0] == 0xa1 && m[1] == 0xb2 && m[2] == 0x3c && m[3] == 0x4d:
		return newPcapReader(s)
	case m[0] == 0x0a && m[1] == 0x0d && m[2] == 0x0d && m[3] == 0x0a:
		return newNgReader(s)
	}
	return nil, s.fail(ErrNotCapture)
}

// stream is the part shared by the file readers: buffered input, the
// offset of the next record in the uncompressed stream, and the error that
// ended the source.
type stream struct {
	name    string
	br      *blockReader
	gz      *gzip.Reader
	gzipped bool      // input is gzip-compressed: read errors are gzip's
	closer  io.Closer // the file we opened, if any
	off     int64     // offset of the next record, uncompressed
	err     error     // sticky: once set, every Next returns it
	closed  bool
}

func (s *stream) Name() string { return s.name }

// Close releases the buffers and closes the file. Later calls to Next fail.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.br.release()
	s.br = nil
	s.err = &FileError{File: s.name, Offset: s.off, Err: os.ErrClosed}
	if s.gz != nil {
		s.gz.Close() // only reports stream damage already seen by Next
	}
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// fail ends the source with err about the record at s.off.
func (s *stream) fail(err error) error {
	s.err = &FileError{File: s.name, Offset: s.off, Err: err}
	return s.err
}

// corrupt ends the source with ErrCorrupt and a reason.
func (s *stream) corrupt(format string, args ...any) error {
	return s.fail(fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
}

// wrapRead names a read error of the underlying input. A gzip stream that
// ends early is a truncated capture as well as a gzip error.
func (s *stream) wrapRead(err error) error {
	if s.gzipped {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: gzip: %w", ErrTruncated, err)
		}
		return fmt.Errorf("gzip: %w", err)
	}
	return fmt.Errorf("read: %w", err)
}

// peek returns the first n bytes of the record at s.off without consuming
// them. n must not exceed bufSize. When fewer bytes exist it ends the
// source: io.EOF if the input ended cleanly before the record, ErrTruncated
// if it ended inside it, or the read error.
func (s *stream) peek(n int) ([]byte, error) {
	b, err := s.br.Peek(n)
	if err == nil {
		return b, nil
	}
	return nil, s.short(len(b), err)
}

func (s *stream) short(got int, err error) error {
	if err == io.EOF {
		if got == 0 {
			s.err = io.EOF
			return io.EOF
		}
		return s.fail(ErrTruncated)
	}
	return s.fail(s.wrapRead(err))
}

// advance consumes n bytes that a successful peek already buffered.
func (s *stream) advance(n int) {
	s.br.Discard(n)
	s.off += int64(n)
}

// skip consumes a record of n bytes of which at least one was peeked,
// without needing it to fit in the buffer.
func (s *stream) skip(n int64) error {
	for left := n; left > 0; {
		chunk := left
		if chunk > bufSize {
			chunk = bufSize
		}
		d, err := s.br.Discard(int(chunk))
		left -= int64(d)
		if err != nil {
			return s.short(1, err)
		}
	}
	s.off += n
	return nil
}

// stripFCS drops a trailing frame check sequence of fcs bytes from a frame
// of captured bytes data and wire length orig, and returns the frame and
// its wire length without it. When the snap length cut the frame, the FCS
// (or part of it) is not in data and nothing needs cutting.
func stripFCS(data []byte, orig, fcs int) ([]byte, int) {
	if fcs == 0 || orig < fcs {
		return data, orig
	}
	orig -= fcs
	if len(data) > orig {
		data = data[:orig:orig]
	}
	return data, orig
}
