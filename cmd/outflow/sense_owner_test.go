package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"outflow/capture/container"
)

// TestOwnerRegistryBounded: containers discovery no longer lists are
// forgotten after ownerRetention, their owner numbers are never handed to
// another container, and a flow still carrying a forgotten owner is left
// unattributed rather than misattributed.
func TestOwnerRegistryBounded(t *testing.T) {
	s := newSensor(nil, senseFlags{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a := &container.Container{ID: "aaaa", Name: "a"}
	b := &container.Container{ID: "bbbb", Name: "b"}
	oa, ob := s.ownerOf(a), s.ownerOf(b)
	s.ifaceCtr[7] = oa
	if oa == ob || s.info(oa).c != a || s.info(ob|ownerInbound).c != b {
		t.Fatalf("owners %d %d not distinct or not found", oa, ob)
	}
	now := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at        time.Duration
		snap      []*container.Container
		wantA     bool
		wantB     bool
		forgotten uint64
	}{
		{0, []*container.Container{a, b}, true, true, 0},
		{time.Minute, []*container.Container{b}, true, true, 0},                     // a gone: retention starts
		{ownerRetention, []*container.Container{b}, true, true, 0},                  // not yet past it
		{ownerRetention + 2*time.Minute, []*container.Container{b}, false, true, 1}, // a forgotten
		{2 * ownerRetention, nil, false, true, 1},                                   // b gone: starts again
	}
	for _, st := range steps {
		s.pruneOwners(st.snap, now.Add(st.at))
		if got := s.info(oa) != nil; got != st.wantA {
			t.Errorf("at %v: a known = %v, want %v", st.at, got, st.wantA)
		}
		if got := s.info(ob) != nil; got != st.wantB {
			t.Errorf("at %v: b known = %v, want %v", st.at, got, st.wantB)
		}
		if s.pruned != st.forgotten {
			t.Errorf("at %v: forgotten %d, want %d", st.at, s.pruned, st.forgotten)
		}
	}
	if _, ok := s.ifaceCtr[7]; ok {
		t.Error("a's interface still maps to its forgotten owner")
	}
	// a comes back (same ID): a new owner, not the old number.
	if o := s.ownerOf(a); o == oa || o == ob {
		t.Errorf("owner %d reused", o)
	}
	if s.info(oa) != nil {
		t.Error("the forgotten owner number resolves again")
	}
}
