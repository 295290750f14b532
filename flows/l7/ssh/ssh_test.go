package ssh

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"outflow/flows/ecs"
	"outflow/flows/l7"
	"outflow/flows/l7/l7test"
)

// nameList encodes an SSH name-list (RFC 4251 section 5).
func nameList(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// kexInitPacket builds a cleartext binary packet (RFC 4253 section 6)
// carrying SSH_MSG_KEXINIT (section 7.1) with the given name-lists in wire
// order: kex, hostkey, enc c2s, enc s2c, mac c2s, mac s2c, comp c2s,
// comp s2c, lang c2s, lang s2c.
func kexInitPacket(lists [10]string) []byte {
	payload := []byte{msgKexInit}
	payload = append(payload, make([]byte, 16)...) // cookie
	for _, l := range lists {
		payload = nameList(payload, l)
	}
	payload = append(payload, 0, 0, 0, 0, 0) // first_kex_packet_follows, reserved
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	p := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	p = append(p, byte(pad))
	p = append(p, payload...)
	return append(p, make([]byte, pad)...)
}

var testLists = [10]string{
	"curve25519-sha256,diffie-hellman-group14-sha256",
	"ssh-ed25519,rsa-sha2-512",
	"chacha20-poly1305@openssh.com,aes128-ctr",
	"aes256-ctr,aes128-ctr",
	"hmac-sha2-256",
	"hmac-sha2-512",
	"none,zlib@openssh.com",
	"none",
	"", "",
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// feedSplit feeds both streams, each cut at cut (modulo its length), with
// the two directions interleaved, and returns the session.
func feedSplit(client, server []byte, cut int) (l7.Session, bool) {
	s := New().NewSession(&l7.FlowInfo{Transport: l7.TCP})
	ctx := &l7.Context{}
	ca, cb := split(client, cut)
	sa, sb := split(server, cut)
	more := true
	for _, step := range []struct {
		dir  l7.Dir
		data []byte
	}{{l7.FromServer, sa}, {l7.FromClient, ca}, {l7.FromServer, sb}, {l7.FromClient, cb}} {
		if len(step.data) > 0 && more {
			more = s.Feed(ctx, step.dir, step.data)
		}
	}
	return s, more
}

func split(b []byte, cut int) ([]byte, []byte) {
	if len(b) == 0 {
		return nil, nil
	}
	cut %= len(b) + 1
	return b[:cut], b[cut:]
}

func TestSession(t *testing.T) {
	kex := kexInitPacket(testLists)
	tests := []struct {
		name         string
		client       []byte
		server       []byte
		want         map[string]any
		wantHassh    bool
		wantFinished bool
	}{
		{
			name:   "openssh both sides with KEXINIT",
			client: append([]byte("SSH-2.0-OpenSSH_9.6\r\n"), kex...),
			server: append([]byte("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n"), kex...),
			want: map[string]any{
				"outflow.ssh.client":  "OpenSSH_9.6",
				"outflow.ssh.server":  "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
				"outflow.ssh.version": "2.0",
			},
			wantHassh:    true,
			wantFinished: true,
		},
		{
			name:   "server 1.99 with pre-banner lines, LF only",
			client: []byte("SSH-2.0-PuTTY_Release_0.80\n"),
			server: []byte("Welcome\r\nauthorised use only\r\nSSH-1.99-Cisco-1.25\n"),
			want: map[string]any{
				"outflow.ssh.client":  "PuTTY_Release_0.80",
				"outflow.ssh.server":  "Cisco-1.25",
				"outflow.ssh.version": "2.0",
			},
		},
		{
			name:   "ssh-1 client stops without KEXINIT",
			client: []byte("SSH-1.5-OldClient\r\n"),
			server: []byte("SSH-1.99-Srv\r\n"),
			want: map[string]any{
				"outflow.ssh.client":  "OldClient",
				"outflow.ssh.version": "1.5",
			},
			wantFinished: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := max(len(tt.client), len(tt.server))
			for cut := 0; cut <= n; cut++ {
				s, more := feedSplit(tt.client, tt.server, cut)
				got := l7test.Fields(t, s)
				for k, v := range tt.want {
					if got[k] != v {
						t.Fatalf("cut %d: %s = %v, want %v", cut, k, got[k], v)
					}
				}
				if tt.wantHassh {
					if h := md5hex("curve25519-sha256,diffie-hellman-group14-sha256;chacha20-poly1305@openssh.com,aes128-ctr;hmac-sha2-256;none,zlib@openssh.com"); got["outflow.ssh.hassh"] != h {
						t.Fatalf("cut %d: hassh = %v, want %v", cut, got["outflow.ssh.hassh"], h)
					}
					if h := md5hex("curve25519-sha256,diffie-hellman-group14-sha256;aes256-ctr,aes128-ctr;hmac-sha2-512;none"); got["outflow.ssh.hassh_server"] != h {
						t.Fatalf("cut %d: hassh_server = %v, want %v", cut, got["outflow.ssh.hassh_server"], h)
					}
				}
				if tt.wantFinished && more {
					t.Fatalf("cut %d: session still wants data", cut)
				}
				var sum l7.Summary
				s.Summary(&sum)
				if sum.Protocol != "ssh" || !sum.Encrypted {
					t.Fatalf("summary = %+v", sum)
				}
			}
		})
	}
}

func TestSessionByteByByte(t *testing.T) {
	s := New().NewSession(&l7.FlowInfo{})
	ctx := &l7.Context{}
	client := append([]byte("SSH-2.0-OpenSSH_9.6\r\n"), kexInitPacket(testLists)...)
	for i := range client {
		s.Feed(ctx, l7.FromClient, client[i:i+1])
	}
	if got := l7test.Fields(t, s); got["outflow.ssh.hassh"] == nil || got["outflow.ssh.client"] != "OpenSSH_9.6" {
		t.Fatalf("fields = %v", got)
	}
}

func TestProbe(t *testing.T) {
	p := New()
	tests := []struct {
		name string
		dir  l7.Dir
		data string
		want l7.Verdict
	}{
		{"client ident", l7.FromClient, "SSH-2.0-OpenSSH_9.6\r\n", l7.VerdictYes},
		{"server 1.99", l7.FromServer, "SSH-1.99-Cisco", l7.VerdictYes},
		{"partial magic", l7.FromClient, "SS", l7.VerdictMaybe},
		{"partial version", l7.FromClient, "SSH-2.", l7.VerdictMaybe},
		{"empty", l7.FromClient, "", l7.VerdictMaybe},
		{"http", l7.FromClient, "GET / HTTP/1.1\r\n", l7.VerdictNo},
		{"bad version", l7.FromClient, "SSH-x.0-foo", l7.VerdictNo},
		{"client must start with SSH", l7.FromClient, "hello\r\nSSH-2.0-x\r\n", l7.VerdictNo},
		{"server banner then ident", l7.FromServer, "hello\r\nSSH-2.0-x\r\n", l7.VerdictYes},
		{"server banner so far", l7.FromServer, "hello there\r\n", l7.VerdictMaybe},
		{"server binary", l7.FromServer, "\x00\x01\x02", l7.VerdictNo},
		{"too many version digits", l7.FromClient, "SSH-22222.0-x", l7.VerdictNo},
	}
	for _, tt := range tests {
		if got := p.Probe(&l7.FlowInfo{}, tt.dir, []byte(tt.data)); got != tt.want {
			t.Errorf("%s: Probe = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHostile(t *testing.T) {
	ctx := &l7.Context{}
	t.Run("endless line", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{})
		chunk := []byte(strings.Repeat("A", 1000))
		stopped := false
		for i := 0; i < 100 && !stopped; i++ {
			s.Feed(ctx, l7.FromServer, chunk)
			stopped = s.(*session).sides[l7.FromServer].phase == phDone
		}
		if !stopped {
			t.Fatal("an endless line was accepted")
		}
	})
	t.Run("huge packet length", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{})
		s.Feed(ctx, l7.FromClient, []byte("SSH-2.0-x\r\n\xff\xff\xff\xff\x04"))
		if ss := s.(*session); ss.sides[0].phase != phDone || cap(ss.sides[0].kex) != 0 {
			t.Fatal("a 4 GiB packet was buffered")
		}
	})
	t.Run("oversize KEXINIT is skipped", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{})
		pkt := binary.BigEndian.AppendUint32([]byte("SSH-2.0-x\r\n"), 100000)
		s.Feed(ctx, l7.FromClient, append(pkt, 4, msgKexInit))
		s.Feed(ctx, l7.FromClient, make([]byte, 100000-2))
		ss := s.(*session)
		if ss.sides[0].phase != phDone || ss.sides[0].hasHassh || cap(ss.sides[0].kex) != 0 {
			t.Fatal("oversize packet handled wrongly")
		}
	})
	t.Run("truncated name-lists", func(t *testing.T) {
		var out [32]byte
		full := kexInitPacket(testLists)
		payload := full[5 : len(full)-int(full[4])]
		// The 8 hashed name-lists end before the two empty language lists
		// (4 bytes each) and the 5 trailing bytes.
		end := len(payload) - 5 - 8
		if !hassh(payload[:end], l7.FromClient, &out) {
			t.Fatal("hassh of the complete name-lists failed")
		}
		for i := 0; i < end; i++ {
			if hassh(payload[:i], l7.FromClient, &out) {
				t.Fatalf("hassh of a %d-byte prefix succeeded", i)
			}
		}
	})
	t.Run("many pre-banner lines", func(t *testing.T) {
		s := New().NewSession(&l7.FlowInfo{})
		s.Feed(ctx, l7.FromServer, []byte(strings.Repeat("x\r\n", 100)))
		if s.(*session).sides[1].phase != phDone {
			t.Fatal("unbounded pre-banner lines")
		}
	})
}

func FuzzSession(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-srv\r\n"), int64(1))
	f.Add(append([]byte("SSH-2.0-c\r\n"), kexInitPacket(testLists)...), []byte("hi\nSSH-1.99-s\n"), int64(7))
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
			n := min(len(*b), r.Intn(64))
			if !s.Feed(ctx, dir, (*b)[:n]) {
				break
			}
			*b = (*b)[n:]
		}
		ss := s.(*session)
		for i := range ss.sides {
			if cap(ss.sides[i].kex) > maxKexInit {
				t.Fatalf("kex buffer grew to %d", cap(ss.sides[i].kex))
			}
		}
		var d ecs.Doc
		s.Fields(&d)
		if !json.Valid(d.AppendJSON(nil)) {
			t.Fatal("invalid JSON")
		}
	})
}
