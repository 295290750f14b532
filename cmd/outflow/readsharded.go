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
	"sync/atomic"
	"time"
	"unsafe"

	"outflow/capture"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/l7"
)

// `read --workers N`: one reader goroutine decodes every packet (once) and
// deals the decoded headers out to the workers by host pair, in rounds.
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
//
// Nothing is copied on the way. A round is one batch of slots that every
// worker reads (each takes its own packets and the others' DNS answers);
// the reader decodes each packet straight into its slot, and the slot's
// payload points into the buffer the file was read into: the reader lends
// the capture source its buffers (capture.Buffers). A batch, or a buffer
// the source has moved on from, is reused only once every worker has
// finished the round it was last used in. Only payloads that are not in
// the frame (reassembled datagrams) are copied, into the batch's arena.

// pktSlot is one decoded packet in a round. Workers only read it.
type pktSlot struct {
	worker   uint16 // whose table takes the packet
	expire   bool   // every worker expires flows at now before the packet
	announce bool   // DNS: the other workers learn names from it (shadow tables)
	iface    int32
	ts       int64
	now      int64 // the shared clock: the latest packet time so far
	seq      int64
	hdr      decode.Headers // Payload is in a lent buffer or the arena
}

// pktBatch is one round.
type pktBatch struct {
	round int64
	slots []pktSlot
	// mine[w] lists the slots worker w has anything to do with (its
	// packets, expiry points, others' DNS answers): a worker reads only
	// those, not every slot the reader wrote on another core.
	mine  [][]uint16
	arena []byte // payloads not in their frame; never grows (slots point into it)
	// payload bytes the slots carry: a round ends at batchBytes so that
	// the buffers it holds on to stay few.
	payBytes int
}

const (
	batchSlots = 512
	batchBytes = 1 << 20
	arenaSize  = 256 << 10
)

// shardReader is the reader goroutine's state.
type shardReader struct {
	p   *shardedPipeline
	dec *decode.Decoder
	in  []chan *pktBatch // to each worker: every worker gets every round
	cur *pktBatch

	// round counts rounds sent; done[w] is the last round worker w has
	// finished. Batches and lent buffers last used in round R are free
	// once every worker has finished R.
	round   int64
	done    []atomic.Int64
	sent    untilRound[*pktBatch]
	retired untilRound[[]byte]
	made    int // buffers allocated

	shadows       bool  // workers keep shadow tables: DNS answers go to all
	seq           int64 // packets read
	now, nextExp  int64 // the shared packet clock, as one table keeps it
	packets, byts uint64
}

func newShardReader(p *shardedPipeline) *shardReader {
	n := len(p.workers)
	r := &shardReader{p: p, dec: decode.New(decode.Config{}), in: make([]chan *pktBatch, n), done: make([]atomic.Int64, n),
		shadows: p.workers[0].shadow != nil} // all alike
	for i := range r.in {
		r.in[i] = make(chan *pktBatch, queueLen)
		r.done[i].Store(-1)
	}
	r.cur = r.batch()
	return r
}

// finished is the last round every worker has finished.
func (r *shardReader) finished() int64 {
	done := r.done[0].Load()
	for i := 1; i < len(r.done); i++ {
		done = min(done, r.done[i].Load())
	}
	return done
}

// untilRound holds things the workers may still be using, each until
// every worker has finished the round it was last used in.
type untilRound[T any] struct {
	items  []T
	rounds []int64 // non-decreasing
}

func (q *untilRound[T]) push(x T, round int64) {
	q.items = append(q.items, x)
	q.rounds = append(q.rounds, round)
}

// pop returns the oldest thing if no worker can be using it any more.
func (q *untilRound[T]) pop(finished int64) (x T, ok bool) {
	if len(q.items) == 0 || q.rounds[0] > finished {
		return x, false
	}
	x = q.items[0]
	var zero T
	q.items[0] = zero
	q.items = q.items[:copy(q.items, q.items[1:])]
	q.rounds = q.rounds[:copy(q.rounds, q.rounds[1:])]
	return x, true
}

// batch returns an empty batch for the current round: a finished one or
// a new one. The workers' queues bound how many exist.
func (r *shardReader) batch() *pktBatch {
	if b, ok := r.sent.pop(r.finished()); ok {
		b.round, b.slots, b.arena, b.payBytes = r.round, b.slots[:0], b.arena[:0], 0
		for w := range b.mine {
			b.mine[w] = b.mine[w][:0]
		}
		return b
	}
	b := &pktBatch{round: r.round, slots: make([]pktSlot, 0, batchSlots), arena: make([]byte, 0, arenaSize), mine: make([][]uint16, len(r.in))}
	for w := range b.mine {
		b.mine[w] = make([]uint16, 0, batchSlots)
	}
	return b
}

// Get lends the capture source a buffer: one whose packets every worker
// is done with, or a new one.
func (r *shardReader) Get() []byte {
	if b, ok := r.retired.pop(r.finished()); ok {
		return b
	}
	r.made++
	return make([]byte, capture.BufferSize)
}

// Retire takes back a buffer the source has moved on from. Its packets
// are in the current round or earlier ones.
func (r *shardReader) Retire(b []byte) { r.retired.push(b, r.round) }

// within reports whether p lies inside frame: then it is in a lent buffer.
func within(p, frame []byte) bool {
	if len(p) == 0 || len(frame) == 0 {
		return false
	}
	ps, fs := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(unsafe.Pointer(unsafe.SliceData(frame)))
	return ps >= fs && ps+uintptr(len(p)) <= fs+uintptr(len(frame))
}

// workerOf picks the worker of a host pair: the same both ways.
func workerOf(h *decode.Headers, n int) int {
	a := binary.LittleEndian.Uint64(h.Src[:8]) ^ binary.LittleEndian.Uint64(h.Src[8:])*0x9e3779b97f4a7c15
	b := binary.LittleEndian.Uint64(h.Dst[:8]) ^ binary.LittleEndian.Uint64(h.Dst[8:])*0x9e3779b97f4a7c15
	return reduce(mix64(a+b), n)
}

// reduce is h mod n. The reader routes every packet, and a 64-bit
// division costs tens of cycles: for a power of two (the usual worker
// counts) a mask gives the same answer.
func reduce(h uint64, n int) int {
	if n&(n-1) == 0 {
		return int(h & uint64(n-1))
	}
	return int(h % uint64(n))
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

// add takes one packet: it is decoded into the next slot of the round.
func (r *shardReader) add(pkt *capture.Packet, iface int) {
	r.packets++
	r.byts += uint64(pkt.OrigLen)
	r.seq++
	b := r.cur
	n := len(b.slots)
	if n < cap(b.slots) {
		b.slots = b.slots[:n+1]
	} else {
		b.slots = append(b.slots, pktSlot{})
	}
	s := &b.slots[n]
	if r.dec.Decode(pkt, &s.hdr) != decode.OK {
		b.slots = b.slots[:n]
		return
	}
	ts := pkt.Timestamp
	if ts > r.now {
		r.now = ts
	}
	s.expire = false
	if r.now >= r.nextExp {
		// Where one table would expire flows (flows.Table.Add): every
		// worker does so before this packet.
		s.expire = true
		r.nextExp = r.now + int64(time.Second)
	}
	s.ts, s.now, s.seq, s.iface = ts, r.now, r.seq, int32(iface)
	s.worker = uint16(workerOf(&s.hdr, len(r.in)))
	s.announce = r.shadows && announces(&s.hdr)
	if p := s.hdr.Payload; len(p) > 0 && !within(p, pkt.Data) {
		// Not in the frame (reassembled): the decoder reuses its memory.
		if len(b.arena)+len(p) > cap(b.arena) {
			b.arena = make([]byte, 0, max(arenaSize, len(p))) // earlier slots keep the old one
		}
		off := len(b.arena)
		b.arena = append(b.arena, p...)
		s.hdr.Payload = b.arena[off:len(b.arena):len(b.arena)]
	}
	b.payBytes += len(s.hdr.Payload)
	if s.expire || s.announce {
		for w := range b.mine {
			b.mine[w] = append(b.mine[w], uint16(n))
		}
	} else {
		b.mine[s.worker] = append(b.mine[s.worker], uint16(n))
	}
	if len(b.slots) >= batchSlots || b.payBytes >= batchBytes {
		r.flush()
	}
}

// flush sends the round to every worker.
func (r *shardReader) flush() {
	b := r.cur
	for _, q := range r.in {
		q <- b
	}
	r.sent.push(b, r.round)
	r.round++
	r.cur = r.batch()
}

// close sends the last round and ends the workers' input.
func (r *shardReader) close() {
	r.flush()
	for _, q := range r.in {
		close(q)
	}
}

// runOffline is a worker's loop over the reader's rounds. It writes
// nothing in them: every worker reads the same slots.
func (w *worker) runOffline(in <-chan *pktBatch, done *atomic.Int64) {
	me := uint16(w.id)
	for b := range in {
		for _, i := range b.mine[w.id] {
			s := &b.slots[i]
			if s.expire {
				w.clock = 2 * s.seq
				w.table.Advance(s.now)
				if w.shadow != nil {
					w.shadow.Advance(s.now)
				}
			}
			switch {
			case s.worker == me:
				w.clock = 2*s.seq + 1
				w.packets++
				// The clock one table would have: it differs from the
				// worker's own when packets come out of time order.
				w.table.SetClock(s.now)
				w.table.Add(&s.hdr, s.ts, int(s.iface))
			case s.announce:
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
		done.Store(b.round) // nothing of the round's packets is kept
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
				w.runOffline(r.in[i], &r.done[i])
			}()
		}
		wg.Wait()
	}()
	unreadable, interrupted = readCaptures(ctx, files, r, log, func(name string) int { return p.cfg.ifaces.id(name, name) }, r.add)
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
