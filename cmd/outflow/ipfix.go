package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"outflow/detect"
	"outflow/flows"
	"outflow/flows/ipfix"
)

// ipfixFlags are --ipfix and its settings (read and sense).
type ipfixFlags struct {
	addr   string
	rate   int
	domain uint32
}

func (xf *ipfixFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&xf.addr, "ipfix", "", "also send every flow record as IPFIX (RFC 7011) over UDP to the collector at `HOST:PORT`")
	fs.IntVar(&xf.rate, "ipfix-rate", ipfix.DefaultRate, "most IPFIX messages sent per second (about 16 flow records each); records beyond what the queue holds are counted as dropped (read: the reader waits instead)")
	fs.Uint32Var(&xf.domain, "ipfix-domain", ipfix.DefaultDomain, "IPFIX observation domain ID in every message: tells this sensor's records apart at the collector")
}

// ipfixExport is a running exporter; nil when --ipfix is not set.
type ipfixExport struct {
	exp    *ipfix.Exporter
	addr   string
	closed bool
}

// start dials the collector. attr names flows' containers (nil: none);
// wait is how long the packet path may wait for room in the queue.
func (xf *ipfixFlags) start(attr detect.Attributor, wait time.Duration) (*ipfixExport, error) {
	if xf.addr == "" {
		return nil, nil
	}
	if xf.rate <= 0 {
		return nil, fmt.Errorf("%w: --ipfix-rate must be positive", errUsage)
	}
	cfg := ipfix.Config{Addr: xf.addr, Rate: xf.rate, Domain: xf.domain, Wait: wait}
	if attr != nil {
		cfg.Container = func(f *flows.Flow) string {
			if c := attr.Container(f); c != nil {
				return c.Name
			}
			return ""
		}
	}
	exp, err := ipfix.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("--ipfix: %w", err)
	}
	return &ipfixExport{exp: exp, addr: xf.addr}, nil
}

// observer is the exporter as a flow observer (nil interface when off).
func (x *ipfixExport) observer() flows.Observer {
	if x == nil {
		return nil
	}
	return x.exp
}

// close sends what is queued and logs the exporter's counters, once.
func (x *ipfixExport) close(log *slog.Logger) {
	if x == nil || x.closed {
		return
	}
	x.closed = true
	err := x.exp.Close()
	st := x.exp.Stats()
	args := []any{"collector", x.addr, "records", st.Exported, "messages", st.Messages, "dropped", st.Dropped,
		"send_errors", st.SendErrors, "queue_waits", st.Waits}
	if err != nil {
		log.Warn("ipfix export done, with send errors", append(args, "err", err)...)
		return
	}
	log.Info("ipfix export done", args...)
}

// summaryArgs are the exporter's counters for the run summary.
func (x *ipfixExport) summaryArgs() []any {
	if x == nil {
		return nil
	}
	st := x.exp.Stats()
	return []any{"ipfix_records", st.Exported, "ipfix_dropped", st.Dropped, "ipfix_queue", st.QueueLen}
}
