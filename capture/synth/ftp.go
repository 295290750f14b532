package synth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FTPMode is how an FTP data connection is set up.
type FTPMode uint8

const (
	FTPPassive    FTPMode = iota // PASV / 227 (IPv4 only; IPv6 uses EPSV)
	FTPExtPassive                // EPSV / 229
	FTPActive                    // PORT / 200 (IPv4 only; IPv6 uses EPRT)
	FTPExtActive                 // EPRT / 200
)

// FTPSession describes an FTP control session with one transfer.
type FTPSession struct {
	User, Password string // default "anonymous" / "guest@"
	Mode           FTPMode
	Command        string // "STOR" (default), "RETR" or "LIST"
	File           string // argument of STOR/RETR; default "upload.bin"
	Data           Payload
	// DataPort is the announced data port: the server's for PASV/EPSV,
	// the client's for PORT/EPRT. 0 picks one.
	DataPort uint16
	Banner   string // default "(vsFTPd 3.0.5)"
}

// FTP plans an FTP control connection (ep, usually port 21) and its data
// connection on the port the control channel announces. In passive modes
// the client opens the data connection, in active modes the server does,
// from the port below the control port (20). Returns both plans.
func (s *Scenario) FTP(ep Endpoints, at time.Duration, sess FTPSession, opt TCPOptions) (ctrl, data *TCP) {
	if sess.User == "" {
		sess.User, sess.Password = "anonymous", "guest@"
	}
	if sess.Command == "" {
		sess.Command = "STOR"
	}
	if sess.File == "" && sess.Command != "LIST" {
		sess.File = "upload.bin"
	}
	if sess.Banner == "" {
		sess.Banner = "(vsFTPd 3.0.5)"
	}
	v6 := ep.Client.Unmap().Is6()
	mode := sess.Mode
	if v6 && mode == FTPPassive {
		mode = FTPExtPassive
	} else if v6 && mode == FTPActive {
		mode = FTPExtActive
	}
	port := sess.DataPort
	active := mode == FTPActive || mode == FTPExtActive
	if port == 0 {
		if active {
			port = s.EphemeralPort(ep.Client)
		} else {
			port = uint16(40000 + s.rng.IntN(10000))
		}
	}

	ctrl = s.TCP(ep, at, "ftp", opt)
	ctrl.Note("user", sess.User)
	ctrl.Note("command", sess.Command)
	if sess.File != "" {
		ctrl.Note("file", sess.File)
	}
	line := func(d Dir, think time.Duration, format string, args ...any) time.Duration {
		return ctrl.Send(d, String(fmt.Sprintf(format, args...)+"\r\n"), think)
	}
	const cmdThink, srvThink = 300 * time.Microsecond, 400 * time.Microsecond
	line(ToClient, srvThink, "220 %s", sess.Banner)
	line(ToServer, 2*time.Millisecond, "USER %s", sess.User)
	line(ToClient, srvThink, "331 Please specify the password.")
	line(ToServer, 5*time.Millisecond, "PASS %s", sess.Password)
	line(ToClient, 20*time.Millisecond, "230 Login successful.")
	line(ToServer, cmdThink, "TYPE I")
	line(ToClient, srvThink, "200 Switching to Binary mode.")

	dep := ep
	dopt := opt
	dopt.MidStream = false
	switch mode {
	case FTPPassive:
		line(ToServer, cmdThink, "PASV")
		a := ep.Server.Unmap().As4()
		line(ToClient, srvThink, "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff)
	case FTPExtPassive:
		line(ToServer, cmdThink, "EPSV")
		line(ToClient, srvThink, "229 Entering Extended Passive Mode (|||%d|)", port)
	case FTPActive:
		a := ep.Client.Unmap().As4()
		line(ToServer, cmdThink, "PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], port>>8, port&0xff)
		line(ToClient, srvThink, "200 PORT command successful. Consider using PASV.")
	case FTPExtActive:
		af := 1
		if v6 {
			af = 2
		}
		line(ToServer, cmdThink, "EPRT |%d|%s|%d|", af, ep.Client.Unmap(), port)
		line(ToClient, srvThink, "200 EPRT command successful. Consider using EPSV.")
	}
	if active {
		// The server connects back from the port below its control port.
		dep.Client, dep.Server = ep.Server, ep.Client
		dep.ClientMAC, dep.ServerMAC = ep.ServerMAC, ep.ClientMAC
		dep.ClientPort, dep.ServerPort = ep.ServerPort-1, port
		if x := ep.VXLAN; x != nil {
			vx := *x
			vx.ClientVTEP, vx.ServerVTEP = x.ServerVTEP, x.ClientVTEP
			dep.VXLAN = &vx
		}
		dopt.ServerLocal = !opt.ServerLocal
	} else {
		dep.ClientPort, dep.ServerPort = s.EphemeralPort(ep.Client), port
	}

	arg := sess.Command
	if sess.File != "" {
		arg += " " + sess.File
	}
	var t150 time.Duration
	if active {
		line(ToServer, cmdThink, "%s", arg)
		// The server opens the data connection on receiving the command and
		// announces the transfer once it is up.
		data = s.TCP(dep, ctrl.Now()+100*time.Microsecond, "ftp-data", dopt)
		ctrl.Wait(data.Now())
		t150 = line(ToClient, 100*time.Microsecond, "%s", reply150(sess))
	} else {
		// The client connects as soon as it has the port, then sends the
		// command; the server answers once it has both.
		data = s.TCP(dep, ctrl.Now()+200*time.Microsecond, "ftp-data", dopt)
		line(ToServer, 100*time.Microsecond, "%s", arg)
		ctrl.Wait(data.Now())
		t150 = line(ToClient, srvThink, "%s", reply150(sess))
	}
	data.Wait(t150 + 100*time.Microsecond)
	if sess.Command == "STOR" {
		data.Send(dataDir(active, ToServer), sess.Data, 0)
		data.Close(dataDir(active, ToServer), 100*time.Microsecond)
	} else {
		data.Send(dataDir(active, ToClient), sess.Data, 0)
		data.Close(dataDir(active, ToClient), 100*time.Microsecond)
	}
	ctrl.Wait(data.Now())
	if sess.Command == "LIST" {
		line(ToClient, srvThink, "226 Directory send OK.")
	} else {
		line(ToClient, srvThink, "226 Transfer complete.")
	}
	line(ToServer, 50*time.Millisecond, "QUIT")
	line(ToClient, srvThink, "221 Goodbye.")
	ctrl.Close(ToClient, 100*time.Microsecond)

	ctrl.Note("mode", [...]string{"PASV", "EPSV", "PORT", "EPRT"}[mode])
	ctrl.Note("data_port", strconv.Itoa(int(port)))
	data.Note("bytes", strconv.Itoa(sess.Data.Len()))
	if sess.File != "" {
		data.Note("file", sess.File)
	}
	return ctrl, data
}

// dataDir maps a direction between the FTP client and server to the data
// flow's, whose client is the FTP server in active mode.
func dataDir(active bool, d Dir) Dir {
	if active {
		return d.other()
	}
	return d
}

func reply150(sess FTPSession) string {
	switch sess.Command {
	case "RETR":
		return fmt.Sprintf("150 Opening BINARY mode data connection for %s (%d bytes).", sess.File, sess.Data.Len())
	case "LIST":
		return "150 Here comes the directory listing."
	}
	return "150 Ok to send data."
}

// FTPListing renders a Unix "ls -l" style directory listing, as LIST
// returns it.
func FTPListing(names []string, sizes []int) Payload {
	var b strings.Builder
	for i, n := range names {
		sz := 0
		if i < len(sizes) {
			sz = sizes[i]
		}
		fmt.Fprintf(&b, "-rw-r--r--    1 1000     1000     %8d Mar 01 11:58 %s\r\n", sz, n)
	}
	return String(b.String())
}
