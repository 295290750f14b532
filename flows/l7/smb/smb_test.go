package smb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
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

// chunking is one way of cutting a conversation into Feed calls. Steps stay
// in order; only their cutting and merging changes.
type chunking struct {
	name  string
	chunk func(steps []step) []step
}

func whole(steps []step) []step { return steps }

func bytewise(steps []step) []step {
	var out []step
	for _, s := range steps {
		for i := range s.data {
			out = append(out, step{s.dir, s.data[i : i+1]})
		}
	}
	return out
}

// merged joins consecutive steps of the same direction, so that one Feed
// carries several messages.
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

// cutAt splits the step holding global offset k (over all steps) at k.
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
				n := min(len(d), 1+r.Intn(200))
				out = append(out, step{s.dir, d[:n]})
				d = d[n:]
			}
		}
		return out
	}
}

// chunkings lists the cuttings every conversation test runs: whole steps,
// merged steps, random chunks, one byte per Feed, and a single cut at every
// offset of the conversation (only for conversations up to maxCutAll bytes).
func chunkings(steps []step) []chunking {
	cs := []chunking{
		{"whole", whole}, {"merged", merged}, {"bytewise", bytewise},
		{"random1", randomChunks(1)}, {"random2", randomChunks(2)},
	}
	total := 0
	for _, s := range steps {
		total += len(s.data)
	}
	const maxCutAll = 8 << 10
	if total <= maxCutAll {
		for k := 1; k < total; k++ {
			cs = append(cs, chunking{fmt.Sprintf("cut%d", k), func(s []step) []step { return cutAt(s, k) }})
		}
	}
	return cs
}

func play(steps []step) (*session, bool) {
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP}).(*session)
	ctx := &l7.Context{}
	for _, st := range steps {
		if !s.Feed(ctx, st.dir, st.data) {
			return s, false
		}
	}
	return s, true
}

type convTest struct {
	name    string
	steps   []step
	fields  map[string]any
	absent  []string
	summary l7.Summary
}

func runConv(t *testing.T, tt convTest) {
	t.Helper()
	for _, c := range chunkings(tt.steps) {
		s, ok := play(c.chunk(tt.steps))
		if !ok {
			t.Fatalf("%s: session stopped", c.name)
		}
		got := l7test.Fields(t, s, "outflow.smb.commands")
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

var allOnes = fileID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func TestSMB2Conversation(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	const moreProcessing = 0xc0000016
	const endOfFile = 0xc0000011
	steps := []step{
		{C, nbss(negotiateReq(0, 0x0202, 0x0210, 0x0300, 0x0302, 0x0311))},
		{S, nbss(negotiateResp(0, 0x0311))},
		{C, nbss(sessionSetupReq(1, spnegoWrap(ntlmAuthenticate("CORP", "alice", "WS1"))))},
		{S, nbss(errorResp(smb2SessionSetup, 1, moreProcessing))},
		{C, nbss(treeConnectReq(2, `\\srv\share`))},
		{C, nbss(createReq(3, `dir\secret.docx`))},
		{S, nbss(createResp(3, fid(1)))},
		{C, nbss(writeReq(4, fid(1), 300))},
		{C, nbss(writeReq(5, fid(1), 200))},
		{S, cat(nbss(writeResp(4, 300)), nbss(writeResp(5, 200)))},
		// A related compound: CREATE, then READ and CLOSE of "the file just
		// opened" (FileId all ones, [MS-SMB2] 3.2.4.1.4).
		{C, nbss(compound(true, createReq(6, `report.pdf`), readReq(7, allOnes, 1000), closeReq(8, allOnes)))},
		{S, nbss(compound(true, createResp(6, fid(2)), readResp(7, 123), closeResp(8)))},
		{C, nbControl(nbKeepalive, nil)},
		{C, nbss(readReq(9, fid(1), 50))},
		{S, cat(nbss(pendingResp(smb2Read, 9)), nbss(readResp(9, 50)))},
		{C, nbss(readReq(10, fid(1), 50))},
		{S, nbss(errorResp(smb2Read, 10, endOfFile))},
		{C, nbss(closeReq(11, fid(1)))},
		// After CLOSE the FileId means nothing: bytes count, no file.
		{C, nbss(writeReq(12, fid(1), 10))},
		{C, nbss(createReq(13, ``))},
	}
	runConv(t, convTest{
		steps: steps,
		fields: map[string]any{
			"outflow.smb.version":         "3",
			"outflow.smb.dialect":         "3.1.1",
			"outflow.smb.client_dialects": []string{"2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"},
			"user.name":                   "alice",
			"user.domain":                 "CORP",
			"outflow.smb.shares":          []string{`\\srv\share`},
			"outflow.smb.files":           []string{`dir\secret.docx`, `report.pdf`},
			"file.path":                   `dir\secret.docx`,
			"file.name":                   `secret.docx`,
			"outflow.smb.bytes_written":   510,
			"outflow.smb.bytes_read":      173,
			"outflow.smb.commands": map[string]int{
				"NEGOTIATE": 1, "SESSION_SETUP": 1, "TREE_CONNECT": 1,
				"CREATE": 3, "WRITE": 3, "READ": 3, "CLOSE": 2,
			},
		},
		absent: []string{"outflow.smb.encrypted"},
		summary: l7.Summary{
			Protocol: "smb", User: "alice",
			Files: []l7.FileOp{
				{Op: "WRITE", Name: `dir\secret.docx`, Dir: l7.TransferUpload, Bytes: 500},
				{Op: "READ", Name: `report.pdf`, Dir: l7.TransferDownload, Bytes: 123},
				{Op: "READ", Name: `dir\secret.docx`, Dir: l7.TransferDownload, Bytes: 50},
			},
			Uploaded: 510, Downloaded: 173,
		},
	})
}

func TestSMB1Conversation(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	// SESSION_SETUP_ANDX chained to TREE_CONNECT_ANDX in one message.
	ss := smb1SessionSetupPlain(2, "bob", "WORKGROUP", 0xff, 0)
	ss = smb1SessionSetupPlain(2, "bob", "WORKGROUP", smb1TreeConnect, uint16(len(ss)))
	ss = append(ss, smb1TreeConnectBlock(`\\FILESRV\DOCS`, len(ss))...)
	steps := []step{
		{C, nbControl(nbRequest, cat(nbEncode("FILESRV", 0x20), nbEncode("LAPTOP", 0)))},
		{S, nbControl(nbPositive, nil)},
		{C, nbss(smb1NegotiateReqMsg(1, "PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"))},
		{S, nbss(smb1NegotiateRespMsg(1, 2))},
		{C, nbss(ss)},
		{C, nbss(smb1NTCreateReq(3, `\reports\q3.xls`))},
		{S, nbss(smb1NTCreateResp(3, 0x4001))},
		{C, nbss(smb1WriteAndXMsg(4, 0x4001, 300))},
		{C, nbss(smb1ReadAndXReqMsg(5, 0x4001))},
		{S, nbss(smb1ReadAndXRespMsg(5, 120))},
		{C, nbControl(nbKeepalive, nil)},
	}
	runConv(t, convTest{
		steps: steps,
		fields: map[string]any{
			"outflow.smb.version":         "1",
			"outflow.smb.dialect":         "NT LM 0.12",
			"outflow.smb.client_dialects": []string{"PC NETWORK PROGRAM 1.0", "LANMAN1.0", "NT LM 0.12"},
			"outflow.smb.netbios_name":    "FILESRV",
			"user.name":                   "bob",
			"user.domain":                 "WORKGROUP",
			"outflow.smb.shares":          []string{`\\FILESRV\DOCS`},
			"outflow.smb.files":           []string{`\reports\q3.xls`},
			"file.name":                   "q3.xls",
			"outflow.smb.bytes_written":   300,
			"outflow.smb.bytes_read":      120,
			"outflow.smb.commands": map[string]int{
				"SMB_COM_NEGOTIATE": 1, "SMB_COM_SESSION_SETUP_ANDX": 1, "SMB_COM_TREE_CONNECT_ANDX": 1,
				"SMB_COM_NT_CREATE_ANDX": 1, "SMB_COM_WRITE_ANDX": 1, "SMB_COM_READ_ANDX": 1,
			},
		},
		summary: l7.Summary{
			Protocol: "smb", User: "bob",
			Files: []l7.FileOp{
				{Op: "WRITE", Name: `\reports\q3.xls`, Dir: l7.TransferUpload, Bytes: 300},
				{Op: "READ", Name: `\reports\q3.xls`, Dir: l7.TransferDownload, Bytes: 120},
			},
			Uploaded: 300, Downloaded: 120,
		},
	})
}

// TestLargeTransfers checks the 32-bit SMB2 lengths and the SMB1 high words
// (CAP_LARGE_READX/WRITEX) with payloads far beyond the buffer limit.
func TestLargeTransfers(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	const big = 1<<20 + 17
	steps := []step{
		{C, nbss(createReq(1, `big.iso`))},
		{S, nbss(createResp(1, fid(7)))},
		{C, nbss(writeReq(2, fid(7), big))},
		{C, nbss(readReq(3, fid(7), big))},
		{S, nbss(readResp(3, big))},
		{C, nbss(smb1NTCreateReq(4, `old.bin`))},
		{S, nbss(smb1NTCreateResp(4, 9))},
		{C, nbss(smb1WriteAndXMsg(5, 9, 70000))},
		{C, nbss(smb1ReadAndXReqMsg(6, 9))},
		{S, nbss(smb1ReadAndXRespMsg(6, 65536+100))},
	}
	for _, c := range []chunking{{"whole", whole}, {"random", randomChunks(3)}} {
		s, ok := play(c.chunk(steps))
		if !ok {
			t.Fatalf("%s: stopped", c.name)
		}
		if s.bytesWritten != big+70000 || s.bytesRead != big+65636 {
			t.Fatalf("%s: written %d read %d", c.name, s.bytesWritten, s.bytesRead)
		}
		for _, st := range s.dirs {
			if cap(st.buf) > 2*maxUnit {
				t.Fatalf("%s: buffer grew to %d", c.name, cap(st.buf))
			}
		}
	}
}

func TestEncryptedAndCompressed(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	runConv(t, convTest{
		steps: []step{
			{C, nbss(negotiateReq(0, 0x0311))},
			{S, nbss(negotiateResp(0, 0x0300))},
			{C, nbss(transform(100))},
			{S, nbss(transform(40))},
			{S, nbss(compressed(30))},
		},
		fields: map[string]any{
			"outflow.smb.version":         "3",
			"outflow.smb.dialect":         "3.0",
			"outflow.smb.encrypted":       true,
			"outflow.smb.encrypted_bytes": 2*transformLen + 140,
			"outflow.smb.compressed":      true,
		},
		summary: l7.Summary{Protocol: "smb", Encrypted: true},
	})
}

func TestProbe(t *testing.T) {
	p := New()
	neg := nbss(negotiateReq(0, 0x0202))
	tests := []struct {
		name string
		data []byte
		want l7.Verdict
	}{
		{"smb2 negotiate", neg, l7.VerdictYes},
		{"smb2 header start", neg[:9], l7.VerdictMaybe},
		{"smb1 negotiate", nbss(smb1NegotiateReqMsg(1, "NT LM 0.12")), l7.VerdictYes},
		{"encrypted", nbss(transform(10)), l7.VerdictYes},
		{"session request", nbControl(nbRequest, cat(nbEncode("SRV", 0x20), nbEncode("CL", 0))), l7.VerdictYes},
		{"session request start", nbControl(nbRequest, cat(nbEncode("SRV", 0x20), nbEncode("CL", 0)))[:8], l7.VerdictMaybe},
		{"keepalive then smb2", cat(nbControl(nbKeepalive, nil), neg), l7.VerdictYes},
		{"positive response alone", nbControl(nbPositive, nil), l7.VerdictMaybe},
		{"negative response", nbControl(nbNegative, []byte{0x82}), l7.VerdictYes},
		{"empty", nil, l7.VerdictMaybe},
		{"three bytes", []byte{0, 0, 1}, l7.VerdictMaybe},
		{"http", []byte("GET / HTTP/1.1\r\n"), l7.VerdictNo},
		{"tls", []byte{0x16, 3, 1, 0, 200, 1}, l7.VerdictNo},
		{"zero length", []byte{0, 0, 0, 0, 0xfe, 'S'}, l7.VerdictNo},
		{"bad magic", []byte{0, 0, 1, 0, 0xfe, 'S', 'M', 'C'}, l7.VerdictNo},
		{"bad structure size", func() []byte { b := cat(neg); b[8] = 65; return b }(), l7.VerdictNo},
		{"smb2 too short", []byte{0, 0, 0, 40, 0xfe, 'S', 'M', 'B', 64, 0}, l7.VerdictNo},
		{"session request bad name", nbControl(nbRequest, make([]byte, 68)), l7.VerdictNo},
		{"keepalive with body", nbControl(nbKeepalive, []byte{1}), l7.VerdictNo},
		{"unknown type", []byte{0x86, 0, 0, 0}, l7.VerdictNo},
	}
	for _, tt := range tests {
		if got := p.Probe(&l7.FlowInfo{}, l7.FromClient, tt.data); got != tt.want {
			t.Errorf("%s: Probe = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestGap(t *testing.T) {
	C, S := l7.FromClient, l7.FromServer
	ctx := &l7.Context{}
	setup := []step{
		{C, nbss(createReq(1, `a.txt`))},
		{S, nbss(createResp(1, fid(1)))},
	}
	w := nbss(writeReq(2, fid(1), 5000))
	after := nbss(writeReq(3, fid(1), 7))

	t.Run("inside payload keeps framing", func(t *testing.T) {
		s, _ := play(setup)
		s.Feed(ctx, C, w[:200])
		if !s.Gap(ctx, C, 1000) {
			t.Fatal("Gap stopped")
		}
		s.Feed(ctx, C, w[1200:])
		s.Feed(ctx, C, after)
		if s.bytesWritten != 5007 || s.dirs[0].state != stHeader {
			t.Fatalf("written %d state %d", s.bytesWritten, s.dirs[0].state)
		}
	})
	t.Run("inside header skips the message", func(t *testing.T) {
		s, _ := play(setup)
		s.Feed(ctx, C, w[:10])
		s.Gap(ctx, C, 60)
		s.Feed(ctx, C, w[70:])
		s.Feed(ctx, C, after)
		if s.bytesWritten != 7 {
			t.Fatalf("written %d", s.bytesWritten)
		}
	})
	t.Run("across messages resyncs", func(t *testing.T) {
		s, _ := play(setup)
		s.Feed(ctx, C, w[:300])
		s.Gap(ctx, C, len(w)) // the rest of w and the start of the next message
		next := nbss(writeReq(4, fid(1), 100))
		s.Feed(ctx, C, next[10:]) // lost its first 10 bytes too
		if s.dirs[0].state != stResync {
			t.Fatalf("state %d, want resync", s.dirs[0].state)
		}
		// Random bytes, then a whole message split in two.
		s.Feed(ctx, C, []byte("\x00\x01\x02garbage\xfe"))
		s.Feed(ctx, C, after[:6])
		s.Feed(ctx, C, after[6:])
		// w's header was parsed before the gap, so its 5000 bytes count.
		if s.bytesWritten != 5007 || s.dirs[0].state != stHeader {
			t.Fatalf("written %d state %d", s.bytesWritten, s.dirs[0].state)
		}
	})
	t.Run("resync gives up", func(t *testing.T) {
		s, _ := play(setup)
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

func TestHostile(t *testing.T) {
	C := l7.FromClient
	ctx := &l7.Context{}
	elem := func(next uint32) []byte {
		return smb2Msg(hdr2{cmd: 13, next: next}, []byte{4, 0, 0, 0}) // ECHO
	}
	// A compound element must start past the current header.
	chain := func(n int, next uint32) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			e := elem(next)
			for len(e) < int(next) {
				e = append(e, 0)
			}
			b = append(b, e...)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		ok   bool // the session keeps going
	}{
		{"32 elements", nbss(chain(31, 72), elem(0)), true},
		{"33 elements", nbss(chain(32, 72), elem(0)), false},
		{"next command inside the header", nbss(elem(32), elem(0)), false},
		{"next command of 1", nbss(elem(1)), false},
		{"next command past the message", nbss(elem(1000)), false},
		{"next command at the message end", nbss(elem(68)), false},
		{"truncated smb2 header", nbss([]byte("\xfeSMB\x40\x00\x00\x00")), false},
		{"truncated smb1 header", nbss([]byte("\xffSMB\x72\x00")), true},
		{"truncated transform", nbss([]byte("\xfdSMB\x00\x00")), false},
		{"message too short for magic", nbss([]byte{0xfe, 'S'}), false},
		{"unknown protocol", nbss([]byte("\xfaSMB12345678")), false},
		{"unknown nb type", []byte{0x99, 0, 0, 0}, false},
		{"huge keepalive", []byte{nbKeepalive, 0xff, 0xff, 0xff}, false},
		{"bad structure size", func() []byte { b := nbss(elem(0)); b[8] = 0; return b }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []chunking{{"whole", whole}, {"bytewise", bytewise}} {
				s := New().NewSession(&l7.FlowInfo{}).(*session)
				ok := true
				for _, st := range c.chunk([]step{{C, tt.data}}) {
					if ok = s.Feed(ctx, C, st.data); !ok {
						break
					}
				}
				if ok != tt.ok {
					t.Fatalf("%s: Feed ok = %v, want %v", c.name, ok, tt.ok)
				}
				if !ok && s.Feed(ctx, C, nbss(elem(0))) {
					t.Fatalf("%s: a stopped session accepted more data", c.name)
				}
			}
		})
	}

	t.Run("huge lengths are skipped, not buffered", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{}).(*session)
		// A 16 MiB message whose CREATE names a 64 KiB name and a session
		// setup whose blob claims 64 KiB.
		m := createReq(1, "x")
		le.PutUint16(m[smb2HeaderLen+44:], 0xfff0)
		le.PutUint16(m[smb2HeaderLen+46:], 0xffff)
		b := []byte{0, 0xff, 0xff, 0xff}
		b = append(b, m...)
		s.Feed(ctx, C, b)
		for i := 0; i < 300; i++ {
			s.Feed(ctx, C, make([]byte, 64<<10))
		}
		if cap(s.dirs[0].buf) > 2*maxUnit {
			t.Fatalf("buffer grew to %d", cap(s.dirs[0].buf))
		}
		ss := sessionSetupReq(2, nil)
		le.PutUint16(ss[smb2HeaderLen+12:], 0xffff)
		le.PutUint16(ss[smb2HeaderLen+14:], 0xffff)
		s2 := New().NewSession(&l7.FlowInfo{}).(*session)
		if !s2.Feed(ctx, C, nbss(ss)) || !s2.Feed(ctx, C, nbss(elem(0))) {
			t.Fatal("blob outside the message stopped the session")
		}
	})

	t.Run("tables stay bounded", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{}).(*session)
		var b []byte
		for i := 0; i < 500; i++ {
			id := fileID{byte(i), byte(i >> 8)}
			b = append(b, nbss(createReq(uint64(i), fmt.Sprintf("f%d", i)))...)
			s.Feed(ctx, C, b)
			b = b[:0]
			s.Feed(ctx, l7.FromServer, nbss(createResp(uint64(i), id)))
			s.Feed(ctx, C, nbss(writeReq(uint64(1000+i), id, 3)))
			s.Feed(ctx, C, nbss(readReq(uint64(2000+i), id, 3))) // never answered
			s.Feed(ctx, C, nbss(treeConnectReq(uint64(3000+i), fmt.Sprintf(`\\s\%d`, i))))
		}
		if s.names.n != maxNames || s.names.dropped != 500-maxNames {
			t.Fatalf("names %d dropped %d", s.names.n, s.names.dropped)
		}
		if s.ops.n != l7.MaxFileOps || s.ops.dropped != 500-l7.MaxFileOps {
			t.Fatalf("ops %d dropped %d", s.ops.n, s.ops.dropped)
		}
		if s.nShares != maxShares || s.files.evicted != 500-maxFiles || s.bytesWritten != 1500 {
			t.Fatalf("shares %d evicted %d written %d", s.nShares, s.files.evicted, s.bytesWritten)
		}
		var sum l7.Summary
		s.Summary(&sum)
		if len(sum.Files) != l7.MaxFileOps || sum.FilesDropped != 500-l7.MaxFileOps {
			t.Fatalf("summary files %d dropped %d", len(sum.Files), sum.FilesDropped)
		}
	})
}

func TestNTLMAuth(t *testing.T) {
	auth := ntlmAuthenticate("CORP", "alice", "WS1")
	oem := cat(auth)
	le.PutUint32(oem[60:], 0x200) // no NTLMSSP_NEGOTIATE_UNICODE
	oem = append(oem[:88], "DOMbob"...)
	le.PutUint16(oem[28:], 3) // domain: 3 bytes at 88
	le.PutUint32(oem[32:], 88)
	le.PutUint16(oem[36:], 3) // user: 3 bytes at 91
	le.PutUint32(oem[40:], 91)
	bad := cat(auth)
	le.PutUint32(bad[40:], 5000) // user offset past the blob
	negotiate := cat(auth)
	le.PutUint32(negotiate[8:], 1) // NEGOTIATE_MESSAGE: no user
	tests := []struct {
		name         string
		blob         []byte
		user, domain string
	}{
		{"bare", auth, "alice", "CORP"},
		{"spnego", spnegoWrap(auth), "alice", "CORP"},
		{"oem strings", oem, "bob", "DOM"},
		{"offset outside", bad, "", "CORP"},
		{"negotiate message", negotiate, "", ""},
		{"truncated", auth[:40], "", ""},
		{"no signature", []byte("NTLMSSQ\x00\x03\x00\x00\x00"), "", ""},
	}
	for _, tt := range tests {
		s := New().NewSession(&l7.FlowInfo{}).(*session)
		s.ntlmAuth(tt.blob)
		if s.user != tt.user || s.domain != tt.domain {
			t.Errorf("%s: user %q domain %q, want %q %q", tt.name, s.user, s.domain, tt.user, tt.domain)
		}
	}
}

func TestUTF16(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{u16("plain.txt"), "plain.txt"},
		{u16("Δοκιμή.doc"), "Δοκιμή.doc"},
		{u16("emoji\U0001F600"), "emoji\U0001F600"},
		{u16("nul\x00after"), "nul"},
		{[]byte{0x3d, 0xd8, 'a', 0}, "\uFFFDa"}, // unpaired high surrogate
		{[]byte{0x3d, 0xd8}, "\uFFFD"},
		{[]byte{'a', 0, 'b'}, "a"}, // odd length
	}
	for _, tt := range tests {
		if got := string(appendUTF16(nil, tt.in)); got != tt.want {
			t.Errorf("appendUTF16(%x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSession(f *testing.F) {
	client := cat(
		nbss(negotiateReq(0, 0x0202, 0x0311)),
		nbss(sessionSetupReq(1, spnegoWrap(ntlmAuthenticate("D", "u", "w")))),
		nbss(treeConnectReq(2, `\\s\x`)),
		nbss(compound(true, createReq(3, "a"), readReq(4, allOnes, 10), closeReq(5, allOnes))),
		nbss(writeReq(6, fid(1), 20)),
		nbss(transform(8)),
	)
	server := cat(
		nbss(negotiateResp(0, 0x0311)),
		nbss(compound(true, createResp(3, fid(1)), readResp(4, 10), closeResp(5))),
		nbss(compressed(4)),
	)
	f.Add(client, server, int64(1))
	ss := smb1SessionSetupPlain(2, "bob", "WG", 0xff, 0)
	f.Add(cat(
		nbControl(nbRequest, cat(nbEncode("A", 0x20), nbEncode("B", 0))),
		nbss(smb1NegotiateReqMsg(1, "NT LM 0.12")), nbss(ss), nbss(smb1NTCreateReq(3, "f")),
		nbss(smb1WriteAndXMsg(4, 1, 10)), nbss(smb1ReadAndXReqMsg(5, 1)),
	), cat(
		nbControl(nbPositive, nil), nbss(smb1NegotiateRespMsg(1, 0)), nbss(smb1NTCreateResp(3, 1)),
		nbss(smb1ReadAndXRespMsg(5, 10)),
	), int64(2))
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64) {
		p := New()
		fi := &l7.FlowInfo{Transport: l7.TCP}
		p.Probe(fi, l7.FromClient, client)
		p.Probe(fi, l7.FromServer, server)
		s := p.NewSession(fi).(*session)
		ctx := &l7.Context{}
		r := rand.New(rand.NewSource(seed))
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
		for _, st := range s.dirs {
			if cap(st.buf) > 2*maxUnit {
				t.Fatalf("buffer grew to %d", cap(st.buf))
			}
		}
		if s.names.n > maxNames || s.ops.n > l7.MaxFileOps || s.nShares > maxShares {
			t.Fatal("unbounded lists")
		}
		var d ecs.Doc
		s.Fields(&d)
		if !json.Valid(d.AppendJSON(nil)) {
			t.Fatalf("invalid JSON: %s", d.AppendJSON(nil))
		}
		var sum l7.Summary
		s.Summary(&sum)
	})
}

// BenchmarkFeedWrite feeds a stream of SMB2 WRITE requests to an open file
// in 1448-byte segments, as a client upload looks on the wire: with 64 KiB
// writes most segments are payload, with 4 KiB writes a third of them
// carry a header.
func BenchmarkFeedWrite(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ctx := &l7.Context{}
			s, _ := play([]step{
				{l7.FromClient, nbss(createReq(1, `upload\archive.zip`))},
				{l7.FromServer, nbss(createResp(1, fid(1)))},
			})
			var stream []byte
			for i := 0; len(stream) < 1<<20; i++ {
				stream = append(stream, nbss(writeReq(uint64(2+i), fid(1), size))...)
			}
			const seg = 1448
			var chunks [][]byte
			for i := 0; i < len(stream); i += seg {
				chunks = append(chunks, stream[i:min(i+seg, len(stream))])
			}
			for _, c := range chunks { // warm up
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
