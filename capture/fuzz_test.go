package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the readers: they must not panic,
// must end, must hand out packets within the limits, and must end with
// io.EOF or a *FileError that they then keep returning.
func FuzzReader(f *testing.F) {
	f.Add(smallPcap(f, false, false).data)
	f.Add(smallPcap(f, true, true).data)
	f.Add(multiSection(f).data)
	f.Add(gz(f, smallPcap(f, false, true).data))
	f.Add(gz(f, multiSection(f).data))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := NewReader("fuzz", bytes.NewReader(data))
		if err != nil {
			var fe *FileError
			if src != nil || !errors.As(err, &fe) {
				t.Fatalf("open: src=%v err=%v", src, err)
			}
			return
		}
		gzipped := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		// The same input through lent buffers, kept without copying,
		// must give the same packets and the same end.
		l := &lender{t: t, out: map[*byte]bool{}}
		lent, lerr := newSource("fuzz", bytes.NewReader(data), nil, l)
		if lerr != nil {
			t.Fatalf("open with lent buffers failed where plain open did not: %v", lerr)
		}
		var kept, want [][]byte // lent packets' data, and copies of the plain ones
		var p Packet
		var end error
		for n := 0; ; n++ {
			if n > 1<<20 {
				t.Fatal("too many packets")
			}
			if end = src.Next(&p); end != nil {
				break
			}
			if len(p.Data) > maxCapLen || cap(p.Data) != len(p.Data) || p.OrigLen < len(p.Data) || p.Interface < 0 {
				t.Fatalf("packet %d: len %d cap %d orig %d interface %d", n, len(p.Data), cap(p.Data), p.OrigLen, p.Interface)
			}
			_ = src.InterfaceName(p.Interface)
			var q Packet
			if err := lent.Next(&q); err != nil || !bytes.Equal(q.Data, p.Data) || q.Timestamp != p.Timestamp || q.OrigLen != p.OrigLen {
				t.Fatalf("packet %d differs with lent buffers (err %v)", n, err)
			}
			kept, want = append(kept, q.Data), append(want, bytes.Clone(p.Data))
		}
		for i := range kept {
			if !bytes.Equal(kept[i], want[i]) {
				t.Fatalf("packet %d changed after later reads from lent buffers", i)
			}
		}
		var q Packet
		if lend := lent.Next(&q); lend == nil || lend.Error() != end.Error() {
			t.Fatalf("end with lent buffers %v, plain %v", lend, end)
		}
		if lent.Close() != nil || len(l.out) != 0 {
			t.Fatalf("lent buffers not all retired: %d out", len(l.out))
		}
		if end != io.EOF {
			var fe *FileError
			if !errors.As(end, &fe) || fe.Offset < 0 || (!gzipped && fe.Offset >= int64(len(data))) {
				t.Fatalf("end: %v", end)
			}
		}
		if again := src.Next(&p); again != end {
			t.Fatalf("Next after %v returned %v", end, again)
		}
		if src.Close() != nil || src.Close() != nil {
			t.Fatal("close failed")
		}
	})
}
