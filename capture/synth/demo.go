package synth

import (
	"fmt"
	"net/netip"
	"time"
)

// Demo returns a few minutes of a container host's egress, small enough to
// commit (under 300 KB as pcap): DNS lookups, HTTPS with SNI (TLS 1.3 and
// 1.2), plain HTTP, an interactive SSH session, an FTP upload (STOR over
// PASV, 100 KiB), a TFTP WRQ upload, an SMB2 file write, a ping, a larger
// outbound HTTP POST, and a beacon: an HTTP check-in every 30 s ± 20% to
// one outside address. Containers are in 172.17.0.0/16, outside hosts in
// the documentation ranges.
func Demo(seed uint64) *Scenario {
	s := NewScenario("demo", seed, time.Time{})
	r := s.rng
	ip := netip.MustParseAddr
	var (
		web      = ip("172.17.0.2")
		worker   = ip("172.17.0.3")
		beacon   = ip("172.17.0.4")
		backup   = ip("172.17.0.5")
		resolver = ip("198.51.100.53")
		gw       = []byte{0x02, 0x42, 0x5e, 0xa1, 0x00, 0x01} // docker0: every outside packet goes through it
	)
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)).Round(time.Microsecond) }
	ep := func(c netip.Addr, srv netip.Addr, port uint16) Endpoints {
		return Endpoints{Client: c, Server: srv, ClientPort: s.EphemeralPort(c), ServerPort: port, ServerMAC: gw}
	}
	lookup := func(at time.Duration, c netip.Addr, name string, qt uint16, ttl uint32, a ...netip.Addr) {
		s.DNS(ep(c, resolver, 53), at, name, qt, ttl, a, UDPOptions{RTT: 8 * time.Millisecond})
	}
	jit := func(base, spread time.Duration) time.Duration {
		return base + time.Duration(r.Int64N(int64(spread))).Round(time.Microsecond)
	}

	// Web container: an API over HTTPS, a plain-HTTP update check, a
	// registry pull over TLS 1.2.
	api := ip("203.0.113.10")
	lookup(sec(0.2), web, "api.example.com", DNSTypeA, 300, api)
	lookup(sec(0.201), web, "api.example.com", DNSTypeAAAA, 300, ip("2001:db8:10::10"))
	var ex []Exchange
	for i := 0; i < 4; i++ {
		ex = append(ex, Exchange{Up: 300 + r.IntN(900), Down: 1500 + r.IntN(3000), Think: jit(3*time.Second, 9*time.Second)})
	}
	s.TLS(ep(web, api, 443), sec(0.23), TLSSession{ServerName: "api.example.com", ALPN: []string{"h2", "http/1.1"}, TLS13: true, Exchanges: ex}, TCPOptions{RTT: 24 * time.Millisecond})

	upd := ip("198.51.100.20")
	lookup(sec(8), web, "updates.example.org", DNSTypeA, 60, upd)
	s.HTTP(ep(web, upd, 80), sec(8.02), []HTTPExchange{{
		Request:  HTTPRequest{Host: "updates.example.org", Path: "/v1/manifest.json", UserAgent: "python-requests/2.31.0"},
		Response: HTTPResponse{Server: "nginx/1.24.0", ContentType: "application/json", Body: Text(3100)},
	}}, TCPOptions{RTT: 31 * time.Millisecond})

	reg := ip("203.0.113.20")
	lookup(sec(12), web, "registry.example.net", DNSTypeA, 120, reg)
	s.TLS(ep(web, reg, 443), sec(12.03), TLSSession{ServerName: "registry.example.net", ALPN: []string{"http/1.1"},
		Exchanges: []Exchange{{Up: 420, Down: 5200}, {Up: 380, Down: 8800, Think: 200 * time.Millisecond}}}, TCPOptions{RTT: 18 * time.Millisecond})

	s.TLS(ep(web, api, 443), sec(205), TLSSession{ServerName: "api.example.com", ALPN: []string{"h2", "http/1.1"}, TLS13: true,
		Exchanges: []Exchange{{Up: 600, Down: 1800}}}, TCPOptions{RTT: 24 * time.Millisecond})

	// Worker container: an interactive SSH session, an FTP backup upload,
	// a ping.
	var keys []Exchange
	for i := 0; i < 40; i++ {
		keys = append(keys, Exchange{Up: 36 + 16*r.IntN(3), Down: 36 + 16*r.IntN(20), Think: jit(300*time.Millisecond, 2*time.Second)})
	}
	s.SSH(ep(worker, ip("198.51.100.22"), 22), sec(20), SSHSession{Exchanges: keys}, TCPOptions{RTT: 40 * time.Millisecond})

	ftpSrv := ip("203.0.113.21")
	lookup(sec(60), worker, "ftp.example.net", DNSTypeA, 300, ftpSrv)
	s.FTP(ep(worker, ftpSrv, 21), sec(60.02), FTPSession{User: "backup", Password: "s3cr3t-Backup!", Mode: FTPPassive,
		Command: "STOR", File: "backup-2024-03-01.tar.gz", Data: Random(100 << 10), DataPort: 50123}, TCPOptions{RTT: 22 * time.Millisecond})

	pe := ep(worker, ip("198.51.100.1"), 0)
	pe.ClientPort = 0x1d2e
	s.Ping(pe, sec(150), 4, time.Second, 56, 15*time.Millisecond)

	// Backup container: a TFTP config upload and an SMB2 file write.
	s.TFTP(ep(backup, ip("198.51.100.69"), 69), sec(95), TFTPTransfer{Write: true, File: "router-config.txt", Data: Text(2900)},
		UDPOptions{RTT: 12 * time.Millisecond})
	s.SMB2(ep(backup, ip("203.0.113.45"), 445), sec(120), SMB2Session{Host: "files01", Share: "finance", User: "svc-backup",
		Domain: "CORP", Workstation: "BACKUP-7F3A", File: `reports\Q1-summary.xlsx`, Write: Random(16000), Read: 4096},
		TCPOptions{RTT: 9 * time.Millisecond})

	// Beacon container: periodic check-ins to one outside address, then a
	// bulk upload elsewhere.
	c2 := ip("198.51.100.66")
	lookup(sec(3), beacon, "cdn-telemetry.example.net", DNSTypeA, 30, c2)
	id := fmt.Sprintf("%08x", r.Uint32())
	for i, t := 0, sec(3.05); t < sec(285); i++ {
		body := fmt.Sprintf(`{"status":"ok","next":30,"tasks":%d}`, i%3/2)
		s.HTTP(ep(beacon, c2, 80), t, []HTTPExchange{{
			Request: HTTPRequest{Host: "cdn-telemetry.example.net", Path: fmt.Sprintf("/api/v2/checkin?id=%s&seq=%d", id, i),
				UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"},
			Response: HTTPResponse{Server: "nginx", ContentType: "application/json", Body: String(body)},
			Server:   3 * time.Millisecond,
		}}, TCPOptions{RTT: jit(65*time.Millisecond, 10*time.Millisecond)})
		t += jit(24*time.Second, 12*time.Second) // 30 s ± 20%
	}
	dst := ip("203.0.113.99")
	lookup(sec(170), beacon, "upload.example.com", DNSTypeA, 60, dst)
	s.HTTP(ep(beacon, dst, 80), sec(170.04), []HTTPExchange{{
		Request: HTTPRequest{Method: "POST", Host: "upload.example.com", Path: "/collect", UserAgent: "curl/8.5.0",
			ContentType: "application/octet-stream", Body: Random(40 << 10)},
		Response: HTTPResponse{Status: 201, Server: "nginx", ContentType: "application/json", Body: String(`{"stored":true}`)},
		Server:   20 * time.Millisecond,
	}}, TCPOptions{RTT: 35 * time.Millisecond})
	return s
}
