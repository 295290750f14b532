package capture

import (
	"bufio"
	"io"
)

// Buffers lends a file source the buffers it reads into, so that packet
// data can outlive the call to Next that returned it: a source never writes
// to a buffer again after it has handed out bytes from it, it moves on to a
// new one. Whoever lends the buffers decides when a retired buffer's
// packets are all done with and the buffer can be lent again. This is what
// lets a reader pass packets to other goroutines without copying them.
type Buffers interface {
	// Get returns a buffer to read into; its length must be BufferSize.
	Get() []byte
	// Retire hands back a buffer the source will not write to again.
	// Packets returned from it may still be in use.
	Retire([]byte)
}

// BufferSize is the length of the buffers a file source reads into.
const BufferSize = bufSize

// blockReader is bufio.Reader's Peek/Discard for the record layer, with
// one difference that matters: when a record does not fit in what is left
// of the buffer and Buffers were given, the unread tail moves to a new
// buffer instead of to the front of the same one, so bytes already handed
// out stay as they were.
type blockReader struct {
	rd   io.Reader
	bufs Buffers // nil: one buffer, reused in place like bufio
	buf  []byte
	r, w int
	err  error
}

func newBlockReader(rd io.Reader, bufs Buffers) *blockReader {
	b := &blockReader{rd: rd, bufs: bufs}
	if bufs != nil {
		b.buf = bufs.Get()
	} else {
		b.buf = make([]byte, bufSize)
	}
	return b
}

// lend moves the unread bytes into a buffer from bufs, and reads into
// lent buffers from then on.
func (b *blockReader) lend(bufs Buffers) {
	if bufs == nil {
		return
	}
	nb := bufs.Get()
	b.w = copy(nb, b.buf[b.r:b.w])
	b.r = 0
	b.buf, b.bufs = nb, bufs
}

// release retires the current buffer, if it was lent.
func (b *blockReader) release() {
	if b.bufs != nil && b.buf != nil {
		b.bufs.Retire(b.buf)
	}
	b.buf = nil
	b.r, b.w = 0, 0
}

// fill reads at least once more, first making room for n unread bytes.
func (b *blockReader) fill(n int) {
	if len(b.buf)-b.r < n {
		if b.bufs != nil {
			nb := b.bufs.Get()
			copy(nb, b.buf[b.r:b.w])
			b.bufs.Retire(b.buf)
			b.buf = nb
		} else {
			copy(b.buf, b.buf[b.r:b.w])
		}
		b.w -= b.r
		b.r = 0
	}
	// Like bufio: a reader that keeps returning nothing is broken.
	for i := 0; i < 100; i++ {
		m, err := b.rd.Read(b.buf[b.w:])
		if m < 0 {
			panic("capture: reader returned negative count")
		}
		b.w += m
		if err != nil {
			b.err = err
			return
		}
		if m > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

// Peek returns the next n unread bytes without consuming them. With fewer
// available it returns what there is and the error that stopped reading.
func (b *blockReader) Peek(n int) ([]byte, error) {
	if n > len(b.buf) {
		return b.buf[b.r:b.w], bufio.ErrBufferFull
	}
	for b.w-b.r < n && b.err == nil {
		b.fill(n)
	}
	if b.w-b.r >= n {
		return b.buf[b.r : b.r+n : b.r+n], nil
	}
	return b.buf[b.r:b.w:b.w], b.err
}

// Discard skips the next n bytes and returns how many it skipped.
func (b *blockReader) Discard(n int) (int, error) {
	done := 0
	for {
		k := min(n-done, b.w-b.r)
		b.r += k
		done += k
		if done == n {
			return done, nil
		}
		if b.err != nil {
			return done, b.err
		}
		b.fill(1)
	}
}

// Read and ReadByte make the reader the input of a gzip stream, whose
// decoder then reads from the buffer without wrapping it in another one.
func (b *blockReader) Read(p []byte) (int, error) {
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		b.fill(1)
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	if n == 0 {
		return 0, b.err
	}
	return n, nil
}

func (b *blockReader) ReadByte() (byte, error) {
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		b.fill(1)
		if b.r == b.w {
			return 0, b.err
		}
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}
