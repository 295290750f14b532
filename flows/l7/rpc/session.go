package rpc

import (
	"encoding/binary"
	"hash/maphash"

	"outflow/flows/l7"
)

// Stream states (TCP).
const (
	stMark   uint8 = iota // reading a 4-byte record mark
	stData                // inside a fragment
	stResync              // after a gap: looking for the next record
)

// Record phases.
const (
	phStart uint8 = iota // the next fragment starts a record
	phUnit               // buffering the start of the record
	phSkip               // dropping the rest of the record
)

// firstWant is how much of a record is buffered, at most, before the first
// parse: enough for the header and arguments of nearly every message.
const firstWant = 512

// stream is one TCP direction's record-marking state (RFC 5531 section 11).
type stream struct {
	state    uint8
	phase    uint8
	mark     [4]byte
	nmark    int
	fragLeft int
	last     bool
	empties  int
	buf      []byte
	want     int
	hi, lo   uint64 // resync: the last 16 bytes seen
	scanned  int
}

func newSession(name string, udp bool) *session {
	return &session{name: name, udp: udp, seed: maphash.MakeSeed()}
}

func (s *session) Feed(ctx *l7.Context, dir l7.Dir, data []byte) bool {
	if s.dead {
		return false
	}
	if s.udp {
		s.message(ctx, data, true)
		return !s.dead
	}
	st := &s.dirs[dir&1]
	for len(data) > 0 && !s.dead {
		switch st.state {
		case stMark:
			n := copy(st.mark[st.nmark:], data)
			st.nmark += n
			data = data[n:]
			if st.nmark < len(st.mark) {
				return true
			}
			st.nmark = 0
			v := binary.BigEndian.Uint32(st.mark[:])
			st.last = v>>31 == 1
			st.fragLeft = int(v &^ (1 << 31))
			if st.fragLeft > maxFrag {
				return s.malformed(ctx)
			}
			if st.fragLeft == 0 {
				if st.empties++; st.empties > maxEmptyFrags {
					return s.malformed(ctx)
				}
				if st.last {
					s.endRecord(ctx, st)
				}
				continue
			}
			st.empties = 0
			if st.phase == phStart {
				st.phase = phUnit
				st.buf = st.buf[:0]
				st.want = firstWant
			}
			st.state = stData
		case stData:
			n := min(st.fragLeft, len(data))
			chunk := data[:n]
			data = data[n:]
			st.fragLeft -= n
			for len(chunk) > 0 && st.phase == phUnit {
				k := min(st.want-len(st.buf), len(chunk))
				if st.buf == nil {
					st.buf = make([]byte, 0, firstWant)
				}
				st.buf = append(st.buf, chunk[:k]...)
				chunk = chunk[k:]
				// Parse when the target is reached, and also when this
				// Feed has no more of the record: the header is usually
				// complete long before firstWant bytes.
				if len(st.buf) >= st.want || len(chunk) == 0 {
					s.unit(ctx, st, false)
				}
			}
			if st.fragLeft == 0 {
				st.state = stMark
				if st.last {
					s.endRecord(ctx, st)
				}
			}
		case stResync:
			data = s.resync(ctx, st, data)
		}
	}
	return !s.dead
}

func (s *session) malformed(ctx *l7.Context) bool {
	ctx.Malformed(s.name)
	s.dead = true
	return false
}

// unit parses the buffered start of a record, or raises st.want when the
// message needs more of it. final means no more bytes will come.
func (s *session) unit(ctx *l7.Context, st *stream, final bool) {
	final = final || len(st.buf) >= maxUnit
	need := s.message(ctx, st.buf, final)
	if need > len(st.buf) {
		st.want = min(max(st.want, need), maxUnit)
		if st.want > len(st.buf) {
			return
		}
		s.message(ctx, st.buf, true)
	}
	st.phase = phSkip
	st.buf = st.buf[:0]
}

func (s *session) endRecord(ctx *l7.Context, st *stream) {
	if st.phase == phUnit {
		s.unit(ctx, st, true)
	}
	st.phase = phStart
}

// Gap keeps the framing when the hole lies inside the current fragment
// (the record's message is lost); otherwise it looks for the next record.
func (s *session) Gap(ctx *l7.Context, dir l7.Dir, n int) bool {
	if s.dead {
		return false
	}
	if s.udp {
		return true
	}
	st := &s.dirs[dir&1]
	if st.state == stData && n >= 0 && n <= st.fragLeft {
		st.fragLeft -= n
		if st.phase == phUnit {
			st.phase = phSkip
			st.buf = st.buf[:0]
		}
		if st.fragLeft == 0 {
			st.state = stMark
			if st.last {
				st.phase = phStart
			}
		}
		return true
	}
	st.state = stResync
	st.phase = phStart
	st.nmark = 0
	st.buf = st.buf[:0]
	st.hi, st.lo, st.scanned = 0, 0, 0
	return true
}

// resync scans for a record mark followed by a CALL header (RPC version 2)
// or by a REPLY to a pending call, and restarts the framing there.
func (s *session) resync(ctx *l7.Context, st *stream, data []byte) []byte {
	for i, c := range data {
		st.hi = st.hi<<8 | st.lo>>56
		st.lo = st.lo<<8 | uint64(c)
		st.scanned++
		if st.scanned > maxResync {
			s.dead = true
			return nil
		}
		if st.scanned < 16 {
			continue
		}
		mark := uint32(st.hi >> 32)
		n := int(mark &^ (1 << 31))
		xid, mtype, w3 := uint32(st.hi), uint32(st.lo>>32), uint32(st.lo)
		if n < 24 || n > maxFrag {
			continue
		}
		switch {
		case mtype == msgCall && w3 == rpcVers:
		case mtype == msgReply && w3 <= 1 && s.pending.find(xid) >= 0:
		default:
			continue
		}
		st.state = stData
		st.last = mark>>31 == 1
		st.fragLeft = n - 12
		st.phase = phUnit
		st.want = firstWant
		st.buf = binary.BigEndian.AppendUint32(st.buf[:0], xid)
		st.buf = binary.BigEndian.AppendUint32(st.buf, mtype)
		st.buf = binary.BigEndian.AppendUint32(st.buf, w3)
		return data[i+1:]
	}
	return nil
}
