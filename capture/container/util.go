package container

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
)

// isPermission reports whether the kernel refused an operation for lack
// of privilege (EPERM or EACCES).
func isPermission(err error) bool { return errors.Is(err, fs.ErrPermission) }

// parseNSLink parses the text of a /proc/PID/ns/* or /proc/PID/fd/* link,
// "<kind>:[<number>]" (kind "net", "socket", ...).
func parseNSLink(link, kind string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, kind)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutPrefix(rest, ":[")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "]")
	if !ok || num == "" || len(num) > 20 || num[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// genCache is a bounded map that forgets its least recently used entries
// in bulk: it keeps two generations, looks up both, moves what it finds in
// the old one to the current one, and when the current one is full drops
// the old one and starts a new one. Not safe for concurrent use.
type genCache[K comparable, V any] struct {
	max      int
	cur, old map[K]V
}

func newGenCache[K comparable, V any](max int) *genCache[K, V] {
	return &genCache[K, V]{max: max, cur: make(map[K]V)}
}

func (g *genCache[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	if ok {
		g.put(k, v)
	}
	return v, ok
}

func (g *genCache[K, V]) put(k K, v V) {
	if _, ok := g.cur[k]; !ok && len(g.cur) >= g.max {
		g.old, g.cur = g.cur, make(map[K]V, g.max)
	}
	g.cur[k] = v
}

func (g *genCache[K, V]) reset() {
	g.cur, g.old = make(map[K]V), nil
}

func (g *genCache[K, V]) len() int { return len(g.cur) + len(g.old) }
