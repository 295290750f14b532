package capture

import "encoding/binary"

// pcapReader reads the classic libpcap format: a 24-byte file header, then
// records of a 16-byte header and the captured bytes.
type pcapReader struct {
	stream
	be    bool // big-endian file
	tsMul int64
	link  LinkType
	fcs   int // FCS bytes at the end of every frame, to strip
}

const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

func newPcapReader(s stream) (Source, error) {
	r := &pcapReader{stream: s, tsMul: 1000}
	// The 4 magic bytes are buffered, so a short header is ErrTruncated.
	h, err := r.peek(pcapFileHeaderLen)
	if err != nil {
		return nil, err
	}
	r.be = h[0] == 0xa1 // the magic a1b2c3d4 / a1b23c4d was written big-endian
	if h[1] == 0x3c || h[2] == 0x3c {
		r.tsMul = 1 // nanosecond magic
	}
	// The upper bits of the link type field carry extra information; the
	// one that matters is libpcap's "FCS length present" flag with the FCS
	// length in 16-bit words in the top four bits.
	network := r.u32(h[20:])
	r.link = LinkType(network & 0xffff)
	if network&0x04000000 != 0 {
		r.fcs = int(network>>28) * 2
	}
	r.advance(pcapFileHeaderLen)
	return r, nil
}

func (r *pcapReader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *pcapReader) InterfaceName(int) string { return "" }

func (r *pcapReader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	h, err := r.peek(pcapRecordHeaderLen)
	if err != nil {
		return err
	}
	incl := r.u32(h[8:])
	if incl > maxCapLen {
		return r.corrupt("captured length %d", incl)
	}
	n := pcapRecordHeaderLen + int(incl)
	b, err := r.peek(n)
	if err != nil {
		return err
	}
	sec, frac, orig := r.u32(b[0:]), r.u32(b[4:]), int(r.u32(b[12:]))
	// Cap the slice so that a consumer's append cannot overwrite the next
	// record in the buffer.
	data := b[pcapRecordHeaderLen:n:n]
	data, orig = stripFCS(data, orig, r.fcs)
	if orig < len(data) {
		orig = len(data) // some writers leave it 0; the wire had at least this much
	}
	p.Timestamp = int64(sec)*1e9 + int64(frac)*r.tsMul
	p.Data = data
	p.OrigLen = orig
	p.LinkType = r.link
	p.Interface = 0
	r.advance(n)
	return nil
}
