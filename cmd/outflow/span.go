package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"outflow/capture"
	"outflow/capture/filter"
	"outflow/capture/live"
	"outflow/flows/decode"
)

// outflow span: a box on a switch's mirror port. Each interface is opened
// once per worker, every socket of an interface in one PACKET_FANOUT_HASH
// group, so the kernel deals a flow's packets (both directions: the hash
// is symmetric) to one worker. Workers join every group in the same order,
// so a flow seen on two interfaces (a tap's two directions) meets in one
// worker too.
//
// The kernel hashes the 5-tuple, so flows whose L7 state meets across
// 5-tuples may land on different workers: an FTP data channel and its
// control connection, a TFTP transfer and its request, a later flow and
// the DNS answer that named its server. The packets that carry such
// state (DNS, FTP control, TFTP requests, portmapper) are copied to every
// other worker's shadow table, which runs them through its L7 engine and
// reports nothing. Live this is a race: a copy can arrive after the flow
// it announces has started (within the capture rings' block timeout).

type spanFlags struct {
	ifaces []string
	netns  string
	filter string
	ringFlags
	fanoutGroup int
	noPromisc   bool
}

func runSpan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("span", "usage: outflow span -i IF[,IF...] [flags]\n\nCaptures on the interfaces (a switch's mirror port) with N workers until SIGINT or SIGTERM.", stderr)
	var tf tableFlags
	tf.register(fs)
	var df detectFlags
	df.register(fs)
	var sf shardFlags
	sf.register(fs, runtime.NumCPU())
	var pf spanFlags
	output := fs.StringP("output", "o", "", "write records to `FILE` instead of standard output")
	writeFlows := fs.Bool("flows", false, "write one record per flow as well as the alerts")
	fs.StringSliceVarP(&pf.ifaces, "interface", "i", nil, "interfaces to capture on, comma-separated (required)")
	fs.StringVar(&pf.netns, "netns", "", "capture in this network namespace (a path such as /var/run/netns/NAME) instead of the current one")
	fs.StringVar(&pf.filter, "filter", "", "capture filter in tcpdump syntax, run in the kernel (host, net, port, portrange, protocols, and/or/not; see README)")
	pf.ringFlags.register(fs, 1<<20, "per worker and interface", "per-worker counters (kernel drops, queue drops)")
	fs.IntVar(&pf.fanoutGroup, "fanout-group", 0, "first PACKET_FANOUT group id (one per interface; ids are shared by every process in the namespace); 0: from the process id")
	fs.BoolVar(&pf.noPromisc, "no-promisc", false, "do not put the interfaces in promiscuous mode")
	var xf ipfixFlags
	xf.register(fs)
	inventoryPath := fs.String("inventory", "", "attribute flows to pods and containers by address from `FILE`: kubectl get pods -A -o json and/or docker inspect output, reloaded when it changes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if len(pf.ifaces) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no interface given (-i IF[,IF...])", errUsage)
	}
	if pf.fanoutGroup < 0 || pf.fanoutGroup+len(pf.ifaces) > 1<<16 {
		return fmt.Errorf("%w: --fanout-group must be between 1 and %d", errUsage, 1<<16-len(pf.ifaces))
	}
	if pf.filter != "" {
		if _, err := filter.Parse(pf.filter); err != nil {
			return fmt.Errorf("%w: --filter: %v", errUsage, err)
		}
	}
	log, err := newLogger(stderr, tf.logLevel)
	if err != nil {
		return err
	}
	tcfg, err := tf.config()
	if err != nil {
		return err
	}
	// Live: growing flows reported twice a second (see sense).
	tcfg.UpdateInterval = 500 * time.Millisecond
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		if missing, ok := missingCapsOf(string(status), spanCaps); ok && len(missing) > 0 {
			return fmt.Errorf("missing capabilities: %s; run as root, or grant them (setcap cap_net_raw+ep, or a container with --cap-add NET_RAW --network=host)",
				strings.Join(missing, ", "))
		}
	}
	inv, err := openInventory(*inventoryPath, log)
	if err != nil {
		return err
	}
	defer inv.close()
	// Live, a full export queue drops (counted) rather than stall capture.
	xp, err := xf.start(inv.attributor(), 0)
	if err != nil {
		return err
	}
	defer xp.close(log)
	w, closeOut, err := openOutput(*output, stdout)
	if err != nil {
		return err
	}
	defer closeOut()
	err = span(ctx, spanConfig{flags: pf, shard: withInventoryExport(shardConfig{workers: sf.workers, shards: sf.shards, table: tcfg, noL7: tf.noL7,
		writeFlows: *writeFlows, live: true, shadow: true, df: &df, ifaces: &sharedIfaces{}, log: log}, inv, xp)}, w)
	xp.close(log)
	if cerr := closeOut(); err == nil && cerr != nil {
		err = fmt.Errorf("close output: %w", cerr)
	}
	return err
}

type spanConfig struct {
	flags spanFlags
	shard shardConfig
}

// liveWorker is a worker reading its own sockets, one per interface.
type liveWorker struct {
	*worker
	srcs   []*live.Source
	ifaces []int // interned interface ids, by source
	dec    *decode.Decoder

	// Replication of announcing packets (see the top of this file).
	peers     []*liveWorker
	out       []*rawBatch // being filled, per peer
	in        chan *rawBatch
	free      chan *rawBatch
	shadowDec *decode.Decoder
	shDropped atomic.Uint64 // copies dropped because a peer's queue was full
}

// rawBatch carries copies of frames to a peer.
type rawBatch struct {
	pkts []rawPkt
	data []byte
}

type rawPkt struct {
	off, n int32
	orig   int32
	iface  int32
	ts     int64
	link   capture.LinkType
}

const rawBatchPkts = 64

// span runs the appliance until ctx ends or every capture fails. It is
// what `outflow span` runs, given its parsed flags.
func span(ctx context.Context, cfg spanConfig, w io.Writer) error {
	pf, log := cfg.flags, cfg.shard.log
	if cfg.shard.workers < 1 || cfg.shard.workers > 1024 {
		return fmt.Errorf("%w: --workers must be between 1 and 1024", errUsage)
	}
	group := uint16(pf.fanoutGroup)
	if group == 0 {
		group = uint16(os.Getpid())
		if group == 0 || int(group)+len(pf.ifaces) > 1<<16 {
			group = 1
		}
	}
	poll := 100 * time.Millisecond
	if len(pf.ifaces) > 1 {
		// One goroutine serves several sockets in turn: an idle one must
		// not hold up the others for long.
		poll = 2 * time.Millisecond
	}
	// Open every socket first: a missing interface or privilege is
	// reported before anything runs. Worker by worker, so that each
	// worker has the same place in every interface's group.
	srcs := make([][]*live.Source, cfg.shard.workers)
	closeAll := func() {
		for _, ss := range srcs {
			for _, s := range ss {
				s.Close()
			}
		}
	}
	for i := range srcs {
		for j, ifc := range pf.ifaces {
			s, err := live.Open(live.Config{Interface: ifc, NetNS: pf.netns, BlockSize: pf.blockSize, Blocks: pf.blocks,
				BlockTimeout: pf.blockTimeout, PollTimeout: poll, Promiscuous: !pf.noPromisc, Filter: pf.filter,
				Fanout: &live.Fanout{Group: group + uint16(j), Mode: live.FanoutHash, Defrag: true}})
			if err != nil {
				closeAll()
				var pe *live.PrivilegeError
				if errors.As(err, &pe) {
					return fmt.Errorf("%w (run as root, or grant %s)", err, pe.Capability)
				}
				return err // names the interface (and whether it is missing)
			}
			srcs[i] = append(srcs[i], s)
		}
	}
	p, err := newShardedPipeline(cfg.shard, w)
	if err != nil {
		closeAll()
		return err
	}
	ids := make([]int, len(pf.ifaces))
	for j, ifc := range pf.ifaces {
		ids[j] = cfg.shard.ifaces.id(ifc, ifc)
	}
	lws := make([]*liveWorker, len(p.workers))
	for i, wk := range p.workers {
		lw := &liveWorker{worker: wk, srcs: srcs[i], ifaces: ids, dec: decode.New(decode.Config{})}
		if wk.shadow != nil {
			lw.in = make(chan *rawBatch, queueLen*len(p.workers))
			lw.free = make(chan *rawBatch, queueLen*len(p.workers))
			lw.shadowDec = decode.New(decode.Config{})
		}
		lws[i] = lw
	}
	for _, lw := range lws {
		if lw.in != nil {
			lw.peers = lws
			lw.out = make([]*rawBatch, len(lws))
		}
	}
	log.Info("span running", "interfaces", strings.Join(pf.ifaces, ","), "workers", len(lws), "detect_shards", max(1, len(p.shards)),
		"fanout_group", group, "filter", pf.filter)
	var wg sync.WaitGroup
	for _, lw := range lws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw.run()
		}()
	}
	stopStats := spanStatsEvery(pf.statsEvery, p, lws, log)
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	interrupted := false
	select {
	case <-ctx.Done():
		interrupted = true
		closeAll() // each worker then flushes its flows and stops
		<-allDone
	case <-allDone: // every capture failed
	}
	stopStats()
	p.closeShardQueues()
	ferr := p.finish()
	msg := "span stopped; open flows flushed"
	if !interrupted {
		msg = "span stopped: every capture ended; open flows flushed"
	}
	pc := p.counters()
	var ds decode.Stats
	for _, lw := range lws {
		addDecodeStats(&ds, lw.dec.Stats())
	}
	args := append(spanCounters(p, lws, true), "records", pc.records)
	args = append(args, p.detectionSummary()...)
	args = append(args, summaryFields(pc.packets, pc.bytes, ds, pc.table, time.Since(p.start))...)
	log.Info(msg, args...)
	if ferr != nil {
		return ferr
	}
	if !interrupted {
		return errors.New("every capture ended (interfaces down or removed?)")
	}
	return nil
}

// run reads the worker's sockets until all are closed.
func (lw *liveWorker) run() {
	var pkt capture.Packet
	open := len(lw.srcs)
	done := make([]bool, len(lw.srcs))
	next := time.Now()
	for open > 0 {
		for i, src := range lw.srcs {
			if done[i] {
				continue
			}
			// A bounded turn per socket, so that several are served fairly.
			for n := 0; n < 1024; n++ {
				err := src.Next(&pkt)
				if err == capture.ErrTimeout {
					break
				}
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						lw.p.cfg.log.Warn("capture ended", "source", src.Name(), "worker", lw.id, "err", err)
					}
					done[i] = true
					open--
					break
				}
				lw.handle(&pkt, lw.ifaces[i])
			}
		}
		lw.drainShadow()
		if now := time.Now(); !now.Before(next) {
			// Time moves on without packets: flows expire, detectors
			// tick, records and alerts go out.
			lw.table.Advance(now.UnixNano())
			if lw.shadow != nil {
				lw.shadow.Advance(now.UnixNano())
			}
			lw.flushPeers()
			lw.endRound(false)
			next = now.Add(100 * time.Millisecond)
		}
	}
	lw.flushPeers()
	lw.finish(0)
}

func (lw *liveWorker) handle(pkt *capture.Packet, iface int) {
	lw.packets++
	lw.bytes += uint64(pkt.OrigLen)
	if lw.dec.Decode(pkt, &lw.hdr) != decode.OK {
		return
	}
	if lw.in != nil && announcesLive(&lw.hdr) {
		lw.replicate(pkt, iface)
	}
	lw.table.Add(&lw.hdr, pkt.Timestamp, iface)
}

// announcesLive reports packets whose L7 state flows of other 5-tuples
// need: DNS (names), FTP control and TFTP requests (data channels),
// portmapper (RPC services).
func announcesLive(h *decode.Headers) bool {
	if h.Proto != decode.ProtoUDP && h.Proto != decode.ProtoTCP {
		return false
	}
	for _, p := range [2]uint16{h.SrcPort, h.DstPort} {
		switch p {
		case 53, 21, 69, 111:
			return true
		}
	}
	return false
}

// replicate copies a frame to every other worker.
func (lw *liveWorker) replicate(pkt *capture.Packet, iface int) {
	for i, peer := range lw.peers {
		if peer == lw {
			continue
		}
		b := lw.out[i]
		if b == nil {
			b = peer.batch()
			lw.out[i] = b
		}
		b.pkts = append(b.pkts, rawPkt{off: int32(len(b.data)), n: int32(len(pkt.Data)), orig: int32(pkt.OrigLen), iface: int32(iface),
			ts: pkt.Timestamp, link: pkt.LinkType})
		b.data = append(b.data, pkt.Data...)
		if len(b.pkts) >= rawBatchPkts {
			lw.sendPeer(i)
		}
	}
}

func (lw *liveWorker) batch() *rawBatch {
	select {
	case b := <-lw.free:
		b.pkts, b.data = b.pkts[:0], b.data[:0]
		return b
	default:
		return &rawBatch{pkts: make([]rawPkt, 0, rawBatchPkts), data: make([]byte, 0, 16<<10)}
	}
}

func (lw *liveWorker) sendPeer(i int) {
	b := lw.out[i]
	if b == nil || len(b.pkts) == 0 {
		return
	}
	select {
	case lw.peers[i].in <- b:
		lw.out[i] = nil
	default:
		lw.shDropped.Add(uint64(len(b.pkts)))
		b.pkts, b.data = b.pkts[:0], b.data[:0]
	}
}

func (lw *liveWorker) flushPeers() {
	for i := range lw.out {
		lw.sendPeer(i)
	}
}

// drainShadow runs the copies other workers sent into the shadow table.
func (lw *liveWorker) drainShadow() {
	if lw.in == nil {
		return
	}
	var pkt capture.Packet
	for {
		select {
		case b := <-lw.in:
			for _, r := range b.pkts {
				pkt = capture.Packet{Data: b.data[r.off : r.off+r.n], OrigLen: int(r.orig), Timestamp: r.ts, LinkType: r.link}
				if lw.shadowDec.Decode(&pkt, &lw.hdr) == decode.OK {
					lw.shadowPackets++
					lw.shadow.Add(&lw.hdr, r.ts, int(r.iface))
				}
			}
			select {
			case lw.free <- b:
			default:
			}
		default:
			return
		}
	}
}

// spanCounters are the per-worker counters: kernel packets and drops,
// ring freezes, events and copies dropped because a queue was full, and
// how full the queues are now. final: read the workers' own counters
// (they have stopped).
func spanCounters(p *shardedPipeline, lws []*liveWorker, final bool) []any {
	var kp, kd, fr []uint64
	var tkp, tkd, early uint64
	for _, lw := range lws {
		var a, b, c uint64
		for _, s := range lw.srcs {
			if st, err := s.Stats(); err == nil {
				a += st.Packets
				b += st.Drops
				c += st.FreezeQueueCount
				early += st.Early
			}
		}
		kp, kd, fr = append(kp, a), append(kd, b), append(fr, c)
		tkp += a
		tkd += b
	}
	list := func(v []uint64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ",")
	}
	perWorker := func(get func(*liveWorker) uint64) string {
		v := make([]uint64, len(lws))
		for i, lw := range lws {
			v[i] = get(lw)
		}
		return list(v)
	}
	packets := func(lw *liveWorker) uint64 { return lw.packetsPub.Load() }
	events := func(lw *liveWorker) uint64 { return lw.dropsPub.Load() }
	if final {
		packets = func(lw *liveWorker) uint64 { return lw.packets }
		events = func(lw *liveWorker) uint64 { return lw.eventsDropped }
	}
	var lines uint64
	for _, wk := range p.workers {
		lines += wk.sink.dropped.Load()
	}
	for _, s := range p.shards {
		lines += s.sink.dropped.Load()
	}
	var q []string
	for _, qs := range p.toShard {
		q = append(q, fmt.Sprint(len(qs[0])))
	}
	rate := 0.0
	if tkp > 0 {
		rate = float64(tkd) / float64(tkp)
	}
	return []any{"workers", len(lws), "kernel_packets", tkp, "kernel_drops", tkd, "kernel_drop_rate", fmt.Sprintf("%.6f", rate),
		"frames_before_setup", early,
		"worker_packets", perWorker(packets), "worker_kernel_packets", list(kp), "worker_kernel_drops", list(kd), "worker_ring_freezes", list(fr),
		"worker_events_dropped", perWorker(events), "worker_copies_dropped", perWorker(func(lw *liveWorker) uint64 { return lw.shDropped.Load() }),
		"worker_active_flows", perWorker(func(lw *liveWorker) uint64 { return uint64(lw.activePub.Load()) }),
		"shard_queues", strings.Join(q, ","), "writer_queue", len(p.out.ch), "lines_dropped", lines}
}

// spanStatsEvery logs the per-worker counters periodically.
func spanStatsEvery(every time.Duration, p *shardedPipeline, lws []*liveWorker, log *slog.Logger) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Info("span stats", spanCounters(p, lws, false)...)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
