package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"outflow/detect/statefile"
	"outflow/flows/decode"
)

// The unexpected-destination baseline on disk: a statefile (header with
// kind, version, length, CRC-32C) whose body is JSON:
//
//	{"saved":"2025-01-02T03:04:05Z","workloads":[
//	  {"workload":"image:registry.example/api","activity_s":86400,
//	   "destinations":["tcp/443 api.example.com","udp/53 10.0.0.0/24"]}]}
//
// activity_s is the observed activity so far: whether a workload has
// finished learning follows from it and the configured learning period, so
// lengthening the period sends workloads back to learning.

type baselineFile struct {
	Saved     time.Time          `json:"saved"`
	Workloads []baselineWorkload `json:"workloads"`
}

type baselineWorkload struct {
	Workload     string   `json:"workload"`
	ActivityS    int64    `json:"activity_s"`
	Saturated    bool     `json:"saturated,omitempty"`
	Destinations []string `json:"destinations"`
}

// encode serialises the baseline (workloads and destinations sorted, so
// that the same baseline gives the same file).
func (d *UnexpectedDestination) encode(now int64) []byte {
	bf := baselineFile{Saved: time.Unix(0, now).UTC(), Workloads: make([]baselineWorkload, 0, len(d.workloads))}
	for _, w := range d.workloads {
		bw := baselineWorkload{Workload: w.key, ActivityS: w.activity / int64(time.Second), Saturated: w.saturated,
			Destinations: make([]string, 0, len(w.dests))}
		for k := range w.dests {
			bw.Destinations = append(bw.Destinations, k.String())
		}
		slices.Sort(bw.Destinations)
		bf.Workloads = append(bf.Workloads, bw)
	}
	slices.SortFunc(bf.Workloads, func(a, b baselineWorkload) int { return strings.Compare(a.Workload, b.Workload) })
	body, err := json.Marshal(&bf)
	if err != nil {
		panic(err) // plain strings and numbers always encode
	}
	return body
}

func writeBaseline(path string, body []byte) error {
	return statefile.Write(path, baselineKind, baselineVersion, body)
}

// decodeBaseline parses a whole baseline state file. Everything in it is
// checked (names, networks, ports, bounds); any problem rejects the file.
// It never panics.
func decodeBaseline(data []byte) (map[string]*workload, error) {
	body, err := statefile.Decode(data, baselineKind, baselineVersion)
	if err != nil {
		return nil, err
	}
	return decodeBaselineBody(body)
}

func decodeBaselineBody(body []byte) (map[string]*workload, error) {
	var bf baselineFile
	if err := json.Unmarshal(body, &bf); err != nil {
		return nil, fmt.Errorf("%w: body: %v", statefile.ErrCorrupt, err)
	}
	if len(bf.Workloads) > hardMaxWorkloads {
		return nil, fmt.Errorf("%w: %d workloads, more than %d", statefile.ErrCorrupt, len(bf.Workloads), hardMaxWorkloads)
	}
	out := make(map[string]*workload, len(bf.Workloads))
	for i, bw := range bf.Workloads {
		if bw.Workload == "" || len(bw.Workload) > 1024 {
			return nil, fmt.Errorf("%w: workload %d: bad name", statefile.ErrCorrupt, i)
		}
		if _, dup := out[bw.Workload]; dup {
			return nil, fmt.Errorf("%w: workload %q listed twice", statefile.ErrCorrupt, bw.Workload)
		}
		if bw.ActivityS < 0 || bw.ActivityS > int64(100*365*24*time.Hour/time.Second) {
			return nil, fmt.Errorf("%w: workload %q: activity %d s out of range", statefile.ErrCorrupt, bw.Workload, bw.ActivityS)
		}
		if len(bw.Destinations) > hardMaxDestinations {
			return nil, fmt.Errorf("%w: workload %q: %d destinations, more than %d", statefile.ErrCorrupt, bw.Workload, len(bw.Destinations), hardMaxDestinations)
		}
		w := &workload{key: bw.Workload, activity: bw.ActivityS * int64(time.Second), saturated: bw.Saturated,
			dests: make(map[destKey]struct{}, len(bw.Destinations))}
		for _, s := range bw.Destinations {
			k, err := parseDestKey(s)
			if err != nil {
				return nil, fmt.Errorf("%w: workload %q: %v", statefile.ErrCorrupt, bw.Workload, err)
			}
			w.dests[k] = struct{}{}
		}
		out[w.key] = w
	}
	return out, nil
}

// parseDestKey parses destKey.String's form: "tcp/443 name-or-network".
func parseDestKey(s string) (destKey, error) {
	pp, where, ok := strings.Cut(s, " ")
	proto, port, ok2 := strings.Cut(pp, "/")
	if !ok || !ok2 || where == "" {
		return destKey{}, fmt.Errorf("destination %q: want \"proto/port name-or-network\"", clipStr(s))
	}
	var k destKey
	switch proto {
	case "tcp":
		k.proto = decode.ProtoTCP
	case "udp":
		k.proto = decode.ProtoUDP
	case "sctp":
		k.proto = decode.ProtoSCTP
	default:
		n, err := strconv.ParseUint(proto, 10, 8)
		if err != nil {
			return destKey{}, fmt.Errorf("destination %q: bad protocol", clipStr(s))
		}
		k.proto = uint8(n)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return destKey{}, fmt.Errorf("destination %q: bad port", clipStr(s))
	}
	k.port = uint16(n)
	if strings.Contains(where, "/") {
		p, err := netip.ParsePrefix(where)
		if err != nil || p != netOf(p.Addr()) {
			return destKey{}, fmt.Errorf("destination %q: want a /24 or /64 network", clipStr(s))
		}
		k.net = p
	} else {
		if !validDestName(where) {
			return destKey{}, fmt.Errorf("destination %q: bad name", clipStr(s))
		}
		k.name = where
	}
	if k.String() != s {
		return destKey{}, fmt.Errorf("destination %q: not in canonical form", clipStr(s))
	}
	return k, nil
}

func clipStr(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// load reads the state file. Missing: start empty. Unusable: say why, move
// it aside, start empty.
func (d *UnexpectedDestination) load() {
	path := d.cfg.StatePath
	data, err := statefile.Read(path, baselineKind, baselineVersion)
	if errors.Is(err, fs.ErrNotExist) {
		d.log.Info("unexpected-destination: no saved baseline yet; learning from scratch", "state_file", path)
		return
	}
	var ws map[string]*workload
	if err == nil {
		ws, err = decodeBaselineBody(data)
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	if err != nil {
		attrs := []any{"state_file", path, "err", err}
		if errors.Is(err, statefile.ErrForeign) || errors.Is(err, statefile.ErrVersion) || errors.Is(err, statefile.ErrCorrupt) {
			if to, qerr := statefile.Quarantine(path); qerr == nil {
				attrs = append(attrs, "moved_to", to)
			}
		}
		d.log.Warn("unexpected-destination: saved baseline rejected; relearning every workload", attrs...)
		return
	}
	if len(ws) > d.cfg.MaxWorkloads {
		d.log.Warn("unexpected-destination: saved baseline has more workloads than max; keeping the first", "saved", len(ws), "max", d.cfg.MaxWorkloads)
	}
	keys := make([]string, 0, len(ws))
	for k := range ws {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	learned := 0
	for _, k := range keys {
		if len(d.workloads) >= d.cfg.MaxWorkloads {
			break
		}
		w := ws[k]
		w.learned = w.activity >= int64(d.cfg.LearningPeriod)
		if w.learned {
			learned++
		}
		d.workloads[k] = w
	}
	d.log.Info("unexpected-destination: baseline loaded", "state_file", path, "workloads", len(d.workloads), "learned", learned)
}
