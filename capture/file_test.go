package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapgoFile writes packets with gopacket's pcap writer, so the reader is
// checked against an independent implementation of the format.
func pcapgoFile(tb testing.TB, nano bool) capFile {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	f := capFile{names: []string{""}}
	t0 := time.Unix(1_700_000_000, 123_456_789)
	for i := range 50 {
		data := frame(tb, i, i*7)
		ts := t0.Add(time.Duration(i) * 1_234_567 * time.Nanosecond)
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
		if i%5 == 0 { // snapped
			ci.CaptureLength = 30
			data = data[:30]
		}
		if err := w.WritePacket(ci, data); err != nil {
			tb.Fatal(err)
		}
		want := ts.UnixNano()
		if !nano {
			want = want / 1000 * 1000
		}
		f.want = append(f.want, Packet{Timestamp: want, Data: data, OrigLen: ci.Length, LinkType: LinkEthernet})
	}
	f.data = buf.Bytes()
	return f
}

// pcapgoNg writes a pcapng with gopacket's writer: two interfaces, one with
// a timestamp offset, and packets with epb_flags and comments.
func pcapgoNg(tb testing.TB) capFile {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet) // first interface "intf0"
	if err != nil {
		tb.Fatal(err)
	}
	id, err := w.AddInterface(pcapgo.NgInterface{Name: "lo", LinkType: layers.LinkTypeRaw, TimestampOffset: 10})
	if err != nil {
		tb.Fatal(err)
	}
	f := capFile{names: []string{"intf0", "lo"}}
	t0 := time.Unix(1_700_000_000, 987_654_321)
	for i := range 40 {
		ifc, link, data := 0, LinkEthernet, frame(tb, i, i*3)
		if i%3 == 1 {
			ifc, link, data = id, LinkRaw, rawFrame(tb, i, i)
		}
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data) + i, InterfaceIndex: ifc}
		opts := pcapgo.NgPacketOptions{Comments: []string{"c"}, Flags: &pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}}
		if err := w.WritePacketWithOptions(ci, data, opts); err != nil {
			tb.Fatal(err)
		}
		want := ts.UnixNano()
		if ifc == id {
			want += 10e9 // pcapgo writes the offset and leaves the time as is
		}
		f.want = append(f.want, Packet{Timestamp: want, Data: data, OrigLen: ci.Length, LinkType: link, Interface: ifc})
	}
	if err := w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{LastUpdate: t0, PacketsReceived: 40, PacketsDropped: 0}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.data = buf.Bytes()
	return f
}

func formatCases(t *testing.T) map[string]capFile {
	// Frames with a trailing FCS; the reader must return them without it.
	f1, f2, f3 := frame(t, 1, 10), frame(t, 2, 10), frame(t, 3, 10)
	n := len(f1)
	fcs := buildPcap(false, false, uint32(LinkEthernet)|0x04000000|2<<28, []pcapRec{
		{sec: 1, frac: 2, data: append(bytes.Clone(f1), 0xde, 0xad, 0xbe, 0xef)},
		{sec: 3, frac: 4, data: f2[:20], orig: uint32(n + 4)}, // snapped: FCS not captured
		{sec: 5, frac: 6, data: append(bytes.Clone(f3), 0xde, 0xad), orig: uint32(n + 4)},
	})
	fcs.want[0].Data, fcs.want[0].OrigLen = f1, n
	fcs.want[1].OrigLen = n
	fcs.want[2].Data, fcs.want[2].OrigLen = f3, n

	ngFCS := newNg()
	ngFCS.shb(true)
	ngFCS.idb(ifSpec{link: LinkEthernet, resol: -1, fcsLen: 4})
	flags := uint32(2 << 5) // epb_flags FCS length 2 overrides if_fcslen
	ngFCS.epb(0, 1, append(bytes.Clone(f1), 1, 2, 3, 4), 0, nil, false)
	ngFCS.epb(0, 2, append(bytes.Clone(f2), 1, 2), 0, &flags, false)
	ngFCS.want[0].Data, ngFCS.want[0].OrigLen = f1, n
	ngFCS.want[1].Data, ngFCS.want[1].OrigLen = f2, n

	// Simple packet blocks cut by the snap length; an over-long interface
	// name; an option list that overruns its block (ignored, not fatal).
	spb := newNg()
	spb.shb(false)
	long := string(bytes.Repeat([]byte("n"), 300))
	spb.idb(ifSpec{link: LinkEthernet, resol: -1, snap: 64, name: long})
	big := frame(t, 5, 100)
	spb.spb(big[:64], len(big))
	spb.names[0] = long[:maxIfName]
	spb.block(ngIDB, func(e *enc) {
		e.u16(uint16(LinkRaw))
		e.u16(0)
		e.u32(0)
		e.u16(2)
		e.u16(200) // if_name longer than the block
		e.raw([]byte("eth1"))
	}, -1)
	spb.names = append(spb.names, "")

	// A writer that put 0 in the original length.
	zeroOrig := buildPcap(false, false, uint32(LinkEthernet), []pcapRec{{sec: 1, data: f1}})
	copy(zeroOrig.data[24+12:], []byte{0, 0, 0, 0})

	return map[string]capFile{
		"pcapng spb snap":         spb.capFile,
		"pcap orig zero":          zeroOrig,
		"pcap le micro pcapgo":    pcapgoFile(t, false),
		"pcap le nano pcapgo":     pcapgoFile(t, true),
		"pcap le micro":           smallPcap(t, false, false),
		"pcap be micro":           smallPcap(t, true, false),
		"pcap le nano":            smallPcap(t, false, true),
		"pcap be nano":            smallPcap(t, true, true),
		"pcap no packets":         buildPcap(true, false, uint32(LinkRaw), nil),
		"pcap fcs":                fcs,
		"pcapng pcapgo":           pcapgoNg(t),
		"pcapng multi-section":    multiSection(t),
		"pcapng fcs":              ngFCS.capFile,
		"pcap linux-sll2 network": buildPcap(false, true, uint32(LinkLinuxSLL2), []pcapRec{{sec: 9, frac: 9, data: []byte{1, 2, 3}}}),
	}
}

// TestFormats reads every format plain and gzipped, from a file, an
// io.Reader, and a reader that returns one byte at a time like a slow pipe.
func TestFormats(t *testing.T) {
	dir := t.TempDir()
	for name, f := range formatCases(t) {
		for _, z := range []bool{false, true} {
			data := f.data
			if z {
				data = gz(t, data)
			}
			open := map[string]func() (Source, error){
				"file": func() (Source, error) {
					p := filepath.Join(dir, "capture.bin") // no extension hint
					if err := os.WriteFile(p, data, 0o600); err != nil {
						t.Fatal(err)
					}
					return Open(p)
				},
				"reader":   func() (Source, error) { return NewReader("r", bytes.NewReader(data)) },
				"one-byte": func() (Source, error) { return NewReader("r", iotest.OneByteReader(bytes.NewReader(data))) },
			}
			for how, openFn := range open {
				t.Run(name+"/"+how+map[bool]string{true: "/gzip"}[z], func(t *testing.T) {
					src, err := openFn()
					if err != nil {
						t.Fatal(err)
					}
					defer src.Close()
					got, err := drain(t, src)
					if err != io.EOF {
						t.Fatalf("end: %v, want io.EOF", err)
					}
					samePackets(t, got, f.want)
					for i, n := range f.names {
						if g := src.InterfaceName(i); g != n {
							t.Errorf("InterfaceName(%d) = %q, want %q", i, g, n)
						}
					}
					if g := src.InterfaceName(len(f.names)); g != "" {
						t.Errorf("InterfaceName past the end = %q", g)
					}
					var p Packet
					if err := src.Next(&p); err != io.EOF {
						t.Errorf("Next after EOF: %v", err)
					}
				})
			}
		}
	}
}

func TestStdin(t *testing.T) {
	f := multiSection(t)
	p := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(p, gz(t, f.data), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	saved := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = saved }()

	src, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, src)
	if err != io.EOF {
		t.Fatal(err)
	}
	samePackets(t, got, f.want)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	// Standard input is not ours to close.
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		t.Errorf("stdin closed by Close: %v", err)
	}
}

func TestNotCapture(t *testing.T) {
	badBOM := append([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, make([]byte, 16)...)
	cases := map[string][]byte{
		"empty":             nil,
		"one byte":          {0xd4},
		"three magic bytes": {0xd4, 0xc3, 0xb2},
		"text":              []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"elf":               []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"pcapng bad bom":    badBOM,
		"gzip of text":      gz(t, []byte("hello, world")),
		"gzip of nothing":   gz(t, nil),
		"gzip of gzip":      gz(t, gz(t, smallPcap(t, false, false).data)),
		"modified pcap":     {0x34, 0xcd, 0xb2, 0xa1, 2, 0, 4, 0},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			src, err := NewReader("x", bytes.NewReader(data))
			if src != nil {
				t.Fatal("got a source")
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Offset != 0 || fe.File != "x" || !errors.Is(err, ErrNotCapture) {
				t.Fatalf("err = %v, want FileError offset 0 ErrNotCapture", err)
			}
		})
	}
	t.Run("empty file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "empty.pcap")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p); !errors.Is(err, ErrNotCapture) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
}

// wantErr checks err is a *FileError at offset wrapping target.
func wantErr(tb testing.TB, err error, off int, target error) {
	tb.Helper()
	var fe *FileError
	if !errors.As(err, &fe) || fe.Offset != int64(off) || !errors.Is(err, target) {
		tb.Fatalf("err = %v, want FileError at %d wrapping %v", err, off, target)
	}
}

// TestTruncatedEverywhere cuts small files at every byte offset: the
// packets wholly before the cut come back intact, then either io.EOF (cut
// at a record boundary) or ErrTruncated at the start of the cut record.
func TestTruncatedEverywhere(t *testing.T) {
	files := map[string]capFile{
		"pcap le micro":        smallPcap(t, false, false),
		"pcap be nano":         smallPcap(t, true, true),
		"pcapng multi-section": multiSection(t),
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			for cut := 0; cut <= len(f.data); cut++ {
				checkCut(t, f, cut)
			}
		})
	}
}

func checkCut(t *testing.T, f capFile, cut int) {
	t.Helper()
	src, err := NewReader("cut", bytes.NewReader(f.data[:cut]))
	if cut < 4 {
		wantErr(t, err, 0, ErrNotCapture)
		return
	}
	if cut < f.recs[0].end { // inside the file header / first SHB
		wantErr(t, err, 0, ErrTruncated)
		return
	}
	if err != nil {
		t.Fatalf("cut %d: open: %v", cut, err)
	}
	var want []Packet
	boundary, cutRec := false, -1
	for _, r := range f.recs {
		if r.end <= cut && r.pkt >= 0 {
			want = append(want, f.want[r.pkt])
		}
		if r.end == cut {
			boundary = true
		}
		if r.start < cut && cut < r.end {
			cutRec = r.start
		}
	}
	got, err := drain(t, src)
	samePackets(t, got, want)
	if boundary {
		if err != io.EOF {
			t.Fatalf("cut %d at a record boundary: %v, want io.EOF", cut, err)
		}
	} else {
		wantErr(t, err, cutRec, ErrTruncated)
	}
	var p Packet
	if again := src.Next(&p); again != err {
		t.Fatalf("cut %d: Next after the end returned %v, then %v", cut, err, again)
	}
}

// TestGzipTruncated cuts a gzipped capture at every byte: reading never
// ends cleanly before the full stream, and what it returns is a prefix of
// the packets.
func TestGzipTruncated(t *testing.T) {
	f := multiSection(t)
	z := gz(t, f.data)
	prev := 0
	for cut := 0; cut <= len(z); cut++ {
		src, err := NewReader("z", bytes.NewReader(z[:cut]))
		if cut < 2 {
			wantErr(t, err, 0, ErrNotCapture)
			continue
		}
		var got []Packet
		if err == nil {
			got, err = drain(t, src)
		}
		if cut == len(z) {
			if err != io.EOF {
				t.Fatalf("whole stream: %v", err)
			}
		} else if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut %d: err = %v, want ErrTruncated", cut, err)
		}
		samePackets(t, got, f.want[:len(got)])
		if len(got) < prev {
			t.Fatalf("cut %d: %d packets, fewer than a shorter cut gave (%d)", cut, len(got), prev)
		}
		prev = len(got)
	}
	if prev != len(f.want) {
		t.Fatalf("full stream gave %d packets", prev)
	}
}

func TestGzipDamaged(t *testing.T) {
	f := smallPcap(t, false, false)
	z := gz(t, f.data)

	t.Run("checksum", func(t *testing.T) {
		d := bytes.Clone(z)
		d[len(d)-8] ^= 0xff // CRC-32 in the trailer
		src, err := NewReader("z", bytes.NewReader(d))
		if err != nil {
			t.Fatal(err)
		}
		got, err := drain(t, src)
		samePackets(t, got, f.want) // the data itself was fine
		wantErr(t, err, len(f.data), gzip.ErrChecksum)
	})
	t.Run("header", func(t *testing.T) {
		d := bytes.Clone(z)
		d[2] = 7 // compression method
		_, err := NewReader("z", bytes.NewReader(d))
		wantErr(t, err, 0, gzip.ErrHeader)
	})
	t.Run("deflate data", func(t *testing.T) {
		for i := 10; i < len(z)-8; i++ {
			d := bytes.Clone(z)
			d[i] ^= 0x55
			src, err := NewReader("z", bytes.NewReader(d))
			if err == nil {
				_, err = drain(t, src)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("byte %d flipped: err = %v, want a FileError", i, err)
			}
		}
	})
}

// TestCorrupt feeds records whose fields cannot be right.
func TestCorrupt(t *testing.T) {
	type tc struct {
		data []byte
		off  int // offset of the bad record
		pkts int // good packets before it
	}
	cases := map[string]func() tc{
		"pcap captured length over 256KiB": func() tc {
			f := smallPcap(t, false, false)
			d := bytes.Clone(f.data)
			start := f.recs[2].start
			copy(d[start+8:], []byte{0x01, 0x00, 0x04, 0x00}) // 0x40001
			return tc{d, start, 1}
		},
		"pcapng captured length over block": func() tc {
			b := newNg()
			b.shb(false)
			b.idb(ifSpec{link: LinkEthernet, resol: -1})
			b.epb(0, 1, frame(t, 1, 1), 0, nil, false)
			b.epb(0, 2, frame(t, 2, 1), 0, nil, false)
			d := bytes.Clone(b.data)
			d[b.recs[3].start+20] = 200
			return tc{d, b.recs[3].start, 1}
		},
		"pcapng block length not a multiple of 4": func() tc {
			b := newNg()
			b.shb(true)
			b.idb(ifSpec{link: LinkEthernet, resol: -1})
			b.other(99, []byte{1, 2, 3, 4})
			d := bytes.Clone(b.data)
			d[b.recs[2].start+7]++
			return tc{d, b.recs[2].start, 0}
		},
		"pcapng trailer mismatch": func() tc {
			b := newNg()
			b.shb(false)
			b.idb(ifSpec{link: LinkEthernet, resol: -1})
			b.epb(0, 1, frame(t, 1, 1), 0, nil, false)
			d := bytes.Clone(b.data)
			d[len(d)-4]++
			return tc{d, b.recs[2].start, 0}
		},
		"pcapng undeclared interface": func() tc {
			b := newNg()
			b.shb(false)
			b.idb(ifSpec{link: LinkEthernet, resol: -1})
			b.epb(0, 1, frame(t, 1, 1), 0, nil, false)
			b.shb(false) // forgets the interface
			start := len(b.data)
			b.ifs = append(b.ifs, ifSpec{link: LinkEthernet, resol: -1})
			b.epb(0, 1, frame(t, 1, 1), 0, nil, false)
			return tc{b.data, start, 1}
		},
		"pcapng too many interfaces": func() tc {
			b := newNg()
			b.shb(false)
			for range maxInterfaces + 1 {
				b.idb(ifSpec{link: LinkEthernet, resol: -1})
			}
			return tc{b.data, b.recs[len(b.recs)-1].start, 0}
		},
		"pcapng simple packet without interface": func() tc {
			b := newNg()
			b.shb(false)
			b.other(ngSPB, []byte{4, 0, 0, 0, 1, 2, 3, 4})
			return tc{b.data, b.recs[1].start, 0}
		},
		"pcapng second section bad byte-order magic": func() tc {
			b := newNg()
			b.shb(false)
			b.idb(ifSpec{link: LinkEthernet, resol: -1})
			b.epb(0, 1, frame(t, 1, 1), 0, nil, false)
			b.shb(false)
			d := bytes.Clone(b.data)
			d[b.recs[3].start+8] = 0
			return tc{d, b.recs[3].start, 1}
		},
		"pcapng version 2": func() tc {
			b := newNg()
			b.shb(false)
			d := bytes.Clone(b.data)
			d[12] = 2
			return tc{d, 0, -1}
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			c := mk()
			src, err := NewReader("c", bytes.NewReader(c.data))
			if c.pkts < 0 {
				wantErr(t, err, c.off, ErrCorrupt)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, src)
			if len(got) != c.pkts {
				t.Errorf("%d packets before the damage, want %d", len(got), c.pkts)
			}
			wantErr(t, err, c.off, ErrCorrupt)
		})
	}
}

// TestTimestampResolutions checks if_tsresol conversion, including binary
// fractions and resolutions finer than a nanosecond, against big-integer
// arithmetic.
func TestTimestampResolutions(t *testing.T) {
	cases := []struct {
		resol  int
		units  uint64
		offset int64
	}{
		{-1, 1_700_000_000_654_321, 0},
		{0, 1_700_000_000, 0},
		{3, 1_700_000_000_999, -5},
		{9, 1_700_000_000_000_000_001, 0},
		{10, 17_000_000_000_000_000_019, 0},
		{12, 12_345_678_901_234_567, 0},
		{19, 18_000_000_000_000_000_000, 0},
		{30, ^uint64(0), 0},
		{0x80, 1_700_000_000, 0},
		{0x80 | 10, 1_700_000_000<<10 | 1023, 0},
		{0x80 | 20, 1_700_000_000<<20 | 1, 86400},
		{0x80 | 32, 1_700_000_000<<32 | 0xffffffff, 0},
		{0x80 | 40, 1_600_000 << 40, 0},
		{0x80 | 63, ^uint64(0), 0},
		{0x80 | 64, ^uint64(0), 0},
		{0x80 | 127, ^uint64(0), 0},
	}
	b := newNg()
	b.shb(false)
	for i, c := range cases {
		b.idb(ifSpec{link: LinkEthernet, resol: c.resol, offset: c.offset})
		b.epb(i, c.units, []byte{byte(i)}, 0, nil, false)
	}
	src, err := NewReader("ts", bytes.NewReader(b.data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, src)
	if err != io.EOF {
		t.Fatal(err)
	}
	samePackets(t, got, b.want)
}

func TestClose(t *testing.T) {
	for name, data := range map[string][]byte{
		"pcap":   smallPcap(t, false, false).data,
		"pcapng": multiSection(t).data,
		"gzip":   gz(t, smallPcap(t, true, true).data),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c")
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			src, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var pkt Packet
			if err := src.Next(&pkt); err != nil {
				t.Fatal(err)
			}
			if src.Name() != p {
				t.Errorf("Name() = %q", src.Name())
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			if err := src.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := src.Next(&pkt); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Next after Close: %v", err)
			}
			var st *stream
			switch s := src.(type) {
			case *pcapReader:
				st = &s.stream
			case *ngReader:
				st = &s.stream
			}
			if _, err := st.closer.(*os.File).Stat(); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("file still open: %v", err)
			}
		})
	}
}

// TestDataAppendSafe checks that appending to a packet's Data cannot
// overwrite the next record in the shared buffer.
func TestDataAppendSafe(t *testing.T) {
	for name, f := range map[string]capFile{"pcap": smallPcap(t, false, false), "pcapng": multiSection(t)} {
		t.Run(name, func(t *testing.T) {
			src, err := NewReader("a", bytes.NewReader(f.data))
			if err != nil {
				t.Fatal(err)
			}
			var got []Packet
			for {
				var p Packet
				if err := src.Next(&p); err != nil {
					break
				}
				_ = append(p.Data, 0xff, 0xff, 0xff, 0xff)
				p.Data = bytes.Clone(p.Data)
				got = append(got, p)
			}
			samePackets(t, got, f.want)
		})
	}
}

// TestHugeBlocks covers blocks larger than the read buffer: skipped
// blocks, and a packet block whose options make it so.
func TestHugeBlocks(t *testing.T) {
	b := newNg()
	b.shb(false)
	b.idb(ifSpec{link: LinkEthernet, resol: -1, name: "eth0"})
	b.other(0x40000BAD, make([]byte, 3*bufSize))
	b.epb(0, 7, frame(t, 1, 3), 0, nil, false)
	// A packet block with a 2 MiB comment.
	start := len(b.data)
	b.block(ngEPB, func(e *enc) {
		data := frame(t, 2, 9)
		e.u32(0)
		e.u32(0)
		e.u32(8)
		e.u32(uint32(len(data)))
		e.u32(uint32(len(data)))
		e.raw(data)
		e.pad()
		for range 40 {
			opt(e, 1, make([]byte, 60000))
		}
		opt(e, 0, nil)
	}, len(b.want))
	b.want = append(b.want, Packet{Timestamp: 8000, Data: frame(t, 2, 9), OrigLen: len(frame(t, 2, 9)), LinkType: LinkEthernet})
	b.epb(0, 9, frame(t, 3, 3), 0, nil, false)
	if len(b.data)-start < bufSize*2 {
		t.Fatalf("block only %d bytes", len(b.data)-start)
	}

	src, err := NewReader("h", bytes.NewReader(b.data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, src)
	if err != io.EOF {
		t.Fatal(err)
	}
	samePackets(t, got, b.want)

	// Cut inside the huge packet block's options: its packet is whole, the
	// error names the block.
	src, err = NewReader("h", bytes.NewReader(b.data[:start+bufSize+100]))
	if err != nil {
		t.Fatal(err)
	}
	got, err = drain(t, src)
	samePackets(t, got, b.want[:2])
	wantErr(t, err, start, ErrTruncated)
}

// TestReadError checks that an I/O error of the input ends the source
// with a FileError that wraps it, after the packets before it.
func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	f := smallPcap(t, false, false)
	cut := f.recs[2].start + 5
	r := io.MultiReader(bytes.NewReader(f.data[:cut]), iotest.ErrReader(boom))
	src, err := NewReader("e", r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, src)
	samePackets(t, got, f.want[:1])
	wantErr(t, err, f.recs[2].start, boom)

	_, err = NewReader("e", iotest.ErrReader(boom))
	wantErr(t, err, 0, boom)
}

// lender is a Buffers that never lends a buffer twice, and counts.
type lender struct {
	t       *testing.T
	out     map[*byte]bool // lent and not yet retired
	gets    int
	retired int
}

func (l *lender) Get() []byte {
	b := make([]byte, BufferSize)
	for i := range b {
		b[i] = 0xee // what was never read into must never be handed out
	}
	l.out[&b[0]] = true
	l.gets++
	return b
}

func (l *lender) Retire(b []byte) {
	if len(b) != BufferSize || !l.out[&b[0]] {
		l.t.Fatalf("Retire of a buffer that is not out (len %d)", len(b))
	}
	delete(l.out, &b[0])
	l.retired++
}

// TestLentBuffers checks that with Buffers, the data of every packet stays
// as read until the end of the capture, without copying, across buffer
// changes, gzip, and blocks larger than a buffer; and that every lent
// buffer comes back by Close.
func TestLentBuffers(t *testing.T) {
	var recs []pcapRec
	size := 0
	for i := 0; size < 3*BufferSize; i++ {
		n := (i * 7919) % 9000 // records of every size, some straddling buffers
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(i + j)
		}
		recs = append(recs, pcapRec{sec: uint32(i), data: data})
		size += n + pcapRecordHeaderLen
	}
	huge := newNg()
	huge.shb(false)
	huge.idb(ifSpec{link: LinkEthernet, resol: -1, name: "eth0"})
	for i := range 40 {
		huge.epb(0, uint64(i), frame(t, i, 60000), 0, nil, false)
		if i%10 == 0 {
			huge.other(0x40000BAD, make([]byte, 2*bufSize+4))
		}
	}
	cases := map[string]capFile{
		"pcap":   buildPcap(false, true, uint32(LinkEthernet), recs),
		"pcapng": huge.capFile,
	}
	dir := t.TempDir()
	for name, f := range cases {
		for _, z := range []bool{false, true} {
			for _, how := range []string{"file", "one-byte"} {
				t.Run(fmt.Sprintf("%s/gzip=%v/%s", name, z, how), func(t *testing.T) {
					data := f.data
					if z {
						data = gz(t, data)
					}
					l := &lender{t: t, out: map[*byte]bool{}}
					var src Source
					var err error
					if how == "file" {
						p := filepath.Join(dir, "lent")
						if err := os.WriteFile(p, data, 0o600); err != nil {
							t.Fatal(err)
						}
						src, err = OpenBuffers(p, l)
					} else {
						src, err = newSource("r", iotest.OneByteReader(bytes.NewReader(data)), nil, l)
					}
					if err != nil {
						t.Fatal(err)
					}
					var got []Packet
					for {
						var p Packet
						if err = src.Next(&p); err != nil {
							break
						}
						got = append(got, p) // not cloned: must stay valid
					}
					if err != io.EOF {
						t.Fatalf("end: %v", err)
					}
					samePackets(t, got, f.want)
					if l.gets < 3 {
						t.Errorf("%d buffers lent for %d bytes: buffers were reused in place", l.gets, len(f.data))
					}
					if err := src.Close(); err != nil {
						t.Fatal(err)
					}
					if len(l.out) != 0 || l.retired != l.gets {
						t.Errorf("after Close: %d buffers still out, %d lent, %d retired", len(l.out), l.gets, l.retired)
					}
				})
			}
		}
	}
}
