package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"

	"outflow/capture"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/l7"
)

// `read --workers N`: one reader goroutine decodes every packet (once) and
// deals the decoded headers out to the workers by host pair, in batches.
//
// Results are those of one worker, in another order:
//   - one decoder sees every packet, so fragments are reassembled whatever
//     worker their datagram goes to, and a packet goes to the worker of its
//     innermost host pair (an FTP control connection and its data channels
//     share a worker);
//   - the reader keeps the one clock a single table would have, and tells
//     every worker when to expire flows (ManualExpiry), so flows end at the
//     same points;
//   - DNS packets also go to every other worker's shadow table, so names
//     learned from answers are known to all workers at the same point;
//   - every event carries the number of the packet that caused it, and
//     detector shards merge the workers' streams by it.

// Slot kinds in a packet batch.
const (
	slotPacket uint8 = iota // a packet for the worker's table
	slotExpire              // expire flows at ts (the shared clock)
	slotShadow              // a packet of another worker's, for the shadow table
)

// pktSlot is one decoded packet (or expiry point) in a batch; its payload
// is in the batch's arena.
type pktSlot struct {
	hdr    decode.Headers // Payload is nil; payOff/payLen locate it
	ts     int64
	now    int64 // the shared clock: the latest packet time so far
	seq    int64
	payOff int32
	payLen int32
	iface  int32
	kind   uint8
}

type pktBatch struct {
	slots []pktSlot
	arena []byte
}

const (
	batchSlots = 256
	batchArena = 512 << 10
)

// shardReader is the reader goroutine's state.
type shardReader struct {
	p    *shardedPipeline
	dec  *decode.Decoder
	hdr  decode.Headers
	in   []chan *pktBatch // to each worker
	free []chan *pktBatch // back from each worker
	cur  []*pktBatch

	seq           int64 // packets read
	now, nextExp  int64 // the shared packet clock, as one table keeps it
	packets, byts uint64
}

func newShardReader(p *shardedPipeline) *shardReader {
	n := len(p.workers)
	r := &shardReader{p: p, dec: decode.New(decode.Config{}), in: make([]chan *pktBatch, n), free: make([]chan *pktBatch, n), cur: make([]*pktBatch, n)}
	for i := range r.in {
		r.in[i] = make(chan *pktBatch, queueLen)
		r.free[i] = make(chan *pktBatch, queueLen+2)
		r.cur[i] = r.batch(i)
	}
	return r
}

func (r *shardReader) batch(w int) *pktBatch {
	select {
	case b := <-r.free[w]:
		b.slots, b.arena = b.slots[:0], b.arena[:0]
		return b
	default:
		return &pktBatch{slots: make([]pktSlot, 0, batchSlots+8), arena: make([]byte, 0, batchArena+64<<10)}
	}
}

// workerOf picks the worker of a host pair: the same both ways.
func workerOf(h *decode.Headers, n int) int {
	a := binary.LittleEndian.Uint64(h.Src[:8]) ^ binary.LittleEndian.Uint64(h.Src[8:])*0x9e3779b97f4a7c15
	b := binary.LittleEndian.Uint64(h.Dst[:8]) ^ binary.LittleEndian.Uint64(h.Dst[8:])*0x9e3779b97f4a7c15
	return int(mix64(a+b) % uint64(n))
}

// announces reports packets whose L7 state other flows need: DNS answers
// name the servers of later flows (of other host pairs). Over UDP every
// answer is one datagram from port 53 and the queries teach nothing; over
// TCP the whole stream is needed to find the messages in it.
func announces(h *decode.Headers) bool {
	switch h.Proto {
	case decode.ProtoUDP:
		return h.SrcPort == 53
	case decode.ProtoTCP:
		return h.SrcPort == 53 || h.DstPort == 53
	}
	return false
}

// put appends the decoded packet (or an expiry point) to worker w's batch
// and reports whether the batch is full.
func (r *shardReader) put(w int, kind uint8, ts int64, iface int) bool {
	b := r.cur[w]
	n := len(b.slots)
	if n < cap(b.slots) {
		b.slots = b.slots[:n+1]
	} else {
		b.slots = append(b.slots, pktSlot{})
	}
	s := &b.slots[n] // filled in place: a slot is 200 bytes
	s.ts, s.now, s.seq, s.iface, s.kind = ts, r.now, r.seq, int32(iface), kind
	if kind != slotExpire {
		s.hdr = r.hdr
		s.hdr.Payload = nil
		s.payOff, s.payLen = int32(len(b.arena)), int32(len(r.hdr.Payload))
		b.arena = append(b.arena, r.hdr.Payload...)
	}
	return len(b.slots) >= batchSlots || len(b.arena) >= batchArena
}

// add takes one packet.
func (r *shardReader) add(pkt *capture.Packet, iface int) {
	r.packets++
	r.byts += uint64(pkt.OrigLen)
	r.seq++
	if r.dec.Decode(pkt, &r.hdr) != decode.OK {
		return
	}
	ts := pkt.Timestamp
	if ts > r.now {
		r.now = ts
	}
	n := len(r.in)
	full := false
	if r.now >= r.nextExp {
		// Where one table would expire flows (flows.Table.Add): every
		// worker does so before this packet.
		for w := 0; w < n; w++ {
			full = r.put(w, slotExpire, r.now, iface) || full
		}
		r.nextExp = r.now + int64(time.Second)
	}
	w := workerOf(&r.hdr, n)
	full = r.put(w, slotPacket, ts, iface) || full
	if r.p.workers[w].shadow != nil && announces(&r.hdr) {
		for o := 0; o < n; o++ {
			if o != w {
				full = r.put(o, slotShadow, ts, iface) || full
			}
		}
	}
	if full {
		r.flush()
	}
}

// flush sends every worker its batch, so that all workers see the same
// rounds (the shards merge them round by round).
func (r *shardReader) flush() {
	for w, b := range r.cur {
		r.in[w] <- b
		r.cur[w] = r.batch(w)
	}
}

// close sends the last round and ends the workers' input.
func (r *shardReader) close() {
	r.flush()
	for _, q := range r.in {
		close(q)
	}
}

// runOffline is a worker's loop over the reader's batches.
func (w *worker) runOffline(in <-chan *pktBatch, free chan<- *pktBatch) {
	for b := range in {
		for i := range b.slots {
			s := &b.slots[i]
			switch s.kind {
			case slotExpire:
				w.clock = 2 * s.seq
				w.table.Advance(s.ts)
				if w.shadow != nil {
					w.shadow.Advance(s.ts)
				}
			case slotPacket:
				w.clock = 2*s.seq + 1
				s.hdr.Payload = b.arena[s.payOff : s.payOff+s.payLen]
				w.packets++
				// The clock one table would have: it differs from the
				// worker's own when packets come out of time order.
				w.table.SetClock(s.now)
				w.table.Add(&s.hdr, s.ts, int(s.iface))
			case slotShadow:
				s.hdr.Payload = b.arena[s.payOff : s.payOff+s.payLen]
				w.shadowPackets++
				if s.hdr.Proto == decode.ProtoUDP {
					// A DNS answer: a throwaway session learns its
					// names, without a flow in the shadow table.
					w.l7.Announce(l7.FlowInfo{
						Transport: l7.UDP,
						Client:    netip.AddrPortFrom(flows.AddrOf(s.hdr.Dst), s.hdr.DstPort),
						Server:    netip.AddrPortFrom(flows.AddrOf(s.hdr.Src), s.hdr.SrcPort),
					}, l7.FromServer, s.hdr.Payload, s.ts)
					continue
				}
				w.shadow.SetClock(s.now)
				w.shadow.Add(&s.hdr, s.ts, int(s.iface))
			}
		}
		select {
		case free <- b:
		default:
		}
		w.endRound(false)
	}
	// After every other event: the shards take ties in worker order.
	w.finish(math.MaxInt64)
}

// readSharded reads the files through p's workers, which have finished
// when it returns. It returns the reader (for its counters), how many
// files could not be read, and whether ctx ended the run.
func readSharded(ctx context.Context, p *shardedPipeline, files []string, log *slog.Logger) (r *shardReader, unreadable int, interrupted bool) {
	r = newShardReader(p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for i, w := range p.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.runOffline(r.in[i], r.free[i])
			}()
		}
		wg.Wait()
	}()
	unreadable, interrupted = readCaptures(ctx, files, log, func(name string) int { return p.cfg.ifaces.id(name, name) }, r.add)
	r.close()
	<-done
	return r, unreadable, interrupted
}

// readWithWorkers is `read --workers N`.
func readWithWorkers(ctx context.Context, sf *shardFlags, tf *tableFlags, df *detectFlags, writeFlows bool, files []string,
	w io.Writer, closeOut func() error, inv *fileInventory, xp *ipfixExport, log *slog.Logger) error {
	tcfg, err := tf.config()
	if err != nil {
		closeOut()
		return err
	}
	p, err := newShardedPipeline(withInventoryExport(shardConfig{workers: sf.workers, shards: sf.shards, table: tcfg, noL7: tf.noL7, writeFlows: writeFlows,
		shadow: true, df: df, ifaces: &sharedIfaces{}, log: log}, inv, xp), w)
	if err != nil {
		closeOut()
		return err
	}
	rs, unreadable, interrupted := readSharded(ctx, p, files, log)
	ferr := p.finish()
	xp.close(log) // every record is in: drain the exporter before the summary
	if cerr := closeOut(); ferr == nil && cerr != nil {
		ferr = fmt.Errorf("close output: %w", cerr)
	}
	pc := p.counters()
	msg := "read done"
	if interrupted {
		msg = "read interrupted; open flows flushed"
	}
	args := []any{"files", len(files), "unreadable_files", unreadable, "records", pc.records,
		"workers", len(p.workers), "detect_shards", max(1, len(p.shards)), "worker_packets", workerFields(p, func(w *worker) uint64 { return w.packets })}
	args = append(args, p.detectionSummary()...)
	args = append(append(args, xp.summaryArgs()...), inv.summaryArgs()...)
	args = append(args, summaryFields(rs.packets, rs.byts, rs.dec.Stats(), pc.table, time.Since(p.start))...)
	log.Info(msg, args...)
	if ferr != nil {
		return ferr
	}
	if unreadable > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files could not be read", unreadable, len(files))}
	}
	return nil
}

// withInventoryExport gives every worker and shard the inventory (both are
// safe for concurrent use) and one shared IPFIX exporter.
func withInventoryExport(cfg shardConfig, inv *fileInventory, xp *ipfixExport) shardConfig {
	cfg.attr, cfg.flowAttr = inv.attributor(), inv.flowAttributor()
	cfg.enrich = inv.enrichers()
	if inv != nil {
		cfg.alertEnrich = []detect.AlertEnricher{inv.inv}
	}
	if o := xp.observer(); o != nil {
		cfg.observer = func(int) flows.Observer { return o }
	}
	return cfg
}
