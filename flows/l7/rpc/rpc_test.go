package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/netip"
	"reflect"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

type step struct {
	dir  l7.Dir
	data []byte
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

type chunking struct {
	name  string
	chunk func([]step) []step
}

func bytewise(steps []step) []step {
	var out []step
	for _, s := range steps {
		for i := range s.data {
			out = append(out, step{s.dir, s.data[i : i+1]})
		}
	}
	return out
}

func merged(steps []step) []step {
	var out []step
	for _, s := range steps {
		if n := len(out); n > 0 && out[n-1].dir == s.dir {
			out[n-1].data = cat(out[n-1].data, s.data)
			continue
		}
		out = append(out, step{s.dir, append([]byte(nil), s.data...)})
	}
	return out
}

func cutAt(steps []step, k int) []step {
	var out []step
	for _, s := range steps {
		if k > 0 && k < len(s.data) {
			out = append(out, step{s.dir, s.data[:k]}, step{s.dir, s.data[k:]})
		} else {
			out = append(out, s)
		}
		k -= len(s.data)
	}
	return out
}

func randomChunks(seed int64) func([]step) []step {
	return func(steps []step) []step {
		r := rand.New(rand.NewSource(seed))
		var out []step
		for _, s := range merged(steps) {
			d := s.data
			for len(d) > 0 {
				n := min(len(d), 1+r.Intn(300))
				out = append(out, step{s.dir, d[:n]})
				d = d[n:]
			}
		}
		return out
	}
}

// chunkings for TCP conversations: whole steps, merged steps, random
// chunks, one byte per Feed, and one cut at every offset when small.
func chunkings(steps []step) []chunking {
	cs := []chunking{
		{"whole", func(s []step) []step { return s }}, {"merged", merged},
		{"bytewise", bytewise}, {"random1", randomChunks(1)}, {"random2", randomChunks(2)},
	}
	total := 0
	for _, s := range steps {
		total += len(s.data)
	}
	if total <= 8<<10 {
		for k := 1; k < total; k++ {
			cs = append(cs, chunking{fmt.Sprintf("cut%d", k), func(s []step) []step { return cutAt(s, k) }})
		}
	}
	return cs
}

var testFlow = &l7.FlowInfo{
	Transport: l7.TCP,
	Client:    netip.MustParseAddrPort("10.0.0.2:700"),
	Server:    netip.MustParseAddrPort("10.0.0.1:2049"),
}

func play(p l7.Parser, f *l7.FlowInfo, steps []step) (*session, bool) {
	s := p.NewSession(f).(*session)
	ctx := &l7.Context{Flow: f}
	for _, st := range steps {
		if !s.Feed(ctx, st.dir, st.data) {
			return s, false
		}
	}
	return s, true
}

type convTest struct {
	parser  l7.Parser
	flow    *l7.FlowInfo
	steps   []step
	fields  map[string]any
	absent  []string
	summary l7.Summary
	udp     bool // one datagram per step: no chunking
}

func runConv(t *testing.T, tt convTest) {
	t.Helper()
	cs := []chunking{{"datagrams", func(s []step) []step { return s }}}
	if !tt.udp {
		cs = chunkings(tt.steps)
	}
	for _, c := range cs {
		s, ok := play(tt.parser, tt.flow, c.chunk(tt.steps))
		if !ok {
			t.Fatalf("%s: session stopped", c.name)
		}
		got := l7test.Fields(t, s, "outflow.nfs.procedures", "outflow.nfs.operations", "outflow.rpc.procedures")
		for k, v := range tt.fields {
			if !reflect.DeepEqual(got[k], l7test.JSON(v)) {
				t.Fatalf("%s: %s = %v, want %v\nall: %v", c.name, k, got[k], v, got)
			}
		}
		for _, k := range tt.absent {
			if _, ok := got[k]; ok {
				t.Fatalf("%s: %s is set: %v", c.name, k, got[k])
			}
		}
		var sum l7.Summary
		s.Summary(&sum)
		if len(sum.Files) == 0 {
			sum.Files = nil
		}
		if !reflect.DeepEqual(sum, tt.summary) {
			t.Fatalf("%s: summary\n got %+v\nwant %+v", c.name, sum, tt.summary)
		}
	}
}

func TestNFSv3TCP(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	sys := authSys("laptop", 1000, 100)
	root := fh3(1)
	call := func(xid, proc uint32, c cred, args []byte) step {
		return step{C, record(callMsg(xid, progNFS, 3, proc, c, args))}
	}
	rep := func(xid uint32, res []byte) step { return step{S, record(replyMsg(xid, res))} }
	steps := []step{
		call(1, 0, authNone, nil), rep(1, nil),
		call(2, nfs3Lookup, sys, nfs3LookupArgs(root, "report.txt")),
		rep(2, nfs3LookupRes(fh3(2))),
		call(3, nfs3Read, sys, nfs3ReadArgs(fh3(2), 4096)),
		rep(3, nfs3ReadRes(300)),
		call(4, nfs3Create, sys, nfs3CreateArgs(root, "upload.bin")),
		rep(4, nfs3CreateRes(fh3(3))),
		call(5, nfs3Write, sys, nfs3WriteArgs(fh3(3), 1000)),
		// A WRITE in three fragments: the header spans the first two.
		{C, fragments(callMsg(6, progNFS, 3, nfs3Write, sys, nfs3WriteArgs(fh3(3), 500)), 30, 100)},
		rep(5, nfs3WriteRes(1000)), rep(6, nfs3WriteRes(500)),
		// Lookups that fail bind nothing; reads of unknown handles count.
		call(7, nfs3Lookup, sys, nfs3LookupArgs(root, "missing")),
		rep(7, nfs3ErrRes(2)),
		call(8, nfs3Read, sys, nfs3ReadArgs(fh3(9), 50)),
		rep(8, nfs3ReadRes(50)),
		call(9, 1, sys, enc(nil).opaque(root)), // GETATTR
		rep(99, nil),                           // matches no call
		call(10, 1, sys, enc(nil).opaque(root)),
		{S, record(deniedMsg(10))},
		{C, record(callMsg(11, 100227, 3, 0, sys, nil))}, // NFS_ACL NULL on the same port
	}
	runConv(t, convTest{
		parser: NewNFS(), flow: testFlow, steps: steps,
		fields: map[string]any{
			"outflow.rpc.program":           "nfs",
			"outflow.rpc.version":           3,
			"outflow.rpc.auth":              "sys",
			"outflow.rpc.machine":           "laptop",
			"user.id":                       "1000",
			"group.id":                      "100",
			"outflow.rpc.calls":             11,
			"outflow.rpc.replies":           10,
			"outflow.rpc.unmatched_replies": 1,
			"outflow.rpc.denied":            1,
			"outflow.nfs.procedures": map[string]int{
				"NULL": 1, "LOOKUP": 2, "READ": 2, "CREATE": 1, "WRITE": 2, "GETATTR": 2,
			},
			"outflow.rpc.procedures":    map[string]int{"nfs_acl.0": 1},
			"outflow.nfs.bytes_read":    350,
			"outflow.nfs.bytes_written": 1500,
			"outflow.nfs.files":         []string{"report.txt", "upload.bin"},
			"file.name":                 "report.txt",
		},
		absent: []string{"outflow.rpc.encrypted", "outflow.nfs.operations"},
		summary: l7.Summary{
			Protocol: "nfs",
			Files: []l7.FileOp{
				{Op: "READ", Name: "report.txt", Dir: l7.TransferDownload, Bytes: 300},
				{Op: "WRITE", Name: "upload.bin", Dir: l7.TransferUpload, Bytes: 1500},
			},
			Uploaded: 1500, Downloaded: 350,
		},
	})
}

func TestNFSv2UDP(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	sys := authSys("werrmsche", 0, 1)
	dir := fh2(1)
	call := func(xid, proc uint32, args []byte) step {
		return step{C, callMsg(xid, progNFS, 2, proc, sys, args)}
	}
	rep := func(xid uint32, res []byte) step { return step{S, replyMsg(xid, res)} }
	udp := &l7.FlowInfo{Transport: l7.UDP}
	runConv(t, convTest{
		parser: NewNFS(), flow: udp, udp: true,
		steps: []step{
			call(1, nfs2Create, nfs2CreateArgs(dir, "h")), rep(1, nfs2DiropRes(fh2(2))),
			call(2, nfs2Write, nfs2WriteArgs(fh2(2), 17)), rep(2, nfs2DiropRes(nil)),
			call(3, nfs2Lookup, nfs2DiropArgs(dir, "b")), rep(3, nfs2DiropRes(fh2(3))),
			call(4, nfs2Read, nfs2ReadArgs(fh2(3))), rep(4, nfs2ReadRes(11)),
			call(5, 17, nil), // STATFS
		},
		fields: map[string]any{
			"outflow.rpc.version":       2,
			"outflow.nfs.procedures":    map[string]int{"CREATE": 1, "WRITE": 1, "LOOKUP": 1, "READ": 1, "STATFS": 1},
			"outflow.nfs.files":         []string{"h", "b"},
			"outflow.nfs.bytes_read":    11,
			"outflow.nfs.bytes_written": 17,
			"file.name":                 "h",
		},
		summary: l7.Summary{
			Protocol: "nfs",
			Files: []l7.FileOp{
				{Op: "WRITE", Name: "h", Dir: l7.TransferUpload, Bytes: 17},
				{Op: "READ", Name: "b", Dir: l7.TransferDownload, Bytes: 11},
			},
			Uploaded: 17, Downloaded: 11,
		},
	})
}

func TestNFSv4(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	sys := authSys("client4", 0, 0)
	call := func(xid uint32, ops ...[]byte) step {
		return step{C, record(callMsg(xid, progNFS, 4, 1, sys, compound4(1, ops...)))}
	}
	rep := func(xid uint32, res ...[]byte) step { return step{S, record(replyMsg(xid, compound4Res(res...)))} }
	fh := []byte("an opaque v4 handle of 28 byte")
	steps := []step{
		{C, record(callMsg(1, progNFS, 4, 0, authNone, nil))}, {S, record(replyMsg(1, nil))},
		call(2, seq4(), op4(op4Putrootfh), lookup4("export"), open4("new.db", true), op4(op4Getfh), getattr4()),
		rep(2, seq4Res(), res4(op4Putrootfh), res4(op4Lookup), open4Res(), getfh4Res(fh), getattr4Res()),
		call(3, seq4(), putfh4(fh), write4(2000), getattr4()),
		rep(3, seq4Res(), res4(op4Putfh), write4Res(2000), getattr4Res()),
		call(4, seq4(), putfh4(fh), read4()),
		rep(4, seq4Res(), res4(op4Putfh), read4Res(700)),
		// EXCHANGE_ID arguments are not parsed: it is counted, the rest
		// of the compound is not.
		call(5, op4(42).zeros(64), seq4()),
		call(6, seq4(), putfh4(fh), open4("other", false), op4(op4Getfh)),
		rep(6, seq4Res(), res4(op4Putfh), open4Res(), getfh4Res([]byte("other handle"))),
	}
	runConv(t, convTest{
		parser: NewNFS(), flow: testFlow, steps: steps,
		fields: map[string]any{
			"outflow.rpc.version":       4,
			"outflow.nfs.minor_version": 1,
			"outflow.nfs.procedures":    map[string]int{"NULL": 1, "COMPOUND": 5},
			"outflow.nfs.operations": map[string]int{
				"SEQUENCE": 4, "PUTROOTFH": 1, "LOOKUP": 1, "OPEN": 2, "GETFH": 2,
				"GETATTR": 1, "PUTFH": 3, "WRITE": 1, "READ": 1, "EXCHANGE_ID": 1,
			},
			"outflow.nfs.files":         []string{"new.db"},
			"outflow.nfs.bytes_read":    700,
			"outflow.nfs.bytes_written": 2000,
		},
		summary: l7.Summary{
			Protocol: "nfs",
			Files: []l7.FileOp{
				{Op: "WRITE", Name: "new.db", Dir: l7.TransferUpload, Bytes: 2000},
				{Op: "READ", Name: "new.db", Dir: l7.TransferDownload, Bytes: 700},
			},
			Uploaded: 2000, Downloaded: 700,
		},
	})
}

func TestPortmapAndMount(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	runConv(t, convTest{
		parser: NewPortmap(), flow: testFlow,
		steps: []step{
			{C, record(callMsg(1, progPortmap, 2, pmapGetport, authNone, getportArgs(progNFS, 3, 6)))},
			{S, record(replyMsg(1, enc(nil).u32(2049)))},
			{C, record(callMsg(2, progPortmap, 2, pmapGetport, authNone, getportArgs(100021, 4, 17)))},
			{S, record(replyMsg(2, enc(nil).u32(0)))}, // not registered
			{C, record(callMsg(3, progPortmap, 3, pmapGetport, authNone, getaddrArgs(progMount, 3, "udp")))},
			{S, record(replyMsg(3, enc(nil).str("10.0.0.1.78.80")))},
			{C, record(callMsg(4, progPortmap, 4, rpcbGetVers, authNone, getaddrArgs(123456, 1, "tcp6")))},
			{S, record(replyMsg(4, enc(nil).str("fe80::1.3.232")))},
			{C, record(callMsg(5, progPortmap, 2, 4, authNone, nil))}, // DUMP
		},
		fields: map[string]any{
			"outflow.rpc.program":      "portmapper",
			"outflow.rpc.procedures":   map[string]int{"GETPORT": 2, "GETADDR": 1, "GETVERSADDR": 1, "DUMP": 1},
			"outflow.portmap.mappings": []string{"nfs/v3/tcp:2049", "mountd/v3/udp:20048", "123456/v1/tcp:1000"},
		},
		absent:  []string{"outflow.nfs.procedures", "file.name"},
		summary: l7.Summary{Protocol: "portmap"},
	})
	sys := authSys("m", 0, 0)
	runConv(t, convTest{
		parser: NewMountd(), flow: &l7.FlowInfo{Transport: l7.UDP}, udp: true,
		steps: []step{
			{C, callMsg(1, progMount, 3, mountMnt, sys, mntArgs("/export/home"))},
			{S, replyMsg(1, mnt3Res(fh3(1)))},
			{C, callMsg(2, progMount, 3, 5, sys, nil)}, // EXPORT
		},
		fields: map[string]any{
			"outflow.rpc.program":    "mountd",
			"outflow.rpc.procedures": map[string]int{"MNT": 1, "EXPORT": 1},
			"outflow.mountd.paths":   []string{"/export/home"},
		},
		summary: l7.Summary{Protocol: "mountd"},
	})
}

func TestGenericAndGSS(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	runConv(t, convTest{
		parser: NewRPC(), flow: testFlow,
		steps: []step{
			{C, record(callMsg(1, 100021, 4, 7, authSys("h", 5, 5), enc(nil).zeros(40)))}, // NLM4 LOCK
			{S, record(replyMsg(1, enc(nil).u32(0)))},
		},
		fields: map[string]any{
			"outflow.rpc.program":    "nlockmgr",
			"outflow.rpc.procedures": map[string]int{"7": 1},
		},
		summary: l7.Summary{Protocol: "rpc"},
	})
	// krb5i wraps arguments and results in rpc_gss_integ_data; krb5p
	// encrypts them.
	integ := authGSS(gssData, gssIntegrity)
	wrap := func(b []byte) []byte { return enc(nil).u32(uint32(len(b) + 4)).u32(7).raw(b).str("checksum") }
	runConv(t, convTest{
		parser: NewNFS(), flow: testFlow,
		steps: []step{
			{C, record(callMsg(1, progNFS, 3, nfs3Lookup, integ, wrap(nfs3LookupArgs(fh3(1), "k.txt"))))},
			{S, record(replyMsg(1, wrap(nfs3LookupRes(fh3(2)))))},
			{C, record(callMsg(2, progNFS, 3, nfs3Read, integ, wrap(nfs3ReadArgs(fh3(2), 10))))},
			{S, record(replyMsg(2, wrap(nfs3ReadRes(10))))},
			{C, record(callMsg(3, progNFS, 3, nfs3Write, authGSS(gssData, gssPrivacy), data(64)))},
			{C, record(callMsg(4, progNFS, 3, 0, authGSS(1, 1), data(32)))}, // RPCSEC_GSS_INIT
		},
		fields: map[string]any{
			"outflow.rpc.auth":        "rpcsec_gss",
			"outflow.rpc.gss_service": "none",
			"outflow.rpc.encrypted":   true,
			"outflow.nfs.files":       []string{"k.txt"},
		},
		summary: l7.Summary{
			Protocol: "nfs", Encrypted: true,
			Files:      []l7.FileOp{{Op: "READ", Name: "k.txt", Dir: l7.TransferDownload, Bytes: 10}},
			Downloaded: 10,
		},
	})
}

func TestProbe(t *testing.T) {
	nfs, mnt, pm, gen := NewNFS(), NewMountd(), NewPortmap(), NewRPC()
	nfsCall := callMsg(1, progNFS, 3, 0, authNone, nil)
	udp := &l7.FlowInfo{Transport: l7.UDP}
	tcp := &l7.FlowInfo{Transport: l7.TCP}
	tests := []struct {
		name string
		f    *l7.FlowInfo
		data []byte
		want [4]l7.Verdict // nfs, mountd, portmap, rpc
	}{
		{"nfs call tcp", tcp, record(nfsCall), [4]l7.Verdict{l7.VerdictYes, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"nfs call udp", udp, nfsCall, [4]l7.Verdict{l7.VerdictYes, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"mount call", udp, callMsg(1, progMount, 3, 1, authNone, mntArgs("/")), [4]l7.Verdict{l7.VerdictNo, l7.VerdictYes, l7.VerdictNo, l7.VerdictNo}},
		{"getport", tcp, record(callMsg(1, progPortmap, 2, 3, authNone, getportArgs(1, 2, 6))), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictYes, l7.VerdictNo}},
		{"nlm", udp, callMsg(1, 100021, 4, 2, authSys("x", 1, 1), nil), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictYes}},
		{"reply", udp, replyMsg(5, nil), [4]l7.Verdict{l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe}},
		{"partial record", tcp, record(nfsCall)[:14], [4]l7.Verdict{l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe}},
		{"partial mark", tcp, []byte{0x80, 0}, [4]l7.Verdict{l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe, l7.VerdictMaybe}},
		{"nfs v5", udp, callMsg(1, progNFS, 5, 0, authNone, nil), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"nfs v3 proc 22", udp, callMsg(1, progNFS, 3, 22, authNone, nil), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"rpc version 3", udp, func() []byte { b := cat(nfsCall); b[11] = 3; return b }(), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"bad flavor", udp, callMsg(1, progNFS, 3, 0, cred{flavor: 99}, nil), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"huge fragment", tcp, cat([]byte{0xff, 0xff, 0xff, 0xff}, nfsCall), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"tiny fragment", tcp, cat([]byte{0x80, 0, 0, 4}, nfsCall), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"http", tcp, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
		{"dns", udp, []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www"), [4]l7.Verdict{l7.VerdictNo, l7.VerdictNo, l7.VerdictNo, l7.VerdictNo}},
	}
	for _, tt := range tests {
		for i, p := range []l7.Parser{nfs, mnt, pm, gen} {
			if got := p.Probe(tt.f, l7.FromClient, tt.data); got != tt.want[i] {
				t.Errorf("%s: %s Probe = %v, want %v", tt.name, p.Name(), got, tt.want[i])
			}
		}
	}
}

func TestHostile(t *testing.T) {
	C := l7.FromClient
	ctx := &l7.Context{}
	sys := authSys("m", 0, 0)
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"fragment of 0x7fffffff", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, false},
		{"fragment just over the limit", enc(nil).u32(maxFrag + 1), false},
		{"endless empty fragments", bytes.Repeat([]byte{0, 0, 0, 0}, maxEmptyFrags+1), false},
		{"empty last fragments", bytes.Repeat([]byte{0x80, 0, 0, 0}, maxEmptyFrags), true},
		{"unknown message type", record(enc(nil).u32(1).u32(7).zeros(40)), false},
		{"rpc version 3", record(func() []byte { b := callMsg(1, progNFS, 3, 0, authNone, nil); b[11] = 3; return b }()), false},
		{"credential over 400 bytes", record(callMsg(1, progNFS, 3, 0, cred{1, make([]byte, 404)}, nil)), false},
		{"credential length past the record", record(enc(nil).u32(1).u32(0).u32(2).u32(progNFS).u32(3).u32(0).u32(1).u32(300)), true},
		{"truncated header", record(enc(nil).u32(1).u32(0).u32(2)), true},
		{"compound with 2^32-1 ops", record(callMsg(1, progNFS, 4, 1, sys, enc(nil).str("t").u32(0).u32(0xffffffff).u32(op4Getfh))), true},
		{"name of 2^32-1 bytes", record(callMsg(1, progNFS, 3, nfs3Lookup, sys, enc(nil).opaque(fh3(1)).u32(0xffffffff))), true},
		{"handle over 64 bytes", record(callMsg(1, progNFS, 3, nfs3Read, sys, enc(nil).opaque(make([]byte, 65)))), true},
		{"write data of 2^32-1 bytes", record(callMsg(1, progNFS, 3, nfs3Write, sys, enc(nil).opaque(fh3(1)).u64(0).u32(1).u32(0).u32(0xffffffff))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []chunking{{"whole", func(s []step) []step { return s }}, {"bytewise", bytewise}} {
				s := NewNFS().NewSession(testFlow).(*session)
				ok := true
				for _, st := range c.chunk([]step{{C, tt.data}}) {
					if ok = s.Feed(ctx, C, st.data); !ok {
						break
					}
				}
				if ok != tt.ok {
					t.Fatalf("%s: Feed ok = %v, want %v", c.name, ok, tt.ok)
				}
				if ok && s.bytesWritten != 0 {
					t.Fatalf("%s: hostile lengths counted as data: %d", c.name, s.bytesWritten)
				}
			}
		})
	}

	t.Run("udp garbage", func(t *testing.T) {
		s := NewNFS().NewSession(&l7.FlowInfo{Transport: l7.UDP}).(*session)
		for _, d := range [][]byte{nil, {1}, enc(nil).u32(1).u32(1), replyMsg(1, nil)[:10]} {
			if !s.Feed(ctx, C, d) {
				t.Fatalf("datagram %x stopped the session", d)
			}
		}
		if s.Feed(ctx, C, enc(nil).u32(1).u32(9)) {
			t.Fatal("a non-RPC datagram was accepted")
		}
	})

	t.Run("tables stay bounded", func(t *testing.T) {
		s := NewNFS().NewSession(testFlow).(*session)
		for i := 0; i < 1000; i++ {
			name := fmt.Sprintf("f%d", i)
			xid := uint32(i)
			s.Feed(ctx, C, record(callMsg(xid, progNFS, 3, nfs3Lookup, sys, nfs3LookupArgs(fh3(1), name))))
			s.Feed(ctx, l7.FromServer, record(replyMsg(xid, nfs3LookupRes([]byte(name)))))
			s.Feed(ctx, C, record(callMsg(5000+xid, progNFS, 3, nfs3Write, sys, nfs3WriteArgs([]byte(name), 3))))
			s.Feed(ctx, C, record(callMsg(9000+xid, progNFS, 3, 1, sys, nil))) // never answered
		}
		if len(s.pending.ents) != maxPending || s.pending.evicted == 0 {
			t.Fatalf("pending %d evicted %d", len(s.pending.ents), s.pending.evicted)
		}
		if s.files.evicted != 1000-maxFiles {
			t.Fatalf("file table evicted %d", s.files.evicted)
		}
		if s.ops.n != l7.MaxFileOps || s.ops.dropped == 0 || s.names.n != maxNames || s.bytesWritten != 3000 {
			t.Fatalf("ops %d dropped %d names %d written %d", s.ops.n, s.ops.dropped, s.names.n, s.bytesWritten)
		}
		for _, st := range s.dirs {
			if cap(st.buf) > 2*maxUnit {
				t.Fatalf("buffer grew to %d", cap(st.buf))
			}
		}
	})
}

func TestGap(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	ctx := &l7.Context{}
	sys := authSys("m", 0, 0)
	setup := []step{
		{C, record(callMsg(1, progNFS, 3, nfs3Create, sys, nfs3CreateArgs(fh3(1), "a")))},
		{S, record(replyMsg(1, nfs3CreateRes(fh3(2))))},
	}
	w := record(callMsg(2, progNFS, 3, nfs3Write, sys, nfs3WriteArgs(fh3(2), 5000)))
	next := record(callMsg(3, progNFS, 3, nfs3Write, sys, nfs3WriteArgs(fh3(2), 7)))

	t.Run("inside a fragment keeps framing", func(t *testing.T) {
		s, _ := play(NewNFS(), testFlow, setup)
		s.Feed(ctx, C, w[:300])
		s.Gap(ctx, C, 2000)
		s.Feed(ctx, C, w[2300:])
		s.Feed(ctx, C, next)
		if s.bytesWritten != 5007 || s.dirs[0].state != stMark {
			t.Fatalf("written %d state %d", s.bytesWritten, s.dirs[0].state)
		}
	})
	t.Run("across records resyncs on a call", func(t *testing.T) {
		s, _ := play(NewNFS(), testFlow, setup)
		s.Feed(ctx, C, w[:300])
		s.Gap(ctx, C, len(w)) // the rest of w and part of a lost record
		s.Feed(ctx, C, []byte("junk\x00\x00\x00\x00\x00\x00\x00"))
		s.Feed(ctx, C, next[:9])
		s.Feed(ctx, C, next[9:])
		if s.bytesWritten != 5007 || s.dirs[0].state != stMark {
			t.Fatalf("written %d state %d", s.bytesWritten, s.dirs[0].state)
		}
	})
	t.Run("reply resync needs a pending xid", func(t *testing.T) {
		s, _ := play(NewNFS(), testFlow, setup)
		s.Feed(ctx, C, record(callMsg(4, progNFS, 3, nfs3Read, sys, nfs3ReadArgs(fh3(2), 100))))
		s.Gap(ctx, S, 10)
		s.Feed(ctx, S, record(replyMsg(77, nfs3ReadRes(30)))) // unknown xid: skipped
		s.Feed(ctx, S, record(replyMsg(4, nfs3ReadRes(100))))
		if s.bytesRead != 100 {
			t.Fatalf("read %d", s.bytesRead)
		}
	})
	t.Run("resync gives up", func(t *testing.T) {
		s, _ := play(NewNFS(), testFlow, setup)
		s.Gap(ctx, C, 1)
		junk := make([]byte, 64<<10)
		more := true
		for i := 0; i < 2*maxResync/len(junk) && more; i++ {
			more = s.Feed(ctx, C, junk)
		}
		if more {
			t.Fatal("resync scanned without limit")
		}
	})
}

func TestUaddrPort(t *testing.T) {
	tests := []struct {
		in   string
		port uint32
		ok   bool
	}{
		{"10.0.0.1.8.1", 2049, true},
		{"::1.0.111", 111, true},
		{"", 0, false},
		{"1.2", 0, false},
		{"10.0.0.1.300.1", 0, false},
		{"a.b.c", 0, false},
	}
	for _, tt := range tests {
		if p, ok := uaddrPort([]byte(tt.in)); p != tt.port || ok != tt.ok {
			t.Errorf("uaddrPort(%q) = %d, %v", tt.in, p, ok)
		}
	}
}

func fuzzSeeds() (client, server []byte) {
	sys := authSys("m", 1, 1)
	fh := []byte("v4 handle")
	client = cat(
		record(callMsg(1, progNFS, 3, nfs3Lookup, sys, nfs3LookupArgs(fh3(1), "x"))),
		fragments(callMsg(2, progNFS, 3, nfs3Write, sys, nfs3WriteArgs(fh3(2), 40)), 20),
		record(callMsg(3, progNFS, 4, 1, sys, compound4(2, seq4(), putfh4(fh), open4("o", true), op4(op4Getfh), write4(9)))),
		record(callMsg(4, progPortmap, 2, 3, authNone, getportArgs(progNFS, 3, 6))),
	)
	server = cat(
		record(replyMsg(1, nfs3LookupRes(fh3(2)))),
		record(replyMsg(3, compound4Res(seq4Res(), res4(op4Putfh), open4Res(), getfh4Res(fh), read4Res(3)))),
		record(replyMsg(4, enc(nil).u32(2049))),
	)
	return client, server
}

func FuzzSession(f *testing.F) {
	c, s := fuzzSeeds()
	f.Add(c, s, int64(1))
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64) {
		r := rand.New(rand.NewSource(seed))
		p := Parsers()[r.Intn(4)]
		p.Probe(testFlow, l7.FromClient, client)
		p.Probe(testFlow, l7.FromServer, server)
		s := p.NewSession(testFlow).(*session)
		ctx := &l7.Context{Flow: testFlow}
		for len(client) > 0 || len(server) > 0 {
			dir := l7.Dir(r.Intn(2))
			b := &client
			if dir == l7.FromServer {
				b = &server
			}
			n := min(len(*b), r.Intn(100))
			var ok bool
			if r.Intn(50) == 0 {
				ok = s.Gap(ctx, dir, n)
			} else {
				ok = s.Feed(ctx, dir, (*b)[:n])
			}
			if !ok {
				break
			}
			*b = (*b)[n:]
		}
		checkBounded(t, s)
	})
}

func FuzzDatagram(f *testing.F) {
	c, s := fuzzSeeds()
	f.Add(c[4:], s[4:])
	f.Add(callMsg(1, progMount, 3, 1, authNone, mntArgs("/")), replyMsg(1, mnt3Res(fh3(1))))
	f.Fuzz(func(t *testing.T, call, reply []byte) {
		udp := &l7.FlowInfo{Transport: l7.UDP}
		for _, p := range Parsers() {
			p.Probe(udp, l7.FromClient, call)
			p.Probe(udp, l7.FromServer, reply)
		}
		s := NewNFS().NewSession(udp).(*session)
		ctx := &l7.Context{Flow: udp}
		if s.Feed(ctx, l7.FromClient, call) {
			s.Feed(ctx, l7.FromServer, reply)
		}
		checkBounded(t, s)
	})
}

func checkBounded(t *testing.T, s *session) {
	for _, st := range s.dirs {
		if cap(st.buf) > 2*maxUnit {
			t.Fatalf("buffer grew to %d", cap(st.buf))
		}
	}
	if len(s.pending.ents) > maxPending || s.names.n > maxNames || s.ops.n > l7.MaxFileOps {
		t.Fatal("unbounded tables")
	}
	var d ecs.Doc
	s.Fields(&d)
	if !json.Valid(d.AppendJSON(nil)) {
		t.Fatalf("invalid JSON: %s", d.AppendJSON(nil))
	}
	var sum l7.Summary
	s.Summary(&sum)
}

// BenchmarkFeedWrite feeds NFSv3 WRITE calls to a known file in 1448-byte
// segments, with 64 KiB and 4 KiB writes.
func BenchmarkFeedWrite(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ctx := &l7.Context{}
			sys := authSys("bench", 1000, 1000)
			s, _ := play(NewNFS(), testFlow, []step{
				{l7.FromClient, record(callMsg(1, progNFS, 3, nfs3Create, sys, nfs3CreateArgs(fh3(1), "big.tar")))},
				{l7.FromServer, record(replyMsg(1, nfs3CreateRes(fh3(2))))},
			})
			var stream []byte
			for i := 0; len(stream) < 1<<20; i++ {
				stream = append(stream, record(callMsg(uint32(10+i), progNFS, 3, nfs3Write, sys, nfs3WriteArgs(fh3(2), size)))...)
			}
			const seg = 1448
			var chunks [][]byte
			for i := 0; i < len(stream); i += seg {
				chunks = append(chunks, stream[i:min(i+seg, len(stream))])
			}
			for _, c := range chunks {
				s.Feed(ctx, l7.FromClient, c)
			}
			b.SetBytes(seg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !s.Feed(ctx, l7.FromClient, chunks[i%len(chunks)]) {
					b.Fatal("stopped")
				}
			}
			b.StopTimer()
			if s.ops.ops[0].Bytes == 0 {
				b.Fatal("no bytes attributed")
			}
		})
	}
}
