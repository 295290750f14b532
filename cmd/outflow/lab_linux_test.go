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

// labRun is what outflow read said about a capture the lab made.
type labRun struct {
	flows []map[string]any
	// alerts as outflow writes them by default, deduplicated per rule,
	// entity and destination.
	alerts []map[string]any
	// every alert: the dedup window set to 1ns, so each flow's alerts
	// are written and can be checked one by one.
	each []map[string]any
}

// readCapture runs outflow read --flows on a capture, with the default
// configuration and without alert dedup.
func readCapture(t *testing.T, pcap string) labRun {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "nodedup.yaml")
	if err := os.WriteFile(cfg, []byte("dedup_window: 1ns\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lr labRun
	var all []map[string]any
	for i, args := range [][]string{{"read", "--flows", pcap}, {"read", "--config", cfg, pcap}} {
		res := runOutflow(t, nil, args...)
		if res.code != 0 {
			t.Fatalf("outflow %s: exit %d:\n%s", strings.Join(args, " "), res.code, res.stderr)
		}
		all = append(all, res.records...)
		if i == 0 {
			lr.flows, lr.alerts = labRecords(res.records)
		} else {
			_, lr.each = labRecords(res.records)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			for _, r := range all {
				j, _ := json.Marshal(r)
				b.Write(j)
				b.WriteByte('\n')
			}
			t.Logf("outflow records (default, then without dedup):\n%s", b.String())
		}
	})
	return lr
}

// alertsOf returns the file-transfer alerts whose evidence is flow f.
func alertsOf(alerts []map[string]any, f map[string]any) []map[string]any {
	id := str(f, "network.community_id")
	var out []map[string]any
	for _, a := range alerts {
		if str(a, "rule.name") != "file-transfer" {
			continue
		}
		ids, _ := field(a, "network.community_id").([]any)
		for _, x := range ids {
			if x == id {
				out = append(out, a)
			}
		}
	}
	return out
}

// checkFlowAlerts checks the file-transfer alerts of one flow: at least
// one, every one naming the client as the actor, in the transfer's
// direction, the last with all of the file's bytes.
func checkFlowAlerts(t *testing.T, what string, alerts []map[string]any, f map[string]any, cli netip.Addr, dir string, bytes int64, standard bool) {
	t.Helper()
	as := alertsOf(alerts, f)
	if len(as) == 0 {
		t.Errorf("%s: no file-transfer alert", what)
		return
	}
	var most int64
	for _, a := range as {
		// A server-opened flow (active FTP data, TFTP transfer) too: the
		// client asked for it.
		if got := str(a, "source.ip"); got != cli.String() {
			t.Errorf("%s: alert source.ip %s, want the client %s", what, got, cli)
		}
		if got := str(a, "outflow.file_transfer.direction"); got != dir {
			t.Errorf("%s: alert direction %q, want %q", what, got, dir)
		}
		if got := field(a, "outflow.file_transfer.standard_port"); got != standard {
			t.Errorf("%s: alert standard_port %v, want %v", what, got, standard)
		}
		most = max(most, num(a, "outflow.file_transfer.bytes"))
	}
	if most != bytes {
		t.Errorf("%s: alerts count at most %d bytes, want %d", what, most, bytes)
	}
}

// checkUploadAlert checks that outflow's default output has an alert for
// the upload, made by the client.
func checkUploadAlert(t *testing.T, alerts []map[string]any, cli netip.Addr, name string) {
	t.Helper()
	for _, a := range alerts {
		if str(a, "rule.name") == "file-transfer" && str(a, "outflow.file_transfer.direction") == "upload" {
			if got := str(a, "source.ip"); got != cli.String() {
				t.Errorf("upload alert source.ip %s, want the client %s", got, cli)
			}
			if got := str(a, "file.name"); got != name {
				t.Errorf("upload alert file.name %q, want %q", got, name)
			}
			return
		}
	}
	t.Errorf("no file-transfer alert for the upload among %d alerts", len(alerts))
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
			// Under -race, a binary sleeps a second at exit unless told not to.
			cl.Env = append(os.Environ(), ftpJobEnv+"="+string(job), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
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

			checkFTP(t, readCapture(t, pcap), ftpExpect{
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

func checkFTP(t *testing.T, lr labRun, e ftpExpect) {
	t.Helper()
	ctl := withProtocol(lr.flows, "ftp")
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
	// The control session moved both files; an upload makes it an upload.
	checkFlowAlerts(t, "ftp control", lr.each, c, e.cli, "upload", e.up+e.down, e.port == 21)

	data := withProtocol(lr.flows, "ftp-data")
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
		// The side that sent the file sent at least its bytes on the wire.
		sender := "source.bytes"
		if (w.dir == "upload") != (opener == e.cli) {
			sender = "destination.bytes"
		}
		if got := num(d, sender); got < w.bytes {
			t.Errorf("%s: %s %d, less than the file's %d bytes", w.cmd, sender, got, w.bytes)
		}
		// Data channels sit on negotiated ports: never "non-standard".
		checkFlowAlerts(t, w.cmd+" data", lr.each, d, e.cli, w.dir, w.bytes, true)
	}
	checkUploadAlert(t, lr.alerts, e.cli, e.put)
}

func TestLabTFTP(t *testing.T) {
	netlab.Require(t, "in.tftpd", "tcpdump", "ss")
	tests := []struct {
		name   string
		v6     bool
		client string // tftp (tftp-hpa) or busybox
	}{
		{"tftp-hpa IPv4", false, "tftp"},
		{"tftp-hpa IPv6", true, "tftp"},
		// busybox asks for a larger block size: the server answers with
		// an OACK and blocks of that size.
		{"busybox blksize 1428 IPv4", false, "busybox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.client == "busybox" {
				netlab.Require(t, "busybox")
			} else {
				netlab.Require(t, tc.client)
			}
			lab := netlab.New(t)
			srvIP, cliIP := lab.Server.V4, lab.Client.V4
			if tc.v6 {
				if !lab.Server.V6.IsValid() {
					t.Skip("no IPv6 in the lab")
				}
				srvIP, cliIP = lab.Server.V6, lab.Client.V6
			}
			dir := t.TempDir()
			root := filepath.Join(dir, "tftpboot")
			client := filepath.Join(dir, "client")
			for _, d := range []string{root, client} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// in.tftpd runs as nobody: it creates uploads in root and
			// serves only world-readable files.
			if err := os.Chmod(root, 0o777); err != nil {
				t.Fatal(err)
			}
			const putName, getName = "firmware.bin", "config.bin"
			putLocal, getLocal := filepath.Join(client, "up.bin"), filepath.Join(client, "down.bin")
			up := labFile(t, putLocal, 50<<10, 200<<10, 0o644)
			down := labFile(t, filepath.Join(root, getName), 50<<10, 200<<10, 0o644)
			t.Logf("upload %d bytes, download %d bytes", len(up), len(down))

			lab.Start(lab.Server.NS, "in.tftpd", "-L", "-c", "-u", "nobody", "-a", netip.AddrPortFrom(srvIP, 69).String(), "-s", root)
			lab.WaitListen(lab.Server.NS, "udp", 69)
			pcap := filepath.Join(dir, "tftp.pcap")
			stop := lab.Capture(lab.Server.NS, lab.Server.Iface, pcap)
			if tc.client == "busybox" {
				lab.Run(lab.Client.NS, "busybox", "tftp", "-b", "1428", "-p", "-l", putLocal, "-r", putName, srvIP.String())
				lab.Run(lab.Client.NS, "busybox", "tftp", "-b", "1428", "-g", "-l", getLocal, "-r", getName, srvIP.String())
			} else {
				lab.Run(lab.Client.NS, "tftp", "-m", "binary", srvIP.String(), "-c", "put", putLocal, putName)
				lab.Run(lab.Client.NS, "tftp", "-m", "binary", srvIP.String(), "-c", "get", getName, getLocal)
			}
			stop()

			if got, err := os.ReadFile(filepath.Join(root, putName)); err != nil || !bytes.Equal(got, up) {
				t.Fatalf("uploaded file on the server: %d bytes, err %v; want the %d bytes sent", len(got), err, len(up))
			}
			if got, err := os.ReadFile(getLocal); err != nil || !bytes.Equal(got, down) {
				t.Fatalf("downloaded file: %d bytes, err %v; want the %d bytes served", len(got), err, len(down))
			}

			checkTFTP(t, readCapture(t, pcap), cliIP, srvIP, []tftpExpect{
				{"WRQ", putName, "upload", int64(len(up))},
				{"RRQ", getName, "download", int64(len(down))},
			})
		})
	}
}

type tftpExpect struct {
	request, name, dir string
	bytes              int64
}

func checkTFTP(t *testing.T, lr labRun, cli, srv netip.Addr, want []tftpExpect) {
	t.Helper()
	tftp := withProtocol(lr.flows, "tftp")
	if len(tftp) != 2*len(want) {
		t.Errorf("%d tftp flows, want %d (a request and a transfer each)", len(tftp), 2*len(want))
	}
	for _, w := range want {
		var req, xfer []map[string]any
		for _, f := range tftp {
			if str(f, "outflow.tftp.request") != w.request {
				continue
			}
			if num(f, "destination.port") == 69 {
				req = append(req, f)
			} else {
				xfer = append(xfer, f)
			}
		}
		if len(req) != 1 || len(xfer) != 1 {
			t.Errorf("%s: %d request flows to port 69 and %d transfer flows, want 1 and 1", w.request, len(req), len(xfer))
			continue
		}
		r, x := req[0], xfer[0]
		if str(r, "source.ip") != cli.String() || str(r, "destination.ip") != srv.String() {
			t.Errorf("%s: request flow %s -> %s, want %s -> %s", w.request, str(r, "source.ip"), str(r, "destination.ip"), cli, srv)
		}
		// The server answers from a new port, so it opens the transfer flow.
		if str(x, "source.ip") != srv.String() || str(x, "destination.ip") != cli.String() || num(x, "destination.port") != num(r, "source.port") {
			t.Errorf("%s: transfer flow %s -> %s:%d, want %s -> %s:%d", w.request, str(x, "source.ip"), str(x, "destination.ip"), num(x, "destination.port"), srv, cli, num(r, "source.port"))
		}
		for _, f := range []map[string]any{r, x} {
			what := w.request + " request"
			if f == nil || num(f, "destination.port") != 69 {
				what = w.request + " transfer"
			}
			if got := str(f, "file.name"); got != w.name {
				t.Errorf("%s: file.name %q, want %q", what, got, w.name)
			}
			if got := str(f, "outflow.tftp.direction"); got != w.dir {
				t.Errorf("%s: outflow.tftp.direction %q, want %q", what, got, w.dir)
			}
			if got := num(f, "outflow.tftp.bytes"); got != w.bytes {
				t.Errorf("%s: outflow.tftp.bytes %d, want %d", what, got, w.bytes)
			}
			if got := field(f, "outflow.tftp.complete"); got != true {
				t.Errorf("%s: outflow.tftp.complete %v, want true", what, got)
			}
			checkFlowAlerts(t, what, lr.each, f, cli, w.dir, w.bytes, true)
		}
	}
	checkUploadAlert(t, lr.alerts, cli, want[0].name)
}
