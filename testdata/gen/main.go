// Command gen writes outflow's synthetic test captures and their ground
// truth:
//
//	go run ./testdata/gen -scenario demo -o testdata/demo.pcap
//	go run ./testdata/gen -scenario bench -packets 2000000 -flows 50000 -o /tmp/bench.pcap -manifest /tmp/bench.json
//
// The format defaults from the file name (.pcapng, .gz), the seed to 1.
// The same arguments always produce byte-identical files.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"outflow/capture/synth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	scenario := fs.String("scenario", "demo", "scenario: bench or demo")
	packets := fs.Int("packets", 2_000_000, "bench: total packets")
	flows := fs.Int("flows", 50_000, "bench: flows open at the same time")
	seed := fs.Uint64("seed", 1, "random seed")
	format := fs.String("format", "", "pcap or pcapng (default from the file name, else pcap)")
	gz := fs.Bool("gzip", false, "gzip the output (default when the file name ends in .gz)")
	out := fs.String("o", "", "output capture file (required)")
	manifest := fs.String("manifest", "", "write the ground-truth manifest as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("need -o FILE and no positional arguments")
	}

	opt := synth.WriterOptions{Gzip: *gz || strings.HasSuffix(*out, ".gz")}
	base := strings.TrimSuffix(*out, ".gz")
	switch f := *format; {
	case f == "pcapng" || (f == "" && strings.HasSuffix(base, ".pcapng")):
		opt.Format = synth.PCAPNG
	case f == "pcap" || f == "":
		opt.Format = synth.PCAP
	default:
		return fmt.Errorf("unknown format %q", f)
	}

	var sc *synth.Scenario
	switch *scenario {
	case "demo":
		sc = synth.Demo(*seed)
	case "bench":
		var err error
		if sc, err = synth.Bench(*packets, *flows, *seed); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown scenario %q", *scenario)
	}

	start := time.Now()
	m, err := synth.WriteFile(*out, sc, opt)
	if err != nil {
		return err
	}
	el := time.Since(start)
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d packets, %d flows, %d bytes, %s of traffic, written in %v\n",
		*out, m.Packets, len(m.Flows), st.Size(), span(m).Round(time.Millisecond), el.Round(time.Millisecond))

	if *manifest != "" {
		f, err := os.Create(*manifest)
		if err != nil {
			return err
		}
		if err := m.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
	}
	return nil
}

func span(m *synth.Manifest) time.Duration {
	var first, last time.Time
	for _, f := range m.Flows {
		if first.IsZero() || f.First.Before(first) {
			first = f.First
		}
		if f.Last.After(last) {
			last = f.Last
		}
	}
	return last.Sub(first)
}
