package synth

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFTPDataConnection checks, on the wire, that the data connection uses
// the port the control channel announced, carries the file, and sits
// between the 150 and 226 replies.
func TestFTPDataConnection(t *testing.T) {
	cases := []struct {
		name    string
		cli     netip.Addr
		srv     netip.Addr
		port    uint16
		mode    FTPMode
		cmd     string
		want    *regexp.Regexp // control line announcing the port
		active  bool
		payload Payload
	}{
		{"pasv", cli4, srv4, 21, FTPPassive, "STOR", regexp.MustCompile(`227 Entering Passive Mode \(\d+,\d+,\d+,\d+,(\d+),(\d+)\)`), false, Random(100 << 10)},
		{"epsv 2121", cli4, srv4, 2121, FTPExtPassive, "RETR", regexp.MustCompile(`229 Entering Extended Passive Mode \(\|\|\|(\d+)\|\)`), false, Random(3000)},
		{"port", cli4, srv4, 21, FTPActive, "STOR", regexp.MustCompile(`PORT \d+,\d+,\d+,\d+,(\d+),(\d+)`), true, Random(1)},
		{"eprt v6", cli6, srv6, 21, FTPExtActive, "LIST", regexp.MustCompile(`EPRT \|2\|fd00::9\|(\d+)\|`), true, FTPListing([]string{"x"}, nil)},
		{"pasv on v6 becomes epsv", cli6, srv6, 21, FTPPassive, "RETR", regexp.MustCompile(`229 Entering Extended Passive Mode \(\|\|\|(\d+)\|\)`), false, Random(10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScenario("ftp", 1, time.Time{})
			ep := Endpoints{Client: c.cli, Server: c.srv, ClientPort: 40000, ServerPort: c.port}
			ctrl, data := s.FTP(ep, time.Second, FTPSession{Mode: c.mode, Command: c.cmd, Data: c.payload}, TCPOptions{})
			file, m := writeScenario(t, s, WriterOptions{})
			pkts := readCapture(t, file)
			checkManifest(t, m, pkts)
			ctrlTo, ctrlBack := recordKeys(&ctrl.rec)
			dataA, dataB := recordKeys(&data.rec)
			var port int
			var t150, t226, firstByte, dLast int64
			var moved int
			for _, p := range pkts {
				switch p.key {
				case ctrlTo, ctrlBack:
					line := string(p.payload)
					if mm := c.want.FindStringSubmatch(line); mm != nil {
						port, _ = strconv.Atoi(mm[1])
						if len(mm) == 3 {
							lo, _ := strconv.Atoi(mm[2])
							port = port*256 + lo
						}
					}
					if strings.HasPrefix(line, "150 ") {
						t150 = p.ts
					}
					if strings.HasPrefix(line, "226 ") {
						t226 = p.ts
					}
				case dataA, dataB:
					if firstByte == 0 && len(p.payload) > 0 {
						firstByte = p.ts
					}
					dLast = p.ts
					moved += len(p.payload)
				}
			}
			wantPort := data.rec.ServerPort
			if c.active != (data.rec.Client == c.srv) {
				t.Errorf("data connection opened by the wrong side: %s", data.rec.Key())
			}
			if port == 0 || uint16(port) != wantPort {
				t.Errorf("announced port %d, data flow %s", port, data.rec.Key())
			}
			if c.active && data.rec.ClientPort != c.port-1 {
				t.Errorf("active data from port %d", data.rec.ClientPort)
			}
			if moved != c.payload.Len() {
				t.Errorf("data connection carried %d bytes, want %d", moved, c.payload.Len())
			}
			if t150 == 0 || firstByte < t150 || t226 < dLast {
				t.Errorf("order: 150 at %d, data %d-%d, 226 at %d", t150, firstByte, dLast, t226)
			}
		})
	}
}

// TestTFTPOnTheWire checks the lock-step transfer: request to port 69,
// blocks from a new server port, 512-byte blocks and a short last one.
func TestTFTPOnTheWire(t *testing.T) {
	for _, c := range []struct {
		write bool
		size  int
	}{{true, 2900}, {false, 1024}, {true, 0}} {
		t.Run(fmt.Sprintf("write=%v/%d", c.write, c.size), func(t *testing.T) {
			s := NewScenario("tftp", 1, time.Time{})
			req, xfer := s.TFTP(Endpoints{Client: cli4, Server: srv4, ClientPort: 41000}, 0, TFTPTransfer{Write: c.write, Data: Random(c.size)}, UDPOptions{})
			file, m := writeScenario(t, s, WriterOptions{})
			pkts := readCapture(t, file)
			checkManifest(t, m, pkts)
			if req.rec.ServerPort != 69 || xfer.rec.ClientPort == 69 || xfer.rec.ServerPort != 41000 || xfer.rec.Client != srv4 {
				t.Fatalf("flows %s and %s", req.rec.Key(), xfer.rec.Key())
			}
			xa, xb := recordKeys(&xfer.rec)
			var sizes []int
			acks := 0
			for _, p := range pkts {
				if p.key != xa && p.key != xb {
					continue
				}
				op := binary.BigEndian.Uint16(p.payload)
				block := int(binary.BigEndian.Uint16(p.payload[2:]))
				switch op {
				case tftpDATA:
					if block != len(sizes)+1 {
						t.Fatalf("DATA block %d after %d", block, len(sizes))
					}
					sizes = append(sizes, len(p.payload)-4)
				case tftpACK:
					acks++
				default:
					t.Fatalf("opcode %d", op)
				}
			}
			want := c.size/512 + 1
			if len(sizes) != want || sizes[want-1] != c.size%512 {
				t.Errorf("blocks %v", sizes)
			}
			for _, n := range sizes[:len(sizes)-1] {
				if n != 512 {
					t.Errorf("inner block of %d bytes", n)
				}
			}
			if wantAcks := want + btoi(c.write); acks != wantAcks {
				t.Errorf("%d ACKs, want %d", acks, wantAcks)
			}
		})
	}
}

// TestTCPSequence follows both directions of TCP flows on the wire: each
// segment starts where the previous one ended, ACKs never run ahead of
// what was sent, and SYN/FIN take one sequence number.
func TestTCPSequence(t *testing.T) {
	file, m := writeScenario(t, encapScenario(9), WriterOptions{})
	pkts := readCapture(t, file)
	for _, r := range m.Flows {
		if r.Transport != "tcp" {
			continue
		}
		a, b := recordKeys(r)
		var next [2]uint32
		var seen [2]bool
		for _, p := range pkts {
			d := -1
			switch p.key {
			case a:
				d = 0
			case b:
				d = 1
			}
			if d < 0 {
				continue
			}
			tc := p.tcp
			if seen[d] && tc.Seq != next[d] {
				t.Fatalf("flow %s dir %d: seq %d, expected %d", r.Key(), d, tc.Seq, next[d])
			}
			if tc.ACK && seen[1-d] && tc.Ack != next[1-d] && !tc.RST && (tc.Ack-next[1-d]) < 1<<31 {
				t.Fatalf("flow %s dir %d: ack %d beyond sent %d", r.Key(), d, tc.Ack, next[1-d])
			}
			seen[d] = true
			next[d] = tc.Seq + uint32(len(tc.Payload)) + uint32(btoi(tc.SYN)) + uint32(btoi(tc.FIN))
		}
	}
}
