//go:build linux

// Command benchcmp times outflow against tcpdump on the same capture, in one
// run, and reports rates as ratios: the machines this runs on are noisy, so
// only figures measured side by side mean anything.
//
//	go run ./testdata/benchcmp -bin ./outflow -file testdata/bench/bench.pcap
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

type result struct {
	best    time.Duration
	maxRSS  int64 // KiB
	packets int64
	flows   int64
}

var (
	pktRe  = regexp.MustCompile(`\bpackets=(\d+)`)
	flowRe = regexp.MustCompile(`\bmax_active_flows=(\d+)`)
)

// measure runs a command n times and keeps the fastest run.
func measure(n int, name string, args ...string) (result, error) {
	var r result
	for i := 0; i < n; i++ {
		cmd := exec.Command(name, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return r, fmt.Errorf("%s: %w: %s", name, err, stderr.String())
		}
		el := time.Since(start)
		if r.best == 0 || el < r.best {
			r.best = el
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > r.maxRSS {
			r.maxRSS = ru.Maxrss
		}
		if m := pktRe.FindSubmatch(stderr.Bytes()); m != nil {
			r.packets, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		if m := flowRe.FindSubmatch(stderr.Bytes()); m != nil {
			r.flows, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
	}
	return r, nil
}

// measureAlternating runs each command once per round, runs rounds, and
// keeps each one's fastest run: commands compared with each other share
// the machine's ups and downs.
func measureAlternating(runs int, cmds ...[]string) ([]result, error) {
	out := make([]result, len(cmds))
	for i := 0; i < runs; i++ {
		for j, c := range cmds {
			r, err := measure(1, c[0], c[1:]...)
			if err != nil {
				return nil, err
			}
			peak := max(r.maxRSS, out[j].maxRSS) // over every run, not only the fastest
			if out[j].best == 0 || r.best < out[j].best {
				out[j] = r
			}
			out[j].maxRSS = peak
		}
	}
	return out, nil
}

func main() {
	bin := flag.String("bin", "./outflow", "outflow binary")
	file := flag.String("file", "testdata/bench/bench.pcap", "capture to read")
	runs := flag.Int("runs", 3, "runs of each command; the fastest counts")
	memOnly := flag.Bool("mem", false, "only measure peak memory per tracked flow")
	workers := flag.Int("workers", 2, "also time read --workers N against one worker (0: skip)")
	flag.Parse()
	if err := run(*bin, *file, *runs, *memOnly, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

func run(bin, file string, runs int, memOnly bool, workers int) error {
	if memOnly {
		full, err := measure(runs, bin, "read", "--flows", "-o", "/dev/null", "--log-level", "info", file)
		if err != nil {
			return err
		}
		printFull(file, full)
		return nil
	}
	// Alternated, one run of each at a time, so that the configurations
	// compared with each other share the machine's ups and downs.
	rs, err := measureAlternating(runs,
		[]string{bin, "read", "--flows", "-o", "/dev/null", "--log-level", "info", file},
		[]string{bin, "read", "--flows", "--no-l7", "-o", "/dev/null", file},
		[]string{bin, "read", "--flows", "--no-detect", "-o", "/dev/null", file},
		// The records pipeline alone: decode, flow table and records,
		// what the offline foundation's throughput target is about.
		[]string{bin, "read", "--flows", "--no-l7", "--no-detect", "-o", "/dev/null", file})
	if err != nil {
		return err
	}
	full, noL7, noDet, base := rs[0], rs[1], rs[2], rs[3]
	pps := func(r result) float64 { return float64(full.packets) / r.best.Seconds() }
	printFull(file, full)
	fmt.Printf("outflow read --flows --no-l7:    %8.3fs  %10.0f packets/s\n", noL7.best.Seconds(), pps(noL7))
	fmt.Printf("outflow read --flows --no-detect: %8.3fs  %10.0f packets/s\n", noDet.best.Seconds(), pps(noDet))
	fmt.Printf("outflow read --flows --no-l7 --no-detect: %8.3fs  %10.0f packets/s\n", base.best.Seconds(), pps(base))
	fmt.Printf("identification cost: %+.1f%% of time with detectors on, %+.1f%% with them off (target <= 15%%)\n",
		100*(full.best.Seconds()/noL7.best.Seconds()-1), 100*(noDet.best.Seconds()/base.best.Seconds()-1))
	fmt.Printf("detection cost:      %+.1f%% of time (target <= 10%%)\n", 100*(full.best.Seconds()/noDet.best.Seconds()-1))
	if workers > 1 {
		// Alternated, one run of each at a time, so that both see the
		// same load.
		n := strconv.Itoa(workers)
		rs, err := measureAlternating(runs+2,
			[]string{bin, "read", "--flows", "-o", "/dev/null", file},
			[]string{bin, "read", "--flows", "--workers", n, "-o", "/dev/null", file})
		if err != nil {
			return err
		}
		one, many := rs[0], rs[1]
		fmt.Printf("outflow read --flows --workers 1: %8.3fs  %10.0f packets/s\n", one.best.Seconds(), pps(one))
		fmt.Printf("outflow read --flows --workers %d: %8.3fs  %10.0f packets/s  peak RSS %d MiB\n", workers, many.best.Seconds(), pps(many), many.maxRSS>>10)
		fmt.Printf("%d workers / 1 worker rate: %.2f (target >= 1.7 for 2 workers; %d CPUs)\n", workers, one.best.Seconds()/many.best.Seconds(), runtime.NumCPU())
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		fmt.Println("tcpdump not installed: no reference rate")
		return nil
	}
	ref, err := measure(runs, tcpdump, "-r", file, "-w", "/dev/null")
	if err != nil {
		return err
	}
	fmt.Printf("tcpdump -r FILE -w /dev/null: %8.3fs  %10.0f packets/s\n", ref.best.Seconds(), pps(ref))
	fmt.Printf("outflow / tcpdump rate: %.2f (target >= 0.5); records pipeline (--no-l7 --no-detect): %.2f\n",
		ref.best.Seconds()/full.best.Seconds(), ref.best.Seconds()/base.best.Seconds())
	return nil
}

func printFull(file string, full result) {
	fmt.Printf("capture: %s, %d packets, peak %d concurrent flows\n", file, full.packets, full.flows)
	fmt.Printf("outflow read --flows:        %8.3fs  %10.0f packets/s  peak RSS %d MiB\n",
		full.best.Seconds(), float64(full.packets)/full.best.Seconds(), full.maxRSS>>10)
	if full.flows > 0 {
		fmt.Printf("peak RSS per concurrent flow: %d bytes (includes the runtime and buffers)\n", full.maxRSS<<10/full.flows)
	}
}
