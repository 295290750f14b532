// Package statefile stores outflow's state between runs (the learned
// baselines, the isolation records of the response) in files that say what
// they are: a one-line header names the format, the kind of state, its
// version, the body's length and its CRC-32C, so that a file of another
// kind, of another version, cut short or damaged is rejected with a reason
// instead of being half-read. Files are replaced atomically.
//
// The header is text, so `head -1` tells what a file is:
//
//	outflow-state unexpected-destination 1 2048 1c291ca3
package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Magic opens every state file.
const Magic = "outflow-state"

// MaxSize bounds a state file (header and body).
const MaxSize = 64 << 20

// maxHeader bounds the header line.
const maxHeader = 128

// Errors, wrapped with the details; test with errors.Is.
var (
	// ErrForeign: not an outflow state file, or one of another kind.
	ErrForeign = errors.New("not a state file of this kind")
	// ErrVersion: the right kind, in a version this build does not read.
	ErrVersion = errors.New("unsupported state file version")
	// ErrCorrupt: the header is damaged, or the body does not match it.
	ErrCorrupt = errors.New("corrupt state file")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns a state file: the header for kind and version, then body.
// kind is a lowercase word (letters, digits, dashes).
func Encode(kind string, version int, body []byte) []byte {
	if !validKind(kind) || version < 1 {
		panic(fmt.Sprintf("statefile: bad kind %q or version %d", kind, version)) // a programming error
	}
	h := fmt.Sprintf("%s %s %d %d %08x\n", Magic, kind, version, len(body), crc32.Checksum(body, castagnoli))
	out := make([]byte, 0, len(h)+len(body))
	return append(append(out, h...), body...)
}

// Decode checks data's header against kind and version and returns the
// body. It never panics, whatever data holds.
func Decode(data []byte, kind string, version int) ([]byte, error) {
	nl := bytes.IndexByte(data[:min(len(data), maxHeader)], '\n')
	if !bytes.HasPrefix(data, []byte(Magic+" ")) {
		return nil, fmt.Errorf("%w: no %q header", ErrForeign, Magic)
	}
	if nl < 0 {
		return nil, fmt.Errorf("%w: header line missing or too long", ErrCorrupt)
	}
	f := bytes.Fields(data[len(Magic):nl])
	if len(f) != 4 {
		return nil, fmt.Errorf("%w: header has %d fields, want 4", ErrCorrupt, len(f))
	}
	if string(f[0]) != kind {
		return nil, fmt.Errorf("%w: holds %q state, not %q", ErrForeign, clip(f[0]), kind)
	}
	v, err := strconv.Atoi(string(f[1]))
	if err != nil || v < 1 {
		return nil, fmt.Errorf("%w: bad version %q", ErrCorrupt, clip(f[1]))
	}
	if v != version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrVersion, v, version)
	}
	n, err := strconv.ParseUint(string(f[2]), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: bad length %q", ErrCorrupt, clip(f[2]))
	}
	sum, err := strconv.ParseUint(string(f[3]), 16, 32)
	if err != nil || len(f[3]) != 8 {
		return nil, fmt.Errorf("%w: bad checksum %q", ErrCorrupt, clip(f[3]))
	}
	body := data[nl+1:]
	if uint64(len(body)) != n {
		return nil, fmt.Errorf("%w: body is %d bytes, header says %d (cut short or appended to)", ErrCorrupt, len(body), n)
	}
	if got := crc32.Checksum(body, castagnoli); got != uint32(sum) {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", ErrCorrupt, got, sum)
	}
	return body, nil
}

// clip keeps a damaged header field short in messages.
func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

func validKind(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Read reads and decodes the state file at path. A missing file is
// os.ErrNotExist (wrapped); a file over MaxSize is ErrCorrupt.
func Read(path, kind string, version int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrCorrupt, MaxSize)
	}
	body, err := Decode(data, kind, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return body, nil
}

// Write replaces the file at path with a state file of kind and version
// holding body, atomically: a reader (or a crash) sees the old file or the
// new one, never a mix. The file is written to a temporary name in the same
// directory, synced, renamed over path, and the directory synced.
func Write(path, kind string, version int, body []byte) error {
	data := Encode(kind, version, body)
	if len(data) > MaxSize {
		return fmt.Errorf("write %s: state of %d bytes exceeds %d", path, len(data), MaxSize)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	done = true
	// The rename is durable once the directory is on disk.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Quarantine moves a rejected state file aside (to path + ".rejected",
// replacing an earlier one) so that it can be looked at, and the next Write
// does not destroy the evidence. It returns the new name.
func Quarantine(path string) (string, error) {
	to := path + ".rejected"
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move aside: %w", err)
	}
	return to, nil
}
