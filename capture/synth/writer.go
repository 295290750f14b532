package synth

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"outflow/capture"
)

// Format is a capture file format.
type Format uint8

const (
	PCAP   Format = iota // classic pcap, microsecond timestamps
	PCAPNG               // pcapng, nanosecond timestamps, several interfaces
)

func (f Format) String() string {
	if f == PCAPNG {
		return "pcapng"
	}
	return "pcap"
}

// Interface is one capture interface of the output file.
type Interface struct {
	Name string
	Link capture.LinkType // LinkEthernet, LinkRaw or LinkLinuxSLL
}

// WriterOptions configure a Writer. The zero value writes an uncompressed
// pcap with one Ethernet interface.
type WriterOptions struct {
	Format Format
	Gzip   bool // compress the whole file with gzip (fastest level)
	// Interfaces default to one Ethernet interface "eth0". PCAP allows
	// exactly one; PCAPNG any number, each with its own link type.
	Interfaces []Interface
}

const snapLen = 262144

// Writer writes scenarios to a capture file, merging the packets of all
// running flows in timestamp order. Memory is bounded by the number of
// flows open at once, not by the number of packets.
type Writer struct {
	out    *bufio.Writer
	gz     *gzip.Writer
	pcap   *pcapgo.Writer
	ng     *pcapgo.NgWriter
	fr     *framer
	lastTS int64
	closed bool
}

// NewWriter writes the file header to w and returns a Writer. Close must be
// called to flush; it does not close w.
func NewWriter(w io.Writer, opt WriterOptions) (*Writer, error) {
	ifs := opt.Interfaces
	if len(ifs) == 0 {
		ifs = []Interface{{Name: "eth0", Link: capture.LinkEthernet}}
	}
	links := make([]capture.LinkType, len(ifs))
	for i, it := range ifs {
		switch it.Link {
		case capture.LinkEthernet, capture.LinkRaw, capture.LinkLinuxSLL:
		default:
			return nil, fmt.Errorf("synth: interface %q: unsupported link type %v", it.Name, it.Link)
		}
		links[i] = it.Link
	}
	wr := &Writer{fr: newFramer(links), lastTS: -1 << 62}
	var sink io.Writer = w
	if opt.Gzip {
		gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("synth: gzip: %w", err)
		}
		wr.gz, sink = gz, gz
	}
	wr.out = bufio.NewWriterSize(sink, 1<<20)
	switch opt.Format {
	case PCAP:
		if len(ifs) != 1 {
			return nil, fmt.Errorf("synth: pcap holds one interface, got %d", len(ifs))
		}
		wr.pcap = pcapgo.NewWriter(wr.out)
		if err := wr.pcap.WriteFileHeader(snapLen, layers.LinkType(ifs[0].Link)); err != nil {
			return nil, fmt.Errorf("synth: pcap header: %w", err)
		}
	case PCAPNG:
		// Explicit section info: pcapgo's defaults name the build platform,
		// which would make files differ between machines.
		section := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "outflow synth"}}
		for i, it := range ifs {
			ni := pcapgo.NgInterface{Name: it.Name, LinkType: layers.LinkType(it.Link),
				SnapLength: snapLen, TimestampResolution: 9}
			var err error
			if i == 0 {
				wr.ng, err = pcapgo.NewNgWriterInterface(wr.out, ni, section)
			} else {
				_, err = wr.ng.AddInterface(ni)
			}
			if err != nil {
				return nil, fmt.Errorf("synth: pcapng interface %q: %w", it.Name, err)
			}
		}
	default:
		return nil, fmt.Errorf("synth: unknown format %d", opt.Format)
	}
	return wr, nil
}

// Close flushes buffered output (and ends the gzip stream).
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.ng != nil {
		if err := w.ng.Flush(); err != nil {
			return fmt.Errorf("synth: flush: %w", err)
		}
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("synth: flush: %w", err)
	}
	if w.gz != nil {
		if err := w.gz.Close(); err != nil {
			return fmt.Errorf("synth: gzip: %w", err)
		}
	}
	return nil
}

// running is a heap entry: a flow keyed by its next packet time, ties
// broken by flow id so that the output order is fully determined.
type running struct {
	t   int64
	id  int
	f   flow
	rec *FlowRecord
}

func less(a, b *running) bool { return a.t < b.t || (a.t == b.t && a.id < b.id) }

// flowHeap is a min-heap written out by hand: container/heap would box
// every entry in an interface on the per-packet path.
type flowHeap []running

func (h *flowHeap) push(r running) {
	*h = append(*h, r)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&s[i], &s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *flowHeap) down() {
	s := *h
	i, n := 0, len(s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(&s[r], &s[l]) {
			m = r
		}
		if !less(&s[m], &s[i]) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

func (h *flowHeap) popTop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = running{}
	*h = s[:n]
	h.down()
}

// Run writes every packet of sc and returns the manifest counted from what
// was written. A scenario may be run by several writers (for example to
// write it in two formats); each run produces the same packets. Several
// scenarios may be run on one Writer if each starts after the previous
// one's last packet.
func (w *Writer) Run(sc *Scenario) (*Manifest, error) {
	if w.closed {
		return nil, errors.New("synth: run on a closed writer")
	}
	src, err := sc.source()
	if err != nil {
		return nil, fmt.Errorf("synth: scenario %s: %w", sc.Name, err)
	}
	m := &Manifest{Scenario: sc.Name, Seed: sc.Seed, Start: sc.Start}
	base := sc.Start.UnixNano()
	var h flowHeap
	ci := gopacket.CaptureInfo{}
	for {
		// Admit flows whose first packet is due no later than the earliest
		// running one; the source yields them in start order.
		for p := src.peek(); p != nil && (len(h) == 0 || p.firstTime() <= h[0].t); p = src.peek() {
			src.pop()
			fp := p.plan()
			if fp.err != nil {
				return m, fmt.Errorf("synth: %w", fp.err)
			}
			rec := new(FlowRecord)
			*rec = fp.rec
			m.Flows = append(m.Flows, rec)
			f := p.newFlow()
			if t := f.next(); t >= 0 {
				h.push(running{t: t, id: fp.id, f: f, rec: rec})
			}
		}
		if len(h) == 0 {
			break
		}
		top := &h[0]
		ts := base + top.t
		if ts < w.lastTS {
			return m, fmt.Errorf("synth: flow %d goes back in time (%d < %d)", top.id, ts, w.lastTS)
		}
		w.lastTS = ts
		data, d, ipLen, err := top.f.emit(w.fr)
		if err != nil {
			return m, fmt.Errorf("synth: flow %d: %w", top.id, err)
		}
		ci.Timestamp = time.Unix(0, ts).UTC()
		ci.CaptureLength, ci.Length = len(data), len(data)
		ci.InterfaceIndex = top.rec.Interface
		if w.ng != nil {
			err = w.ng.WritePacket(ci, data)
		} else {
			err = w.pcap.WritePacket(ci, data)
		}
		if err != nil {
			return m, fmt.Errorf("synth: write: %w", err)
		}
		m.Packets++
		m.Bytes += int64(len(data))
		rec := top.rec
		c := &rec.ToServer
		if d == ToClient {
			c = &rec.ToClient
		}
		c.Packets++
		c.IPBytes += int64(ipLen)
		if rec.First.IsZero() {
			rec.First = ci.Timestamp
		}
		rec.Last = ci.Timestamp
		if top.t = top.f.next(); top.t < 0 {
			h.popTop()
		} else {
			h.down()
		}
	}
	return m, nil
}

// WriteFile runs sc into a new file at path.
func WriteFile(path string, sc *Scenario, opt WriterOptions) (*Manifest, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	w, err := NewWriter(f, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	m, err := w.Run(sc)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("synth: %w", cerr)
	}
	return m, err
}
