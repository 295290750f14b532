package beacon

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// FuzzTracker drives a small Tracker with arbitrary check-ins: the first 8
// bytes are the start time, then 6-byte records
//
//	op    bit 7: Expire instead of Add; bit 6: step backwards; bits 0-1: key
//	step  3 bytes, little endian, scaled by 1 ms << (op bits 2-5)
//	size  2 bytes
//
// No input may panic or produce a verdict with NaN, infinite or out-of-range
// values, and RITATimestampScore on the same timestamps stays in [0, 1].
func FuzzTracker(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x60\xea\x00\x2c\x01\x00\x60\xea\x00\x2c\x01\x00\x60\xea\x00\x2c\x01" +
		"\x00\x60\xea\x00\x2c\x01\x00\x60\xea\x00\x2c\x01\x00\x60\xea\x00\x2c\x01"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f\x01\x32\x00\x00\x10\x00\x41\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x80\x3c\xff\xff\xff\xff\xff\x80\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 8 {
			return
		}
		now := int64(binary.LittleEndian.Uint64(data))
		data = data[8:]
		cfg := Config{Ring: 8, MaxSeries: 3, MinCheckins: 4, SeriesIdle: time.Second}
		tr := NewTracker(cfg)
		keys := [4]Key{{Entity: "a"}, {Entity: "b", Port: 1}, {Entity: "c", Transport: 17}, {Dest: "d"}}
		var seen []int64
		for len(data) >= 6 {
			op := data[0]
			step := int64(data[1]) | int64(data[2])<<8 | int64(data[3])<<16
			step *= int64(time.Millisecond) << ((op >> 2) & 0xf)
			size := uint64(binary.LittleEndian.Uint16(data[4:]))
			data = data[6:]
			if op&0x40 != 0 {
				now -= step
			} else {
				now += step
			}
			if op&0x80 != 0 {
				tr.Expire(now)
				continue
			}
			seen = append(seen, now)
			v, ok := tr.Add(keys[op&3], now, size)
			if ok {
				checkVerdict(t, v)
			}
			if s := tr.Stats(); s.Series > cfg.MaxSeries {
				t.Fatalf("%d series tracked, cap %d", s.Series, cfg.MaxSeries)
			}
		}
		if s := RITATimestampScore(seen); !(s >= 0 && s <= 1) {
			t.Fatalf("RITATimestampScore = %v", s)
		}
	})
}

func checkVerdict(t *testing.T, v Verdict) {
	t.Helper()
	for _, x := range []float64{v.Score, v.Interval, v.Size, v.Periodicity, v.Coverage} {
		if math.IsNaN(x) || x < 0 || x > 1 {
			t.Fatalf("verdict value out of [0,1]: %+v", v)
		}
	}
	if v.Period < 0 || v.Jitter < 0 || v.Count < 1 || v.First > v.Last {
		t.Fatalf("inconsistent verdict %+v", v)
	}
	if n := btoi(v.Alert) + btoi(v.Update) + btoi(v.Strobe); n != 1 {
		t.Fatalf("verdict must be exactly one of Alert, Update, Strobe: %+v", v)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
