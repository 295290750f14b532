package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"outflow/capture"
	"outflow/detect"
	"outflow/flows"
	"outflow/flows/decode"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// tableFlags are the flow-table settings shared by every command.
type tableFlags struct {
	maxFlows      int
	idle, tcpIdle time.Duration
	active        time.Duration
	noL7          bool
	logLevel      string
}

func (tf *tableFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&tf.maxFlows, "max-flows", 1_000_000, "most flows tracked at once; beyond it unanswered and idle flows are evicted first (counted)")
	fs.DurationVar(&tf.idle, "idle-timeout", 60*time.Second, "end UDP/ICMP flows, and TCP flows never answered, after this much silence")
	fs.DurationVar(&tf.tcpIdle, "tcp-idle-timeout", 5*time.Minute, "end established TCP flows after this much silence")
	fs.DurationVar(&tf.active, "active-timeout", 30*time.Minute, "write a record for long-lived flows at least this often")
	fs.BoolVar(&tf.noL7, "no-l7", false, "turn application-protocol identification off")
	fs.StringVar(&tf.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
}

func (tf *tableFlags) config() (flows.Config, error) {
	if tf.maxFlows <= 0 {
		return flows.Config{}, fmt.Errorf("%w: --max-flows must be positive", errUsage)
	}
	for name, d := range map[string]time.Duration{"--idle-timeout": tf.idle, "--tcp-idle-timeout": tf.tcpIdle, "--active-timeout": tf.active} {
		if d <= 0 {
			return flows.Config{}, fmt.Errorf("%w: %s must be positive", errUsage, name)
		}
	}
	return flows.Config{MaxFlows: tf.maxFlows, IdleTimeout: tf.idle, TCPIdleTimeout: tf.tcpIdle, ActiveTimeout: tf.active}, nil
}

// ringFlags are the live capture settings of sense and span.
type ringFlags struct {
	blockTimeout time.Duration
	statsEvery   time.Duration
	blockSize    int
	blocks       int
}

// register adds the flags; per says what one ring serves, counters what
// the periodic stats line holds.
func (rf *ringFlags) register(fs *pflag.FlagSet, blockSize int, per, counters string) {
	fs.DurationVar(&rf.statsEvery, "stats-interval", time.Minute, "log "+counters+" this often; 0: only at exit")
	fs.DurationVar(&rf.blockTimeout, "block-timeout", 10*time.Millisecond, "how long the kernel holds a partly filled capture block (bounds alert latency)")
	fs.IntVar(&rf.blockSize, "ring-block-size", blockSize, "capture ring block size in bytes (the ring is blocks x size "+per+")")
	fs.IntVar(&rf.blocks, "ring-blocks", 8, "capture ring blocks "+per)
}

// pipeline is one worker's packet path: decode, then the flow table, whose
// observers write records and feed the detectors.
type pipeline struct {
	dec    *decode.Decoder
	table  *flows.Table
	l7     *l7.Engine     // nil with --no-l7
	detect *detect.Engine // nil with --no-detect
	out    *ecs.Writer
	ifaces *ifaceNames
	hdr    decode.Headers

	packets, bytes uint64
	start          time.Time
}

// ifaceNames interns capture interface names so a flow keeps a small index.
type ifaceNames struct {
	names []string
	ids   map[string]int32
}

func (n *ifaceNames) id(name string) int { return n.idNamed(name, name) }

// idNamed interns key (unique per capture point) and records the interface
// name shown in records; several namespaces may each have an "eth0".
func (n *ifaceNames) idNamed(key, name string) int {
	if n.ids == nil {
		n.ids = map[string]int32{}
	}
	if i, ok := n.ids[key]; ok {
		return int(i)
	}
	n.names = append(n.names, name)
	n.ids[key] = int32(len(n.names) - 1)
	return len(n.names) - 1
}

// EnrichFlow implements flows.Enricher: observer.ingress.interface.name.
func (n *ifaceNames) EnrichFlow(f *flows.Flow, d *ecs.Doc) {
	if i := int(f.Interface); i >= 0 && i < len(n.names) {
		d.Str("observer.ingress.interface.name", n.names[i])
	}
}

// handle runs one captured packet through the pipeline; iface is the
// interned interface index.
func (p *pipeline) handle(pkt *capture.Packet, iface int) {
	p.packets++
	p.bytes += uint64(pkt.OrigLen)
	if p.dec.Decode(pkt, &p.hdr) == decode.OK {
		p.table.Add(&p.hdr, pkt.Timestamp, iface)
	}
}

// summary logs one line of counters for the run.
func (p *pipeline) summary(log *slog.Logger, msg string, extra ...any) {
	log.Info(msg, append(extra, summaryFields(p.packets, p.bytes, p.dec.Stats(), p.table.Stats(), time.Since(p.start))...)...)
}

// summaryFields are the run counters every command logs: packets, flows,
// decode failures by kind, fragments, rate.
func summaryFields(packets, bytes uint64, ds decode.Stats, ts flows.TableStats, el time.Duration) []any {
	var fails []string
	var nfail uint64
	for k, n := range ds.Failures {
		if n > 0 {
			fails = append(fails, fmt.Sprintf("%s:%d", decode.Kind(k), n))
			nfail += n
		}
	}
	pps := 0.0
	if el > 0 {
		pps = float64(packets) / el.Seconds()
	}
	var records uint64
	for _, n := range ts.Ended {
		records += n
	}
	return []any{
		"packets", packets, "bytes", bytes,
		"flows", ts.Created, "flow_records", records, "max_active_flows", ts.MaxActive, "evicted", ts.Evicted,
		"non_ip", ds.NonIP, "decode_failures", nfail, "failures_by_kind", strings.Join(fails, ","),
		"truncated_packets", ds.Snapped, "fragments", ds.Fragments, "reassembled", ds.Reassembled,
		"fragments_expired", ds.FragExpired, "fragments_evicted", ds.FragEvicted,
		"elapsed", el.Round(time.Millisecond).String(), "packets_per_second", int64(pps),
	}
}
