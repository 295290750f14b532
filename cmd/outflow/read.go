package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"outflow/capture"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

func runRead(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("read", "usage: outflow read [flags] FILE...   (FILE may be - for standard input)", stderr)
	var tf tableFlags
	tf.register(fs)
	df := detectFlags{offline: true}
	df.register(fs)
	writeFlows := fs.Bool("flows", false, "write one record per flow as well as the alerts")
	output := fs.StringP("output", "o", "", "write records to `FILE` instead of standard output")
	var sf shardFlags
	sf.register(fs, 1)
	var xf ipfixFlags
	xf.register(fs)
	inventoryPath := fs.String("inventory", "", "attribute flows to pods and containers by address from `FILE`: kubectl get pods -A -o json and/or docker inspect output, reloaded when it changes")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` (development)")
	memProfile := fs.String("memprofile", "", "write a heap profile to `FILE` at the end (development)")
	_ = fs.MarkHidden("cpuprofile")
	_ = fs.MarkHidden("memprofile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no capture files given", errUsage)
	}
	log, err := newLogger(stderr, tf.logLevel)
	if err != nil {
		return err
	}
	stopProfile, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	tcfg, err := tf.config()
	if err != nil {
		return err
	}
	w, closeOut, err := openOutput(*output, stdout)
	if err != nil {
		return err
	}
	inv, err := openInventory(*inventoryPath, log)
	if err != nil {
		return err
	}
	defer inv.close()
	// Reading files, the reader waits for the exporter rather than drop.
	xp, err := xf.start(inv.attributor(), time.Minute)
	if err != nil {
		return err
	}
	defer xp.close(log)
	if sf.workers != 1 {
		return readWithWorkers(ctx, &sf, &tf, &df, *writeFlows, files, w, closeOut, inv, xp, log)
	}
	out := ecs.NewWriter(w)

	p := &pipeline{dec: decode.New(decode.Config{}), out: out, ifaces: &ifaceNames{}, start: time.Now()}
	var obs flows.Observers
	det, err := buildDetection(&df, out, inv.attributor(), log)
	if err != nil {
		return err
	}
	defer det.close()
	inv.enrichAlerts(det.alerts)
	if *writeFlows {
		obs = append(obs, flows.NewRecordWriter(out, append(append([]flows.Enricher{p.ifaces}, inv.enrichers()...), det.flowEnrich...)...))
	}
	if det.engine != nil {
		p.detect = det.engine
		obs = append(obs, det.engine)
	}
	if o := xp.observer(); o != nil {
		obs = append(obs, o)
	}
	var insp flows.Inspector
	if !tf.noL7 {
		p.l7 = l7.NewEngine(parsers(), l7.EngineConfig{})
		insp = flows.NewL7Inspector(p.l7)
	}
	p.table = flows.NewTable(tcfg, insp, obs)
	p.table.SetAttributor(inv.flowAttributor())

	unreadable, interrupted := readCaptures(ctx, files, nil, log, p.ifaces.id, p.handle)
	p.table.Flush(flows.EndEndOfInput)
	if p.detect != nil {
		p.detect.Flush()
	}
	xp.close(log)
	ferr := out.Flush()
	if cerr := closeOut(); ferr == nil && cerr != nil {
		ferr = fmt.Errorf("close output: %w", cerr)
	}
	msg := "read done"
	if interrupted || ctx.Err() != nil {
		msg = "read interrupted; open flows flushed"
	}
	p.summary(log, msg, append(append(append([]any{"files", len(files), "unreadable_files", unreadable, "records", out.Count()},
		det.summaryArgs()...), xp.summaryArgs()...), inv.summaryArgs()...)...)
	if ferr != nil {
		return ferr
	}
	if unreadable > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files could not be read", unreadable, len(files))}
	}
	return nil
}

// readCaptures feeds every packet of the files, in order, to handle with
// the interned index of its interface (intern maps a file's interface
// name). With bufs, packet data is read into buffers it lends (see
// capture.Buffers). It returns how many files could not be read at all
// and whether ctx ended the run. A damaged file is logged and its packets
// before the damage kept.
func readCaptures(ctx context.Context, files []string, bufs capture.Buffers, log *slog.Logger, intern func(name string) int,
	handle func(pkt *capture.Packet, iface int)) (unreadable int, interrupted bool) {
	for _, name := range files {
		if ctx.Err() != nil {
			return unreadable, true
		}
		n, err := readFile(ctx, name, bufs, intern, handle)
		if err != nil {
			var fe *capture.FileError
			if n == 0 && !errors.As(err, &fe) || errors.As(err, &fe) && errors.Is(fe.Err, capture.ErrNotCapture) {
				unreadable++
			}
			log.Error("capture damaged or unreadable; flows read before the damage are kept", "file", name, "packets_read", n, "err", err)
		}
	}
	return unreadable, ctx.Err() != nil
}

// readFile feeds every packet of one capture to handle. It returns how many
// packets it read and the error that stopped it (nil at a clean end).
func readFile(ctx context.Context, name string, bufs capture.Buffers, intern func(string) int, handle func(*capture.Packet, int)) (uint64, error) {
	src, err := capture.OpenBuffers(name, bufs)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	var pkt capture.Packet
	// Interface indexes of this file mapped to interned global ones.
	local := make(map[int]int)
	var n uint64
	for {
		if err := src.Next(&pkt); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
		if n&4095 == 0 && ctx.Err() != nil {
			return n, nil
		}
		id, ok := local[pkt.Interface]
		if !ok {
			id = intern(src.InterfaceName(pkt.Interface))
			local[pkt.Interface] = id
		}
		handle(&pkt, id)
	}
}
