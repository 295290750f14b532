//go:build linux

package main

// End-to-end tests of application-protocol identification: real servers
// (Debian's vsftpd and tftpd-hpa) run in a network namespace, real clients
// talk to them from another, tcpdump captures the traffic, and outflow read
// must name every flow and alert on the file transfers.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"outflow/capture/netlab"
)

// labFile writes a file of random content and random size in
// [minSize, maxSize) to path and returns its content.
func labFile(t *testing.T, path string, minSize, maxSize int, perm os.FileMode) []byte {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(int64(maxSize-minSize)))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, minSize+int(n.Int64()))
	rand.Read(data)
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	return data
}

// field returns the value at a dotted ECS path of a record.
func field(rec map[string]any, path string) any {
	var v any = rec
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(rec map[string]any, path string) string {
	s, _ := field(rec, path).(string)
	return s
}

// num returns a numeric field, or -1 when it is missing.
func num(rec map[string]any, path string) int64 {
	f, ok := field(rec, path).(float64)
	if !ok {
		return -1
	}
	return int64(f)
}

// labRecords splits outflow's output into flow records and alerts.
func labRecords(recs []map[string]any) (flows, alerts []map[string]any) {
	for _, r := range recs {
		switch str(r, "event.dataset") {
		case "outflow.flow":
			flows = append(flows, r)
		case "outflow.alert":
			alerts = append(alerts, r)
		}
	}
	return flows, alerts
}

func withProtocol(recs []map[string]any, proto string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if str(r, "network.protocol") == proto {
			out = append(out, r)
		}
	}
	return out
}

// readCapture runs outflow read --flows on a capture the lab made.
func readCapture(t *testing.T, pcap string) (flows, alerts []map[string]any) {
	t.Helper()
	res := runOutflow(t, nil, "read", "--flows", pcap)
	if res.code != 0 {
		t.Fatalf("outflow read exit %d:\n%s", res.code, res.stderr)
	}
	flows, alerts = labRecords(res.records)
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			for _, r := range res.records {
				j, _ := json.Marshal(r)
				b.Write(j)
				b.WriteByte('\n')
			}
			t.Logf("outflow records:\n%s", b.String())
		}
	})
	return flows, alerts
}

// ftpJob is what the FTP client helper does, passed in its environment.
type ftpJob struct {
	Addr      string // server host:port
	Mode      string // pasv, epsv, port, eprt
	PutLocal  string
	PutRemote string
	GetRemote string
	GetLocal  string
}

const ftpJobEnv = "OUTFLOW_LAB_FTP_JOB"

// TestLabHelperFTPClient is not a test of its own: TestLabFTP runs the
// test binary again inside the client namespace with ftpJobEnv set, and
// then it is the FTP client.
func TestLabHelperFTPClient(t *testing.T) {
	spec := os.Getenv(ftpJobEnv)
	if spec == "" {
		t.Skip("helper process for TestLabFTP")
	}
	var job ftpJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	if err := ftpSession(job); err != nil {
		t.Fatal(err)
	}
}

// ftpSession logs in anonymously, uploads, downloads and quits, opening
// each data connection the job's way.
func ftpSession(job ftpJob) error {
	conn, err := net.DialTimeout("tcp", job.Addr, 10*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := textproto.NewConn(conn)
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	cmd := func(expect int, format string, args ...any) (string, error) {
		if _, err := c.Cmd(format, args...); err != nil {
			return "", err
		}
		_, msg, err := c.ReadResponse(expect)
		if err != nil {
			return "", fmt.Errorf("%s: %w", strings.Fields(format)[0], err)
		}
		return msg, nil
	}
	for _, step := range []struct {
		code int
		cmd  string
	}{{331, "USER anonymous"}, {230, "PASS lab@example.com"}, {200, "TYPE I"}} {
		if _, err := cmd(step.code, "%s", step.cmd); err != nil {
			return err
		}
	}
	if job.PutRemote != "" {
		data, err := os.ReadFile(job.PutLocal)
		if err != nil {
			return err
		}
		err = ftpTransfer(c, conn, job.Mode, cmd, "STOR "+job.PutRemote, func(dc net.Conn) error {
			_, err := dc.Write(data)
			return err
		})
		if err != nil {
			return err
		}
	}
	if job.GetRemote != "" {
		var got bytes.Buffer
		err := ftpTransfer(c, conn, job.Mode, cmd, "RETR "+job.GetRemote, func(dc net.Conn) error {
			_, err := io.Copy(&got, dc)
			return err
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(job.GetLocal, got.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = cmd(221, "QUIT")
	return err
}

// ftpTransfer opens a data connection in mode, sends the transfer command,
// moves the data with xfer and waits for the transfer's completion reply.
func ftpTransfer(c *textproto.Conn, ctl net.Conn, mode string, cmd func(int, string, ...any) (string, error), command string, xfer func(net.Conn) error) error {
	deadline := time.Now().Add(30 * time.Second)
	local := ctl.LocalAddr().(*net.TCPAddr)
	remote := ctl.RemoteAddr().(*net.TCPAddr)
	var dc net.Conn
	var ln net.Listener
	switch mode {
	case "pasv":
		msg, err := cmd(227, "PASV")
		if err != nil {
			return err
		}
		// Entering Passive Mode (h1,h2,h3,h4,p1,p2).
		i, j := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
		if i < 0 || j < i {
			return fmt.Errorf("PASV reply %q", msg)
		}
		var n [6]int
		for k, s := range strings.Split(msg[i+1:j], ",") {
			if k < 6 {
				n[k], _ = strconv.Atoi(s)
			}
		}
		addr := fmt.Sprintf("%d.%d.%d.%d:%d", n[0], n[1], n[2], n[3], n[4]<<8|n[5])
		if dc, err = net.DialTimeout("tcp", addr, 10*time.Second); err != nil {
			return err
		}
	case "epsv":
		msg, err := cmd(229, "EPSV")
		if err != nil {
			return err
		}
		// Entering Extended Passive Mode (|||port|)
		f := strings.Split(msg, "|")
		if len(f) < 5 {
			return fmt.Errorf("EPSV reply %q", msg)
		}
		addr := net.JoinHostPort(remote.IP.String(), f[3])
		if dc, err = net.DialTimeout("tcp", addr, 10*time.Second); err != nil {
			return err
		}
	case "port", "eprt":
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(local.IP.String(), "0")); err != nil {
			return err
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		if mode == "port" {
			ip4 := local.IP.To4()
			_, err = cmd(200, "PORT %d,%d,%d,%d,%d,%d", ip4[0], ip4[1], ip4[2], ip4[3], port>>8, port&0xff)
		} else {
			af := 1
			if local.IP.To4() == nil {
				af = 2
			}
			_, err = cmd(200, "EPRT |%d|%s|%d|", af, local.IP, port)
		}
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("mode %q", mode)
	}
	if _, err := c.Cmd("%s", command); err != nil {
		return err
	}
	// An active-mode server connects before it says 150; the kernel
	// completes that handshake before Accept.
	if _, _, err := c.ReadResponse(150); err != nil {
		if dc != nil {
			dc.Close()
		}
		return fmt.Errorf("%s: %w", command, err)
	}
	if ln != nil {
		ln.(*net.TCPListener).SetDeadline(deadline)
		var err error
		if dc, err = ln.Accept(); err != nil {
			return err
		}
	}
	dc.SetDeadline(deadline)
	err := xfer(dc)
	if cerr := dc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: data: %w", command, err)
	}
	if _, _, err := c.ReadResponse(226); err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	return nil
}

func TestLabFTP(t *testing.T) {
	netlab.Require(t, "vsftpd", "tcpdump", "ss")
	ftpUser, err := user.Lookup("ftp")
	if err != nil {
		t.Skipf("vsftpd's ftp user is missing: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		v6     bool
		port   uint16
		mode   string
		banner string // vsftpd's greeting; empty: its own, which names it
	}{
		{"passive IPv4 port 21", false, 21, "pasv", ""},
		{"active IPv4 port 21", false, 21, "port", ""},
		{"extended passive IPv6", true, 21, "epsv", ""},
		{"extended active IPv6", true, 21, "eprt", ""},
		// A greeting that does not say FTP: the client's commands must
		// identify the session away from port 21.
		{"passive IPv4 port 2121 plain banner", false, 2121, "pasv", "Service ready."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lab := netlab.New(t)
			srvIP, cliIP := lab.Server.V4, lab.Client.V4
			if tc.v6 {
				if !lab.Server.V6.IsValid() {
					t.Skip("no IPv6 in the lab")
				}
				srvIP, cliIP = lab.Server.V6, lab.Client.V6
			}
			dir := t.TempDir()
			// vsftpd chroots anonymous sessions into root, which the ftp
			// user must not be able to write; uploads go to upload/.
			root := filepath.Join(dir, "root")
			for _, d := range []string{"root", "root/pub", "root/upload", "empty", "client"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			uid, _ := strconv.Atoi(ftpUser.Uid)
			gid, _ := strconv.Atoi(ftpUser.Gid)
			if err := os.Chown(filepath.Join(root, "upload"), uid, gid); err != nil {
				t.Fatal(err)
			}
			const putName, getName = "upload/staged.tar", "pub/report.bin"
			putLocal := filepath.Join(dir, "client", "staged.tar")
			getLocal := filepath.Join(dir, "client", "report.bin")
			up := labFile(t, putLocal, 50<<10, 200<<10, 0o644)
			down := labFile(t, filepath.Join(root, getName), 50<<10, 200<<10, 0o644)
			t.Logf("upload %d bytes, download %d bytes", len(up), len(down))

			conf := vsftpdConf(tc.v6, srvIP, tc.port, root, filepath.Join(dir, "empty"), dir, tc.banner)
			confPath := filepath.Join(dir, "vsftpd.conf")
			if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			lab.Start(lab.Server.NS, "vsftpd", confPath)
			lab.WaitListen(lab.Server.NS, "tcp", tc.port)
			t.Cleanup(func() {
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "vsftpd.log"))
					t.Logf("vsftpd.log:\n%s", log)
				}
			})

			pcap := filepath.Join(dir, "ftp.pcap")
			stop := lab.Capture(lab.Server.NS, lab.Server.Iface, pcap)
			job, _ := json.Marshal(ftpJob{
				Addr: netip.AddrPortFrom(srvIP, tc.port).String(), Mode: tc.mode,
				PutLocal: putLocal, PutRemote: putName, GetRemote: getName, GetLocal: getLocal,
			})
			cl := lab.Command(lab.Client.NS, exe, "-test.run=^TestLabHelperFTPClient$", "-test.v")
			cl.Env = append(os.Environ(), ftpJobEnv+"="+string(job))
			if out, err := cl.CombinedOutput(); err != nil {
				t.Fatalf("FTP client: %v\n%s", err, out)
			}
			stop()

			// The servers really moved the files.
			if got, err := os.ReadFile(filepath.Join(root, putName)); err != nil || !bytes.Equal(got, up) {
				t.Fatalf("uploaded file on the server: %d bytes, err %v; want the %d bytes sent", len(got), err, len(up))
			}
			if got, err := os.ReadFile(getLocal); err != nil || !bytes.Equal(got, down) {
				t.Fatalf("downloaded file: %d bytes, err %v; want the %d bytes served", len(got), err, len(down))
			}

			flows, alerts := readCapture(t, pcap)
			checkFTP(t, flows, alerts, ftpExpect{
				cli: cliIP, srv: srvIP, port: tc.port, passive: tc.mode == "pasv" || tc.mode == "epsv",
				put: putName, get: getName, up: int64(len(up)), down: int64(len(down)),
			})
		})
	}
}

// vsftpdConf is a standalone vsftpd serving anonymous downloads from
// root/pub and uploads to root/upload, logging into logDir.
func vsftpdConf(v6 bool, addr netip.Addr, port uint16, root, empty, logDir, banner string) string {
	var b strings.Builder
	if v6 {
		fmt.Fprintf(&b, "listen=NO\nlisten_ipv6=YES\nlisten_address6=%s\n", addr)
	} else {
		fmt.Fprintf(&b, "listen=YES\nlisten_ipv6=NO\nlisten_address=%s\n", addr)
	}
	fmt.Fprintf(&b, "listen_port=%d\n", port)
	fmt.Fprintf(&b, "anon_root=%s\nsecure_chroot_dir=%s\n", root, empty)
	fmt.Fprintf(&b, "vsftpd_log_file=%s\nxferlog_file=%s\n", filepath.Join(logDir, "vsftpd.log"), filepath.Join(logDir, "xfer.log"))
	if banner != "" {
		fmt.Fprintf(&b, "ftpd_banner=%s\n", banner)
	}
	b.WriteString(`background=NO
anonymous_enable=YES
no_anon_password=NO
anon_upload_enable=YES
anon_mkdir_write_enable=NO
write_enable=YES
local_enable=NO
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30999
port_enable=YES
connect_from_port_20=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=YES
log_ftp_protocol=YES
syslog_enable=NO
`)
	return b.String()
}

// ftpExpect is one FTP session the lab ran: an upload, then a download.
type ftpExpect struct {
	cli, srv netip.Addr
	port     uint16
	passive  bool
	put, get string
	up, down int64
}

func checkFTP(t *testing.T, flows, alerts []map[string]any, e ftpExpect) {
	t.Helper()
	ctl := withProtocol(flows, "ftp")
	if len(ctl) != 1 {
		t.Fatalf("%d ftp flows, want the one control connection", len(ctl))
	}
	c := ctl[0]
	if str(c, "source.ip") != e.cli.String() || str(c, "destination.ip") != e.srv.String() || num(c, "destination.port") != int64(e.port) {
		t.Errorf("ftp flow %s -> %s:%d, want %s -> %s:%d", str(c, "source.ip"), str(c, "destination.ip"), num(c, "destination.port"), e.cli, e.srv, e.port)
	}
	if u := str(c, "user.name"); u != "anonymous" {
		t.Errorf("ftp user.name %q, want anonymous", u)
	}
	if n := num(c, "outflow.ftp.uploaded_bytes"); n != e.up {
		t.Errorf("outflow.ftp.uploaded_bytes %d, want %d", n, e.up)
	}
	if n := num(c, "outflow.ftp.downloaded_bytes"); n != e.down {
		t.Errorf("outflow.ftp.downloaded_bytes %d, want %d", n, e.down)
	}

	data := withProtocol(flows, "ftp-data")
	if len(data) != 2 {
		t.Fatalf("%d ftp-data flows, want 2 (STOR, RETR)", len(data))
	}
	want := []struct {
		cmd, name, dir string
		bytes          int64
	}{{"STOR", e.put, "upload", e.up}, {"RETR", e.get, "download", e.down}}
	for _, w := range want {
		var d map[string]any
		for _, r := range data {
			if str(r, "outflow.ftp_data.command") == w.cmd {
				d = r
			}
		}
		if d == nil {
			t.Errorf("no ftp-data flow with outflow.ftp_data.command %s", w.cmd)
			continue
		}
		if got := str(d, "file.name"); got != w.name {
			t.Errorf("%s: file.name %q, want %q", w.cmd, got, w.name)
		}
		if got := str(d, "outflow.ftp_data.direction"); got != w.dir {
			t.Errorf("%s: outflow.ftp_data.direction %q, want %q", w.cmd, got, w.dir)
		}
		if got := num(d, "outflow.ftp_data.bytes"); got != w.bytes {
			t.Errorf("%s: outflow.ftp_data.bytes %d, want %d", w.cmd, got, w.bytes)
		}
		mode, opener, peer := "active", e.srv, e.cli
		if e.passive {
			mode, opener, peer = "passive", e.cli, e.srv
		}
		if got := str(d, "outflow.ftp_data.mode"); got != mode {
			t.Errorf("%s: outflow.ftp_data.mode %q, want %q", w.cmd, got, mode)
		}
		if str(d, "source.ip") != opener.String() || str(d, "destination.ip") != peer.String() {
			t.Errorf("%s: data flow %s -> %s, want %s -> %s", w.cmd, str(d, "source.ip"), str(d, "destination.ip"), opener, peer)
		}
		if !e.passive && num(d, "source.port") != 20 {
			t.Errorf("%s: active data flow from port %d, want 20", w.cmd, num(d, "source.port"))
		}
	}

	var upload map[string]any
	for _, a := range alerts {
		if str(a, "rule.name") == "file-transfer" && str(a, "outflow.file_transfer.direction") == "upload" {
			upload = a
			break
		}
	}
	if upload == nil {
		t.Fatalf("no file-transfer alert for the upload among %d alerts", len(alerts))
	}
	// The client is the actor even when the server opened the data flow.
	if got := str(upload, "source.ip"); got != e.cli.String() {
		t.Errorf("upload alert source.ip %s, want the client %s", got, e.cli)
	}
	if got := str(upload, "file.name"); got != e.put {
		t.Errorf("upload alert file.name %q, want %q", got, e.put)
	}
	if e.port != 21 {
		// Some alert must say the control session used a non-standard
		// port (the data channel's alert cannot: its ports are negotiated).
		found := false
		for _, a := range alerts {
			if str(a, "rule.name") == "file-transfer" && num(a, "destination.port") == int64(e.port) && field(a, "outflow.file_transfer.standard_port") == false {
				found = true
			}
		}
		if !found {
			t.Errorf("no file-transfer alert for port %d marked non-standard", e.port)
		}
	}
}
