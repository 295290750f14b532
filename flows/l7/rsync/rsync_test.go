package rsync

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

// Hand-built daemon conversations following rsync's clientserver.c:
// greeting, module line, optional AUTHREQD challenge and "<user> <hash>"
// reply, OK/@ERROR/EXIT, then NUL-separated arguments (protocol >= 30).
const (
	greet30 = "@RSYNCD: 30.0\n"
	greet31 = "@RSYNCD: 31.0 sha512 sha256 sha1 md5 md4\n"
)

func args(a ...string) string { return strings.Join(a, "\x00") + "\x00\x00" }

type step struct {
	dir  l7.Dir
	data string
}

// run feeds the conversation with every step cut at cut (modulo its length).
func run(steps []step, cut int) (l7.Session, bool) {
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP})
	ctx := &l7.Context{}
	more := true
	for _, st := range steps {
		if !more {
			break
		}
		b := []byte(st.data)
		c := cut % (len(b) + 1)
		for _, part := range [][]byte{b[:c], b[c:]} {
			if len(part) > 0 && more {
				more = s.Feed(ctx, st.dir, part)
			}
		}
	}
	return s, more
}

func TestSession(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	tests := []struct {
		name     string
		steps    []step
		want     map[string]any
		absent   []string
		wantUser string
		finished bool
	}{
		{
			name: "download from module",
			steps: []step{
				{C, greet30}, {S, greet30}, {C, "flag\n"}, {S, "@RSYNCD: OK\n"},
				{C, args("--server", "--sender", "-logDtprce.iLsf", ".", "flag/")},
			},
			want: map[string]any{
				"outflow.rsync.version":   "30.0",
				"outflow.rsync.module":    "flag",
				"outflow.rsync.result":    "ok",
				"outflow.rsync.direction": "download",
				"outflow.rsync.path":      "flag/",
			},
			finished: true,
		},
		{
			name: "authenticated upload, newer protocol with MOTD",
			steps: []step{
				{S, greet31}, {C, greet31}, {S, "Welcome to the mirror\n\n"},
				{C, "backup\n"}, {S, "@RSYNCD: AUTHREQD 8o0ZIg5nCf2u8ShcKE8PHQ\n"},
				{C, "alice Jp0y7kM2rV1fQz8aB3cD4e\n"}, {S, "@RSYNCD: OK\n"},
				{C, args("--server", "-logDtpre.iLsfxCIvu", ".", "host1/")},
			},
			want: map[string]any{
				"outflow.rsync.version":   "31.0",
				"outflow.rsync.module":    "backup",
				"outflow.rsync.auth":      true,
				"outflow.rsync.direction": "upload",
				"outflow.rsync.path":      "host1/",
				"user.name":               "alice",
			},
			wantUser: "alice",
			finished: true,
		},
		{
			name: "unknown module",
			steps: []step{
				{C, greet30}, {S, greet30}, {C, "nope\n"}, {S, "@ERROR: Unknown module 'nope'\n"},
			},
			want: map[string]any{
				"outflow.rsync.module": "nope",
				"outflow.rsync.result": "error",
				"outflow.rsync.error":  "Unknown module 'nope'",
			},
			absent:   []string{"outflow.rsync.direction"},
			finished: true,
		},
		{
			name: "module list, lower version wins",
			steps: []step{
				{C, "@RSYNCD: 29.0\r\n"}, {S, greet31}, {C, "#list\n"},
				{S, "pub            \tPublic files\nsrc            \tSources\n@RSYNCD: EXIT\n"},
			},
			want: map[string]any{
				"outflow.rsync.version": "29.0",
				"outflow.rsync.list":    true,
				"outflow.rsync.result":  "exit",
			},
			absent:   []string{"outflow.rsync.module"},
			finished: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			longest := 0
			for _, st := range tt.steps {
				longest = max(longest, len(st.data))
			}
			for cut := 0; cut <= longest; cut++ {
				s, more := run(tt.steps, cut)
				got := l7test.Fields(t, s)
				for k, v := range tt.want {
					if got[k] != v {
						t.Fatalf("cut %d: %s = %v, want %v (all %v)", cut, k, got[k], v, got)
					}
				}
				for _, k := range tt.absent {
					if _, ok := got[k]; ok {
						t.Fatalf("cut %d: %s set", cut, k)
					}
				}
				if tt.finished && more {
					t.Fatalf("cut %d: session still wants data", cut)
				}
				var sum l7.Summary
				s.Summary(&sum)
				if sum.Protocol != "rsync" || sum.User != tt.wantUser {
					t.Fatalf("summary = %+v", sum)
				}
			}
		})
	}
	// The module list is kept only for list requests.
	s, _ := run(tests[3].steps, 0)
	mods, _ := l7test.Fields(t, s)["outflow.rsync.modules"].([]any)
	if len(mods) != 2 || mods[0] != "pub" || mods[1] != "src" {
		t.Fatalf("modules = %v", mods)
	}
}

func TestProbe(t *testing.T) {
	p := New()
	tests := []struct {
		data string
		want l7.Verdict
	}{
		{greet30, l7.VerdictYes},
		{"@RSYNCD: 3", l7.VerdictYes},
		{"@RSYN", l7.VerdictMaybe},
		{"@RSYNCD: ", l7.VerdictMaybe},
		{"@RSYNCD: OK\n", l7.VerdictNo},
		{"SSH-2.0-x\r\n", l7.VerdictNo},
		{"", l7.VerdictMaybe},
	}
	for _, tt := range tests {
		for _, dir := range []l7.Dir{l7.FromClient, l7.FromServer} {
			if got := p.Probe(&l7.FlowInfo{}, dir, []byte(tt.data)); got != tt.want {
				t.Errorf("Probe(%q) = %v, want %v", tt.data, got, tt.want)
			}
		}
	}
}

func TestHostile(t *testing.T) {
	ctx := &l7.Context{}
	t.Run("endless line", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{})
		more := true
		for i := 0; i < 10 && more; i++ {
			more = s.Feed(ctx, l7.FromServer, []byte(strings.Repeat("x", 1000)))
		}
		if more {
			t.Fatal("an endless line was accepted")
		}
	})
	t.Run("endless module list", func(t *testing.T) {
		s, _ := run([]step{{l7.FromClient, greet30 + "\n"}, {l7.FromServer, greet30}}, 0)
		more := true
		for i := 0; i < 1000 && more; i++ {
			more = s.Feed(ctx, l7.FromServer, []byte("m\tx\n"))
		}
		ss := s.(*session)
		if more || len(ss.modules) > maxModules {
			t.Fatalf("unbounded module list: more=%v modules=%d", more, len(ss.modules))
		}
	})
	t.Run("endless arguments", func(t *testing.T) {
		s, _ := run([]step{{l7.FromClient, greet30 + "m\n"}, {l7.FromServer, greet30 + "@RSYNCD: OK\n"}}, 0)
		more := true
		for i := 0; i < 1000 && more; i++ {
			more = s.Feed(ctx, l7.FromClient, []byte("-v\x00"))
		}
		if more {
			t.Fatal("unbounded argument list")
		}
	})
}

func FuzzSession(f *testing.F) {
	f.Add([]byte(greet30+"flag\n"+args("--server", "--sender", ".", "x")), []byte(greet30+"@RSYNCD: OK\n"), int64(1))
	f.Add([]byte(greet31+"#list\n"), []byte(greet31+"motd\na\tb\n@RSYNCD: EXIT\n"), int64(2))
	f.Add([]byte(greet30+"m\nbob x\n"), []byte(greet30+"@RSYNCD: AUTHREQD abc\n@ERROR: auth failed\n"), int64(3))
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64) {
		p := New()
		fi := &l7.FlowInfo{Transport: l7.TCP}
		p.Probe(fi, l7.FromClient, client)
		p.Probe(fi, l7.FromServer, server)
		s := p.NewSession(fi)
		ctx := &l7.Context{}
		r := rand.New(rand.NewSource(seed))
		for len(client) > 0 || len(server) > 0 {
			dir := l7.Dir(r.Intn(2))
			b := &client
			if dir == l7.FromServer {
				b = &server
			}
			n := min(len(*b), r.Intn(32))
			if !s.Feed(ctx, dir, (*b)[:n]) {
				break
			}
			*b = (*b)[n:]
		}
		if ss := s.(*session); len(ss.modules) > maxModules {
			t.Fatalf("%d modules kept", len(ss.modules))
		}
		var d ecs.Doc
		s.Fields(&d)
		if !json.Valid(d.AppendJSON(nil)) {
			t.Fatal("invalid JSON")
		}
		var sum l7.Summary
		s.Summary(&sum)
	})
}
