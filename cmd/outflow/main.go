// Command outflow analyses container egress traffic: it turns packets into
// ECS flow records and alerts.
//
//	outflow read [--flows] [-o FILE] FILE...   offline analysis of captures
//	outflow sense                              sensor on a container host
//	outflow span -i IF[,IF...]                 spanning-port appliance
//	outflow containers [--json]                what the sensor sees
//	outflow isolate|release CONTAINER          containment response
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"read", "analyse capture files (pcap, pcapng, gzip; - for stdin)", runRead},
		{"sense", "watch every container on this host, live (needs root: CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_PTRACE)", runSense},
		{"span", "spanning-port appliance: capture on interfaces with N workers (needs CAP_NET_RAW)", runSpan},
		{"containers", "list the containers the sensor attributes traffic to", runContainers},
		{"isolate", "cut a container off the network (host-network containers: pause); reversible with release", runIsolate},
		{"release", "undo an isolation: restore exactly what isolate changed", runRelease},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			fmt.Fprintln(stdout, "outflow", version)
			return nil
		}},
	}
}

// errUsage marks errors that are the caller's words, answered with usage.
var errUsage = errors.New("usage")

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, pflag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "outflow %s: %v\n", c.name, err)
			return 2
		case errors.As(err, &ee):
			fmt.Fprintf(stderr, "outflow %s: %v\n", c.name, ee.err)
			return ee.code
		default:
			fmt.Fprintf(stderr, "outflow %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "outflow: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: outflow COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'outflow COMMAND --help' for a command's flags.")
}

// newFlags makes a command's flag set; usage heads its help text.
func newFlags(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage+"\n\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; a bad flag is a usage error, --help is ErrHelp.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// newLogger logs to stderr at the given level.
func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

// openOutput returns where records go: stdout, or a file created for them.
func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open output: %w", err)
	}
	return f, f.Close, nil
}
