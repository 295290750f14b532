package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"outflow/capture/container"
)

// runContainers lists the containers the sensor would attribute traffic
// to: what discovery finds right now, with every source it can use.
func runContainers(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("containers", "usage: outflow containers [flags]", stderr)
	asJSON := fs.Bool("json", false, "write one JSON object per container")
	socket := fs.String("docker-socket", container.DefaultDockerSocket,
		"Docker Engine API `PATH` (skipped when the default is absent; empty to skip)")
	procRoot := fs.String("proc", container.DefaultProcRoot,
		"`DIR` to scan instead of /proc (host interfaces are mapped only for /proc)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	opts := []container.Option{container.WithProcRoot(*procRoot)}
	if *socket != "" {
		if _, err := os.Stat(*socket); err == nil || fs.Changed("docker-socket") {
			opts = append(opts, container.WithDocker(*socket))
		}
	}
	if *procRoot == container.DefaultProcRoot {
		opts = append(opts, container.WithNetlink())
	}
	coll, err := container.New(opts...)
	if err != nil {
		return containersError(err)
	}
	defer coll.Close()
	cs := coll.Snapshot()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, c := range cs {
			if err := enc.Encode(c); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tIMAGE\tPID\tNETNS\tNETWORK\tHOST IFACES\tADDRESSES")
	for _, c := range cs {
		mode := c.NetworkMode
		if mode == "" {
			mode = "-"
		}
		if !c.Running() {
			mode += " (exited)"
		}
		ifaces := make([]string, len(c.HostIfaces))
		for i, ifc := range c.HostIfaces {
			ifaces[i] = ifc.Name
		}
		addrs := make([]string, len(c.Addrs))
		for i, a := range c.Addrs {
			addrs[i] = a.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ShortID(), dash(c.Name), dash(c.Image),
			dashNum(uint64(c.PID)), dashNum(c.NetNS), mode, dash(strings.Join(ifaces, ",")), dash(strings.Join(addrs, ",")))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// containersError keeps a missing privilege a one-line answer (the
// error names the capability) and hints at a wrong --proc.
func containersError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (is --proc right?)", err)
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashNum(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}
