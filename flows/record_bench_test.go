package flows

import (
	"io"
	"testing"

	"outflow/flows/ecs"
)

// endedFlow is a short TCP flow as the table hands it to observers at its
// end.
func endedFlow() Flow {
	var f Flow
	tab := NewTable(Config{}, nil, ObserverFunc(func(ev Event, x *Flow) {
		if ev == EventEnd {
			f = *x
		}
	}))
	for _, p := range []pkt{
		{0, "10.0.0.1", "192.0.2.1", 40000, 443, 6, S, 0, 0, 0},
		{0, "192.0.2.1", "10.0.0.1", 443, 40000, 6, SA, 0, 0, 0},
		{0, "10.0.0.1", "192.0.2.1", 40000, 443, 6, A, 517, 0, 0},
	} {
		h := p.headers()
		tab.Add(&h, 1_700_000_000_123_456_789, 0)
	}
	tab.Flush(EndEndOfInput)
	return f
}

// BenchmarkRecord is one flow record from flow to JSON line (what --flows
// costs per flow on top of the table), and its two halves.
func BenchmarkRecord(b *testing.B) {
	f := endedFlow()
	var d ecs.Doc
	b.Run("line", func(b *testing.B) {
		w := ecs.NewWriter(io.Discard)
		b.ReportAllocs()
		for range b.N {
			d.Reset()
			AppendRecord(&d, &f)
			if err := w.Write(&d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fields", func(b *testing.B) {
		for range b.N {
			d.Reset()
			AppendRecord(&d, &f)
		}
	})
	var line []byte
	b.Run("json", func(b *testing.B) {
		for range b.N {
			line = d.AppendJSON(line[:0])
		}
	})
}
