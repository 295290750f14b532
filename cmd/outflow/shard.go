package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// The sharded pipeline behind `read --workers N` and `span`:
//
//	packets ─▶ worker 0..W-1: flow table, L7, flow records
//	               │ flow events, in batches, routed by entity
//	               ▼
//	           detector shard 0..D-1: detect.Engine, alerts
//	workers and shards ─ encoded lines ─▶ one writer goroutine ─▶ output
//
// A worker owns its table and L7 engine, so the packets of one flow, and of
// flows whose L7 state meets (an FTP control connection and its data
// channels), must reach the same worker: `read` routes by host pair, `span`
// by the kernel's fanout. Flows that only share L7 state across host pairs
// (a DNS answer naming the server of a later flow) are handled by shadow
// tables: the packets that teach names or announce data channels are also
// given to every other worker, whose shadow table runs them through its L7
// engine and reports nothing.
//
// Every channel is bounded. Offline, a full queue blocks its producer (the
// run is lossless); live, a worker never blocks on a detector shard or the
// writer: what does not fit is dropped and counted per worker.

const (
	// liveEventBatch is how many events a live worker gathers for one
	// shard before sending them without waiting for the next tick.
	liveEventBatch = 256
	// outChunk is how much encoded output a producer gathers before
	// handing it to the writer.
	outChunk = 256 << 10
	// queueLen bounds each channel, in batches.
	queueLen = 8
)

// frozenApp is a worker's application-layer state of a flow at one event,
// copied so that a detector shard can read it while the worker goes on.
// Events cross between cores, so it is kept small: the parts of the
// summary that most flows leave empty (a path, a user, files, transfer
// counts) go to the batch's side list only when set.
type frozenApp struct {
	done, reversed, encrypted bool
	ext                       int32 // index in the batch's exts; -1: those parts are empty
	protocol, domain          string
	// The summary's protocol and domain, which differ from the above for
	// some flows (a DNS question, a literal address as Host).
	sumProtocol, sumDomain string
	x                      *appExt // set by the shard from ext
}

// appExt is the rest of a flow's summary.
type appExt struct {
	resource, user       string
	filesDropped         int
	uploaded, downloaded uint64
	fileOff, fileN       int32
	files                []l7.FileOp // set by the shard, a view of the batch's
}

func (a *frozenApp) Done() bool       { return a.done }
func (a *frozenApp) Reversed() bool   { return a.reversed }
func (a *frozenApp) Protocol() string { return a.protocol }
func (a *frozenApp) Domain() string   { return a.domain }

// Fields is never called: records are written by the worker from the live
// state.
func (a *frozenApp) Fields(*ecs.Doc) {}

func (a *frozenApp) Summary(s *l7.Summary) {
	*s = l7.Summary{Protocol: a.sumProtocol, Domain: a.sumDomain, Encrypted: a.encrypted, Files: s.Files[:0]}
	if x := a.x; x != nil {
		s.Resource, s.User, s.FilesDropped, s.Uploaded, s.Downloaded = x.resource, x.user, x.filesDropped, x.uploaded, x.downloaded
		s.Files = append(s.Files, x.files...)
	}
}

// freeze fills a from the live state, putting the rarely set parts in b.
// sum is scratch space.
func (a *frozenApp) freeze(app flows.AppState, b *eventBatch, sum *l7.Summary) {
	if x, ok := app.(*l7.Settled); ok && x.Bare() {
		// Most flows (nothing identified): no calls through the
		// interface, and the summary is the protocol and name.
		a.done, a.reversed, a.encrypted, a.ext, a.x = true, x.Reversed(), false, -1, nil
		a.protocol, a.domain = x.Protocol(), x.Domain()
		a.sumProtocol, a.sumDomain = a.protocol, a.domain
		return
	}
	a.done, a.reversed, a.protocol, a.domain = app.Done(), app.Reversed(), app.Protocol(), app.Domain()
	app.Summary(sum)
	a.sumProtocol, a.sumDomain, a.encrypted = sum.Protocol, sum.Domain, sum.Encrypted
	a.ext, a.x = -1, nil
	if sum.Resource != "" || sum.User != "" || len(sum.Files) > 0 || sum.FilesDropped != 0 || sum.Uploaded != 0 || sum.Downloaded != 0 {
		a.ext = int32(len(b.exts))
		b.exts = append(b.exts, appExt{resource: sum.Resource, user: sum.User, filesDropped: sum.FilesDropped,
			uploaded: sum.Uploaded, downloaded: sum.Downloaded, fileOff: int32(len(b.files)), fileN: int32(len(sum.Files))})
		b.files = append(b.files, sum.Files...)
	}
}

// thaw makes a's side parts readable; the shard calls it before the
// detectors see the event.
func (a *frozenApp) thaw(b *eventBatch) {
	if a.ext >= 0 {
		x := &b.exts[a.ext]
		x.files = b.files[x.fileOff : x.fileOff+x.fileN]
		a.x = x
	}
}

// flowEvent is one flow event on its way to a detector shard.
type flowEvent struct {
	clock  int64 // merge key: the packet (or expiry point) that caused it; offline only
	ev     flows.Event
	hasApp bool
	flow   flows.Flow // App is nil; app holds its state
	app    frozenApp
}

// eventBatch carries a worker's events for one shard. Batches go back to
// their worker once the shard is done with them. Events are stored in
// fixed chunks: a burst (a table flushed at the end holds every open flow)
// grows a batch without copying it.
type eventBatch struct {
	worker int
	chunks [][]flowEvent
	n      int
	files  []l7.FileOp
	exts   []appExt
	// more: the worker's round goes on in its next batch. Only the last
	// round (the end-of-input flush, one event per open flow) is split,
	// so that the shard merges it while the workers are still flushing.
	more bool
}

const (
	eventChunk = 512
	// keepChunks is what a recycled batch keeps of a burst.
	keepChunks = 4
)

// add returns the next event slot.
func (b *eventBatch) add() *flowEvent {
	c := b.n / eventChunk
	if c == len(b.chunks) {
		chunk := make([]flowEvent, eventChunk)
		flows.Prefault(chunk) // pointerful: the collector reads it before it is filled
		b.chunks = append(b.chunks, chunk)
	}
	e := &b.chunks[c][b.n%eventChunk]
	b.n++
	return e
}

func (b *eventBatch) at(i int) *flowEvent { return &b.chunks[i/eventChunk][i%eventChunk] }

func (b *eventBatch) reset() {
	b.n, b.more = 0, false
	b.files = b.files[:0]
	clear(b.exts) // the strings
	b.exts = b.exts[:0]
	if len(b.chunks) > keepChunks {
		clear(b.chunks[keepChunks:])
		b.chunks = b.chunks[:keepChunks]
	}
}

// outWriter is the single owner of the output: workers and shards encode
// their documents into chunks of whole lines and hand them over.
type outWriter struct {
	w    io.Writer
	ch   chan []byte
	free chan []byte
	done chan struct{}
	err  error // read after done
}

func newOutWriter(w io.Writer, queue int) *outWriter {
	o := &outWriter{w: w, ch: make(chan []byte, queue), free: make(chan []byte, queue+8), done: make(chan struct{})}
	go o.run()
	return o
}

func (o *outWriter) run() {
	defer close(o.done)
	for b := range o.ch {
		if o.err == nil {
			if _, err := o.w.Write(b); err != nil {
				o.err = fmt.Errorf("write records: %w", err)
			}
		}
		o.recycle(b)
	}
}

// recycle keeps a buffer for reuse.
func (o *outWriter) recycle(b []byte) {
	select {
	case o.free <- b[:0]:
	default:
	}
}

// chunk returns an empty buffer for a producer.
func (o *outWriter) chunk() []byte {
	select {
	case b := <-o.free:
		return b
	default:
		return make([]byte, 0, outChunk+outChunk/2)
	}
}

// close waits until every chunk handed over is written.
func (o *outWriter) close() error {
	close(o.ch)
	<-o.done
	return o.err
}

// lineSink gathers one producer's output (an ecs.Writer writes its lines
// into it, one Write call per line, unbuffered: the sink is the buffer)
// until it is handed to the writer. Chunks hold whole lines, so lines from
// different producers never mix.
type lineSink struct {
	o       *outWriter
	out     *ecs.Writer
	buf     []byte
	live    bool
	dropped atomic.Uint64 // lines dropped because the writer was behind (live)
}

func newLineSink(o *outWriter, live bool) *lineSink {
	s := &lineSink{o: o, live: live, buf: make([]byte, 0, outChunk+outChunk/2)}
	s.out = ecs.NewLineWriter(s)
	return s
}

// Write takes one whole line.
func (s *lineSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	if len(s.buf) >= outChunk {
		s.send(false)
	}
	return len(p), nil
}

// send hands buf (whole lines) to the writer. wait makes a live sink wait
// for room; otherwise a full writer drops the lines (counted).
func (s *lineSink) send(wait bool) {
	if s.live && !wait {
		select {
		case s.o.ch <- s.buf:
		default:
			s.dropped.Add(uint64(bytes.Count(s.buf, []byte{'\n'})))
			s.buf = s.buf[:0]
			return
		}
	} else {
		s.o.ch <- s.buf
	}
	// The array sent is the writer's now, and another producer may fill
	// it once the writer is done.
	s.buf = s.o.chunk()
}

// handOff passes the gathered lines to the writer when there are at least
// min bytes. wait makes a live sink wait for room (at shutdown).
func (s *lineSink) handOff(min int, wait bool) {
	if len(s.buf) == 0 || len(s.buf) < min {
		return
	}
	s.send(wait)
}

// sharedIfaces interns capture interface names for workers that read them
// concurrently: the reader adds names (rarely), records read them.
type sharedIfaces struct {
	mu    sync.Mutex
	ids   map[string]int
	names atomic.Pointer[[]string]
}

func (n *sharedIfaces) id(key, name string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i, ok := n.ids[key]; ok {
		return i
	}
	if n.ids == nil {
		n.ids = map[string]int{}
	}
	var names []string
	if p := n.names.Load(); p != nil {
		names = *p
	}
	names = append(names[:len(names):len(names)], name) // a new array: readers keep the old one
	n.names.Store(&names)
	n.ids[key] = len(names) - 1
	return len(names) - 1
}

// EnrichFlow implements flows.Enricher: observer.ingress.interface.name.
func (n *sharedIfaces) EnrichFlow(f *flows.Flow, d *ecs.Doc) {
	if p := n.names.Load(); p != nil {
		if i := int(f.Interface); i >= 0 && i < len(*p) {
			d.Str("observer.ingress.interface.name", (*p)[i])
		}
	}
}

// shardFlags are the sharded pipeline's settings.
type shardFlags struct {
	workers, shards int
}

func (sf *shardFlags) register(fs *pflag.FlagSet, workers int) {
	fs.IntVar(&sf.workers, "workers", workers, "packet workers, each with its own flow table and protocol identification")
	fs.IntVar(&sf.shards, "detect-shards", 1, "detector shards, each with its own detectors; flow events go to the shard of their entity (container, else source address)")
}

// shardConfig is what a sharded pipeline is made of.
type shardConfig struct {
	workers, shards int
	table           flows.Config
	noL7            bool
	writeFlows      bool
	// live: a worker drops what a full queue cannot take (and counts it)
	// rather than wait; detectors tick on the workers' clocks.
	live bool
	// shadow: workers keep a shadow table for packets other workers
	// replicate to them (DNS answers, FTP control).
	shadow bool
	// attr names flows' containers for the detectors, flowAttr owners for
	// the tables, enrich adds fields to records, and observer (when set)
	// gives each worker one more observer of its table (an exporter).
	// All are called from every worker (and attr from every shard) at
	// once: they must be safe for concurrent use. nil: none.
	attr     detect.Attributor
	flowAttr flows.Attributor
	enrich   []flows.Enricher
	observer func(worker int) flows.Observer
	// alertEnrich add fields to every shard's alerts (inventory metadata).
	alertEnrich []detect.AlertEnricher
	df          *detectFlags
	ifaces      *sharedIfaces
	log         *slog.Logger
}

// shardedPipeline is the running pipeline.
type shardedPipeline struct {
	cfg     shardConfig
	workers []*worker
	shards  []*detShard
	out     *outWriter
	dets    []*detection // one per shard; [0] also when detection is off (for counters)
	// toShard[s][w] is worker w's queue to shard s offline; live every
	// worker shares toShard[s][0].
	toShard  [][]chan *eventBatch
	wants    [4]bool // by flows.Event: the detectors want it (copied to a shard)
	shardsWG sync.WaitGroup
	start    time.Time
}

func newShardedPipeline(cfg shardConfig, w io.Writer) (*shardedPipeline, error) {
	if cfg.workers < 1 || cfg.workers > 1024 {
		return nil, fmt.Errorf("%w: --workers must be between 1 and 1024", errUsage)
	}
	if cfg.shards < 1 || cfg.shards > 1024 {
		return nil, fmt.Errorf("%w: --detect-shards must be between 1 and 1024", errUsage)
	}
	p := &shardedPipeline{cfg: cfg, out: newOutWriter(w, 4*(cfg.workers+cfg.shards)), start: time.Now()}
	fail := func(err error) (*shardedPipeline, error) {
		p.closeDetection()
		p.out.close()
		return nil, err
	}
	// Detection: one complete set of detectors per shard, each writing
	// alerts through its own encoder.
	var sinks []*lineSink
	for i := 0; i < cfg.shards; i++ {
		s := newLineSink(p.out, cfg.live)
		det, err := buildDetection(cfg.df, s.out, cfg.attr, cfg.log)
		if err != nil {
			return fail(err)
		}
		for _, e := range cfg.alertEnrich {
			det.alerts.AddEnricher(e)
		}
		p.dets = append(p.dets, det)
		sinks = append(sinks, s)
		if det.engine == nil {
			break // --no-detect: no shards
		}
	}
	if e := p.dets[0].engine; e != nil {
		for ev := range p.wants {
			p.wants[ev] = e.Wants(flows.Event(ev))
		}
		p.toShard = make([][]chan *eventBatch, cfg.shards)
		for s := range p.toShard {
			n := cfg.workers
			if cfg.live {
				n = 1
			}
			p.toShard[s] = make([]chan *eventBatch, n)
			for w := range p.toShard[s] {
				p.toShard[s][w] = make(chan *eventBatch, queueLen*max(1, cfg.workers/n))
			}
			p.shards = append(p.shards, &detShard{id: s, p: p, det: p.dets[s], sink: sinks[s], in: p.toShard[s]})
		}
	}
	tcfg := cfg.table
	tcfg.ManualExpiry = !cfg.live
	if tcfg.MaxFlows > 0 {
		// The limit is the pipeline's, shared out.
		tcfg.MaxFlows = max(1, (tcfg.MaxFlows+cfg.workers-1)/cfg.workers)
	}
	for i := 0; i < cfg.workers; i++ {
		wk := &worker{id: i, p: p, sink: newLineSink(p.out, cfg.live), free: make(chan *eventBatch, (queueLen+2)*max(1, len(p.shards)))}
		var insp flows.Inspector
		if !cfg.noL7 {
			wk.l7 = l7.NewEngine(parsers(), l7.EngineConfig{})
			insp = flows.NewL7Inspector(wk.l7)
		}
		var obs flows.Observers
		if cfg.writeFlows {
			enrich := append(append([]flows.Enricher{cfg.ifaces}, cfg.enrich...), p.dets[0].flowEnrich...)
			obs = append(obs, flows.NewRecordWriter(wk.sink.out, enrich...))
		}
		if cfg.observer != nil {
			if o := cfg.observer(i); o != nil {
				obs = append(obs, o)
			}
		}
		if len(p.shards) > 0 {
			obs = append(obs, wk)
			wk.batches = make([]*eventBatch, len(p.shards))
			for s := range wk.batches {
				wk.batches[s] = wk.newBatch()
			}
		}
		wk.table = flows.NewTable(tcfg, insp, obs)
		wk.table.SetAttributor(cfg.flowAttr)
		if cfg.shadow && insp != nil && cfg.workers > 1 {
			// Shadow flows only feed the L7 engine; a small table will do.
			scfg := tcfg
			scfg.MaxFlows = 4096
			wk.shadow = flows.NewTable(scfg, insp, nil)
		}
		p.workers = append(p.workers, wk)
	}
	for _, s := range p.shards {
		p.shardsWG.Add(1)
		go s.run()
	}
	return p, nil
}

// finish waits for the shards (after every worker has sent its last
// events and closed its queues) and the writer, and releases detection.
func (p *shardedPipeline) finish() error {
	p.shardsWG.Wait()
	err := p.out.close()
	p.closeDetection()
	return err
}

func (p *shardedPipeline) closeDetection() {
	for _, d := range p.dets {
		d.close()
	}
}

// closeShardQueues tells the shards that no more events come (live: once
// every worker has finished).
func (p *shardedPipeline) closeShardQueues() {
	for _, qs := range p.toShard {
		for _, q := range qs {
			close(q)
		}
	}
}

// watermark is the clock every worker has reached (the minimum of their
// table clocks): detectors tick on it live, so their time never runs ahead
// of a worker that has yet to report earlier events.
func (p *shardedPipeline) watermark() int64 {
	var m int64 = -1
	for _, w := range p.workers {
		if c := w.clockPub.Load(); m < 0 || c < m {
			m = c
		}
	}
	return m
}

// worker is one packet path: flow table, L7 engine, record encoder.
type worker struct {
	id     int
	p      *shardedPipeline
	table  *flows.Table
	shadow *flows.Table // nil: no replication
	l7     *l7.Engine
	sink   *lineSink
	hdr    decode.Headers

	// Events being gathered, per shard; free batches come back from the
	// shards.
	batches []*eventBatch
	free    chan *eventBatch
	clock   int64 // merge key of the events emitted now (offline)
	// flushing: the end-of-input flush is under way (offline); its
	// events go to the shards in several batches of one round.
	flushing bool
	scratch  l7.Summary
	files    [l7.MaxFileOps]l7.FileOp

	// Counters owned by the worker goroutine.
	packets, bytes, events uint64
	eventsDropped          uint64
	shadowPackets          uint64

	// Published for the stats line and the detectors' clock.
	clockPub   atomic.Int64
	packetsPub atomic.Uint64
	eventsPub  atomic.Uint64
	dropsPub   atomic.Uint64
	activePub  atomic.Int64
}

func (w *worker) newBatch() *eventBatch {
	select {
	case b := <-w.free:
		return b
	default:
		return &eventBatch{worker: w.id}
	}
}

// FlowEvent implements flows.Observer: a copy of the event goes to the
// shard of its entity.
func (w *worker) FlowEvent(ev flows.Event, f *flows.Flow) {
	if int(ev) >= len(w.p.wants) || !w.p.wants[ev] {
		return // the shard's engine would skip it: spare the copy
	}
	s := 0
	if n := len(w.batches); n > 1 {
		s = shardOf(detect.EntityOf(f, w.p.cfg.attr), n)
	}
	b := w.batches[s]
	e := b.add()
	// Field by field: the event's memory is cold (a shard on another core
	// read it last), and a composite literal would write it twice.
	e.clock, e.ev, e.hasApp = w.clock, ev, f.App != nil
	e.flow = *f
	e.flow.App = nil
	if f.App != nil {
		w.scratch.Files = w.files[:0]
		e.app.freeze(f.App, b, &w.scratch)
	}
	w.events++
	switch {
	case w.p.cfg.live && b.n >= liveEventBatch:
		w.send(s, false)
	case w.flushing && b.n >= eventChunk:
		b.more = true
		w.send(s, false)
	}
}

// send hands the shard's batch over. Offline it waits for room; live a
// full queue drops the batch (counted). final waits in either case.
func (w *worker) send(s int, final bool) {
	b := w.batches[s]
	q := w.p.toShard[s][0]
	if !w.p.cfg.live {
		q = w.p.toShard[s][w.id]
	} else if b.n == 0 {
		return
	}
	if w.p.cfg.live && !final {
		select {
		case q <- b:
		default:
			w.eventsDropped += uint64(b.n)
			b.reset()
			return
		}
	} else {
		q <- b
	}
	w.batches[s] = w.newBatch()
}

// endRound sends what the worker gathered (offline: one batch to every
// shard, empty or not, so that shards can merge the workers' streams) and
// publishes its counters.
func (w *worker) endRound(final bool) {
	for s := range w.batches {
		w.send(s, final)
	}
	min := outChunk
	if final {
		min = 0
	}
	w.sink.handOff(min, final)
	w.publish()
}

func (w *worker) publish() {
	w.clockPub.Store(w.table.Now())
	w.packetsPub.Store(w.packets)
	w.eventsPub.Store(w.events)
	w.dropsPub.Store(w.eventsDropped)
	w.activePub.Store(int64(w.table.Stats().Active))
}

// finish ends every open flow (reason end-of-input) and sends the last
// events and records. clock orders these events after all others.
func (w *worker) finish(clock int64) {
	w.clock = clock
	w.flushing = !w.p.cfg.live
	w.table.Flush(flows.EndEndOfInput)
	if w.shadow != nil {
		w.shadow.Flush(flows.EndEndOfInput)
	}
	w.endRound(true)
	if !w.p.cfg.live {
		for s := range w.p.toShard {
			close(w.p.toShard[s][w.id])
		}
	}
}

// recycle gives a batch back to the worker that filled it.
func (p *shardedPipeline) recycle(b *eventBatch) {
	b.reset()
	select {
	case p.workers[b.worker].free <- b:
	default:
	}
}

// shardOf picks an entity's shard.
func shardOf(e detect.Entity, n int) int {
	h := uint64(14695981039346656037)
	if e.ContainerID != "" {
		for i := 0; i < len(e.ContainerID); i++ {
			h = (h ^ uint64(e.ContainerID[i])) * 1099511628211
		}
	} else {
		b := e.IP.As16()
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	return reduce(mix64(h), n)
}

// mix64 is a 64-bit finaliser (splitmix64), so that every input bit moves
// the shard or worker picked.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// detShard is one set of detectors with its alert encoder.
type detShard struct {
	id   int
	p    *shardedPipeline
	det  *detection
	sink *lineSink
	in   []chan *eventBatch
	pos  []int
	last int64 // the last tick's time (live)
}

func (d *detShard) feed(b *eventBatch, e *flowEvent) {
	f := &e.flow
	if e.hasApp {
		e.app.thaw(b)
		f.App = &e.app
	}
	d.det.engine.FlowEvent(e.ev, f)
}

func (d *detShard) run() {
	defer d.p.shardsWG.Done()
	if d.p.cfg.live {
		d.runLive()
	} else {
		d.runRounds()
	}
	d.det.engine.Flush()
	d.sink.handOff(0, true)
}

// runRounds takes one batch from every worker per round and feeds their
// events in clock order, ties by worker: the order one table would have
// produced them in, whatever the workers' speeds.
func (d *detShard) runRounds() {
	cur := make([]*eventBatch, len(d.in))
	d.pos = make([]int, len(d.in))
	for {
		open := 0
		for i, q := range d.in {
			b, ok := <-q
			if ok {
				open++
			}
			cur[i] = b
			d.pos[i] = 0
		}
		if open == 0 {
			return
		}
		for {
			best := -1
			var bc *flowEvent
			for i, b := range cur {
				for b != nil && d.pos[i] >= b.n && b.more {
					// The round goes on in this worker's next batch.
					d.p.recycle(b)
					b = <-d.in[i]
					cur[i], d.pos[i] = b, 0
				}
				if b != nil && d.pos[i] < b.n {
					if e := b.at(d.pos[i]); best < 0 || before(e, bc) {
						best, bc = i, e
					}
				}
			}
			if best < 0 {
				break
			}
			d.feed(cur[best], bc)
			d.pos[best]++
		}
		for _, b := range cur {
			if b != nil {
				d.p.recycle(b)
			}
		}
		d.sink.handOff(outChunk, false)
	}
}

// before orders two events of different workers. Events of one packet
// come from one worker; ties are the flows that workers expire at one
// point (or flush at the end), which one table would have ended list by
// list, in the order they were placed on it. Flows re-queued at the same
// point are placed at the same time; for them the flows' start decides,
// which is their order in one table in all but rare cases.
func before(a, b *flowEvent) bool {
	switch {
	case a.clock != b.clock:
		return a.clock < b.clock
	}
	al, at := a.flow.Placement()
	bl, bt := b.flow.Placement()
	switch {
	case al != bl:
		return al < bl
	case at != bt:
		return at < bt
	}
	return a.flow.First < b.flow.First
}

// runLive feeds batches as they come and ticks the detectors on the
// workers' common clock, flushing alerts at each tick.
func (d *detShard) runLive() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-d.in[0]:
			if !ok {
				return
			}
			for i := 0; i < b.n; i++ {
				d.feed(b, b.at(i))
			}
			d.p.recycle(b)
		case <-tick.C:
			if now := d.p.watermark(); now > d.last {
				d.last = now
				d.det.engine.Tick(now)
			}
			d.sink.handOff(0, false)
		}
	}
}

// pipelineCounters sums what the workers and shards counted, for the
// summary.
type pipelineCounters struct {
	packets, bytes uint64
	decode         decode.Stats
	table          flows.TableStats
	eventsDropped  uint64
	linesDropped   uint64
	records        uint64
}

func addDecodeStats(a *decode.Stats, b decode.Stats) {
	a.Frames += b.Frames
	a.NonIP += b.NonIP
	a.Snapped += b.Snapped
	a.Fragments += b.Fragments
	a.Reassembled += b.Reassembled
	a.FragExpired += b.FragExpired
	a.FragEvicted += b.FragEvicted
	a.FragOverlaps += b.FragOverlaps
	for i := range a.Failures {
		a.Failures[i] += b.Failures[i]
	}
}

func addTableStats(a *flows.TableStats, b flows.TableStats) {
	a.Active += b.Active
	a.MaxActive += b.MaxActive // the sum of the workers' peaks
	a.Created += b.Created
	a.Evicted += b.Evicted
	for i := range a.Ended {
		a.Ended[i] += b.Ended[i]
	}
}

// counters reads the workers' own counters: call it once they are done.
func (p *shardedPipeline) counters() pipelineCounters {
	var c pipelineCounters
	for _, w := range p.workers {
		c.packets += w.packets
		c.bytes += w.bytes
		c.eventsDropped += w.eventsDropped
		c.linesDropped += w.sink.dropped.Load()
		c.records += w.sink.out.Count()
		addTableStats(&c.table, w.table.Stats())
	}
	for _, s := range p.shards {
		c.linesDropped += s.sink.dropped.Load()
		c.records += s.sink.out.Count()
	}
	return c
}

// workerFields lists a per-worker counter as "n0,n1,...".
func workerFields(p *shardedPipeline, get func(*worker) uint64) string {
	var b strings.Builder
	for i, w := range p.workers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(get(w), 10))
	}
	return b.String()
}

// detectionSummary sums the detection counters of every shard under the
// keys a single pipeline logs (summaryArgs), in the first shard's order.
func (p *shardedPipeline) detectionSummary() []any {
	var keys []string
	sum := map[string]any{}
	for _, d := range p.dets {
		args := d.summaryArgs()
		for i := 0; i+1 < len(args); i += 2 {
			k, _ := args[i].(string)
			if old, ok := sum[k]; ok {
				sum[k] = addCounter(old, args[i+1])
				continue
			}
			keys = append(keys, k)
			sum[k] = args[i+1]
		}
	}
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, sum[k])
	}
	return out
}

// addCounter adds two counters of the same numeric type; anything else
// keeps the first value.
func addCounter(a, b any) any {
	switch x := a.(type) {
	case uint64:
		if y, ok := b.(uint64); ok {
			return x + y
		}
	case int:
		if y, ok := b.(int); ok {
			return x + y
		}
	case int64:
		if y, ok := b.(int64); ok {
			return x + y
		}
	}
	return a
}
