// Package ntp identifies NTP versions 1 to 4 over UDP: time packets (modes
// 1 to 5), control messages (mode 6, ntpq) and private messages (mode 7,
// ntpdc, whose monlist request is abused for amplification). The first
// datagram says all the record needs, so the session stops after it.
package ntp

import (
	"encoding/binary"

	"outflow/flows/ecs"
	"outflow/flows/l7"
)

const (
	timeLen    = 48   // header of modes 1-5
	maxTimeLen = 1024 // with extension fields and MAC
	controlLen = 12   // header of mode 6
	privateLen = 8    // header of mode 7
	maxStratum = 16
)

type parser struct{}

// New returns the NTP parser.
func New() l7.Parser { return parser{} }

func (parser) Name() string                       { return "ntp" }
func (parser) Transports() l7.Transport           { return l7.UDP }
func (parser) Ports() []uint16                    { return []uint16{123} }
func (parser) NewSession(*l7.FlowInfo) l7.Session { return &session{} }

// Probe checks the fields that every implementation sets within narrow
// ranges, so that few random datagrams pass: version 1-4, a defined mode,
// a length fitting the mode, and per mode stratum, poll and precision
// (1-5), opcode and count (6), or implementation and item sizes (7).
func (parser) Probe(f *l7.FlowInfo, _ l7.Dir, d []byte) l7.Verdict {
	if len(d) < privateLen {
		return l7.VerdictNo
	}
	vn, mode := d[0]>>3&7, d[0]&7
	if vn < 1 || vn > 4 {
		return l7.VerdictNo
	}
	ok := false
	switch mode {
	case 1, 2, 3, 4, 5:
		ok = probeTime(d, mode)
	case 6, 7:
		// Control and private (ntpq/ntpdc) messages have too little
		// structure to tell from other UDP by content alone (ONC RPC
		// matches them); they are only taken on NTP's own port.
		if f == nil || (f.Server.Port() != 123 && f.Client.Port() != 123) {
			return l7.VerdictNo
		}
		if mode == 6 {
			ok = probeControl(d, vn)
		} else {
			ok = probePrivate(d)
		}
	}
	if ok {
		return l7.VerdictYes
	}
	return l7.VerdictNo
}

func probeTime(d []byte, mode byte) bool {
	if len(d) < timeLen || len(d) > maxTimeLen || len(d)%4 != 0 {
		return false
	}
	stratum, poll, precision := d[1], int8(d[2]), int8(d[3])
	if stratum > maxStratum || poll < -7 || poll > 17 || precision > 0 || precision < -32 {
		return false
	}
	// A server or broadcast packet always carries its transmit time.
	if (mode == 4 || mode == 5) && binary.BigEndian.Uint64(d[40:]) == 0 {
		return false
	}
	return true
}

func probeControl(d []byte, vn byte) bool {
	if len(d) < controlLen || vn < 2 {
		return false
	}
	op := d[1] & 0x1f
	count := int(binary.BigEndian.Uint16(d[10:]))
	return op >= 1 && op <= 31 && count <= len(d)-controlLen && count <= 468
}

func probePrivate(d []byte) bool {
	impl, req := d[2], d[3]
	nitems := int(binary.BigEndian.Uint16(d[4:]) & 0x0fff)
	mbz, size := d[6]>>4, int(binary.BigEndian.Uint16(d[6:])&0x0fff)
	if impl != 0 && impl != 2 && impl != 3 || req > 45 || mbz != 0 {
		return false
	}
	return nitems*size <= len(d)-privateLen
}

type session struct {
	have      bool
	version   uint8
	mode      uint8
	stratum   uint8
	code      uint8 // opcode (mode 6) or request code (mode 7)
	malformed bool
}

func (s *session) Feed(ctx *l7.Context, _ l7.Dir, d []byte) bool {
	if len(d) < privateLen {
		ctx.Malformed("ntp")
		return false
	}
	s.have = true
	s.version, s.mode = d[0]>>3&7, d[0]&7
	switch s.mode {
	case 6:
		s.code = d[1] & 0x1f
	case 7:
		s.code = d[3]
	default:
		s.stratum = d[1]
	}
	return false
}

func (s *session) Gap(*l7.Context, l7.Dir, int) bool { return false }

var modeNames = [8]string{"reserved", "symmetric_active", "symmetric_passive", "client", "server", "broadcast", "control", "private"}

func (s *session) Fields(d *ecs.Doc) {
	if !s.have {
		return
	}
	d.Int("outflow.ntp.version", int64(s.version))
	d.Str("outflow.ntp.mode", modeNames[s.mode&7])
	switch s.mode {
	case 6:
		d.Int("outflow.ntp.opcode", int64(s.code))
	case 7:
		d.Int("outflow.ntp.request_code", int64(s.code))
	default:
		d.Int("outflow.ntp.stratum", int64(s.stratum))
	}
}

func (s *session) Summary(sum *l7.Summary) { sum.Protocol = "ntp" }
