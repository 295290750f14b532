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

func main() {
	bin := flag.String("bin", "./outflow", "outflow binary")
	file := flag.String("file", "testdata/bench/bench.pcap", "capture to read")
	runs := flag.Int("runs", 3, "runs of each command; the fastest counts")
	memOnly := flag.Bool("mem", false, "only measure peak memory per tracked flow")
	flag.Parse()
	if err := run(*bin, *file, *runs, *memOnly); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

func run(bin, file string, runs int, memOnly bool) error {
	full, err := measure(runs, bin, "read", "--flows", "-o", "/dev/null", "--log-level", "info", file)
	if err != nil {
		return err
	}
	pps := func(r result) float64 { return float64(full.packets) / r.best.Seconds() }
	fmt.Printf("capture: %s, %d packets, peak %d concurrent flows\n", file, full.packets, full.flows)
	fmt.Printf("outflow read --flows:        %8.3fs  %10.0f packets/s  peak RSS %d MiB\n", full.best.Seconds(), pps(full), full.maxRSS>>10)
	if full.flows > 0 {
		fmt.Printf("peak RSS per concurrent flow: %d bytes (includes the runtime and buffers)\n", full.maxRSS<<10/full.flows)
	}
	if memOnly {
		return nil
	}
	noL7, err := measure(runs, bin, "read", "--flows", "--no-l7", "-o", "/dev/null", file)
	if err != nil {
		return err
	}
	noDet, err := measure(runs, bin, "read", "--flows", "--no-detect", "-o", "/dev/null", file)
	if err != nil {
		return err
	}
	fmt.Printf("outflow read --flows --no-l7:    %8.3fs  %10.0f packets/s\n", noL7.best.Seconds(), pps(noL7))
	fmt.Printf("outflow read --flows --no-detect: %8.3fs  %10.0f packets/s\n", noDet.best.Seconds(), pps(noDet))
	fmt.Printf("identification cost: %+.1f%% of time (target <= 15%%)\n", 100*(full.best.Seconds()/noL7.best.Seconds()-1))
	fmt.Printf("detection cost:      %+.1f%% of time (target <= 10%%)\n", 100*(full.best.Seconds()/noDet.best.Seconds()-1))
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
	fmt.Printf("outflow / tcpdump rate: %.2f (target >= 0.5)\n", ref.best.Seconds()/full.best.Seconds())
	return nil
}
