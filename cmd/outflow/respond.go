package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"outflow/capture/container"
	"outflow/detect/respond"
	"outflow/flows/ecs"
)

// outflow isolate CONTAINER / outflow release CONTAINER: the containment
// response by hand. The ECS event of the action goes to standard output
// (or -o), its sentence to standard error.

// defaultStateDir is where isolate and release keep their records unless
// told; `outflow sense --respond` writes them under its --state-dir.
const defaultStateDir = "/var/lib/outflow"

func runIsolate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRespond(ctx, respond.ActionIsolate, args, stdout, stderr)
}

func runRelease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRespond(ctx, respond.ActionRelease, args, stdout, stderr)
}

func runRespond(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	what := "Cuts the container off the network: a bridged container's host-side veth is set down; a host-network\n" +
		"container, whose network is the host's, is paused through the Docker API instead. What was changed is\n" +
		"recorded under --state-dir, for outflow release."
	if action == respond.ActionRelease {
		what = "Restores exactly what outflow isolate changed (veths set up again, or the container resumed)."
	}
	fs := newFlags(action, "usage: outflow "+action+" [flags] CONTAINER\n\nCONTAINER is a name, a full ID, or an ID prefix of at least 12 characters.\n"+what, stderr)
	stateDir := fs.String("state-dir", defaultStateDir, "`DIR` holding the isolation records (sense --state-dir for its --respond)")
	socket := fs.String("docker-socket", container.DefaultDockerSocket, "Docker Engine API `PATH` (names, and pausing host-network containers)")
	procRoot := fs.String("proc", container.DefaultProcRoot, "proc file system to scan for containers")
	alertID := fs.String("alert-id", "", "the outflow.alert_id that called for this, written in the event")
	output := fs.StringP("output", "o", "", "write the event to `FILE` instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one CONTAINER, got %d arguments", errUsage, fs.NArg())
	}
	query := fs.Arg(0)
	w, closeOut, err := openOutput(*output, stdout)
	if err != nil {
		return err
	}
	defer closeOut()
	out := ecs.NewWriter(w)
	defer out.Flush()

	opts := []container.Option{container.WithProcRoot(*procRoot), container.WithNetlink()}
	if _, err := os.Stat(*socket); err == nil {
		opts = append(opts, container.WithDocker(*socket))
	}
	host, _ := os.Hostname()
	col, err := container.New(opts...)
	if err != nil {
		// Nothing can be identified: say so in the event stream too.
		err = fmt.Errorf("container discovery: %w", err)
		res := &respond.Result{Action: action, AlertID: *alertID, Time: time.Now(), Err: err, Target: query}
		var d ecs.Doc
		res.Event(&d, host)
		out.Write(&d)
		out.Flush()
		return err
	}
	defer col.Close()
	all := col.Snapshot()
	r := newResponder(filepath.Join(*stateDir, "isolation"), *socket)

	c, rerr := respond.Resolve(all, query)
	if rerr != nil && action == respond.ActionRelease {
		// A container that is gone is known by its record alone.
		if rc := fromRecord(r, query); rc != nil {
			c, rerr = rc, nil
		}
	}
	var res *respond.Result
	if rerr != nil {
		res = &respond.Result{Action: action, AlertID: *alertID, Time: time.Now(), Err: rerr, Target: query}
		err = rerr
	} else if action == respond.ActionIsolate {
		res, err = r.Isolate(ctx, c, all, *alertID)
	} else {
		res, err = r.Release(ctx, c, all, *alertID)
	}
	var d ecs.Doc
	res.Event(&d, host)
	if werr := out.Write(&d); werr != nil && err == nil {
		err = werr
	}
	if ferr := out.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		if errors.Is(err, respond.ErrRefused) {
			return &exitError{code: 1, err: err}
		}
		return err
	}
	fmt.Fprintln(stderr, res.Message())
	return nil
}

// fromRecord finds the isolation record of a container that discovery no
// longer knows, by exact name, full ID or unique ID prefix (12+), and
// stands in an exited container for it.
func fromRecord(r *respond.Responder, query string) *container.Container {
	recs, err := r.Records()
	if err != nil {
		return nil
	}
	q := strings.TrimPrefix(query, "/")
	var found *respond.Record
	for _, rec := range recs {
		if rec.ContainerID == q || rec.Name == q || len(q) >= 12 && strings.HasPrefix(rec.ContainerID, q) {
			if found != nil {
				return nil // ambiguous
			}
			found = rec
		}
	}
	if found == nil {
		return nil
	}
	return &container.Container{ID: found.ContainerID, Name: found.Name, Image: found.Image, Exited: time.Now()}
}
