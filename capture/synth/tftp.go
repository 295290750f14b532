package synth

import (
	"encoding/binary"
	"strconv"
	"time"
)

// TFTP opcodes (RFC 1350).
const (
	tftpRRQ  = 1
	tftpWRQ  = 2
	tftpDATA = 3
	tftpACK  = 4
)

// TFTPBlockSize is the RFC 1350 data block size; a shorter block ends a
// transfer.
const TFTPBlockSize = 512

// TFTPRequest builds an RRQ (write false) or WRQ: opcode, file name and
// mode, each string NUL-terminated.
func TFTPRequest(write bool, file, mode string) []byte {
	op := uint16(tftpRRQ)
	if write {
		op = tftpWRQ
	}
	b := binary.BigEndian.AppendUint16(nil, op)
	b = append(append(b, file...), 0)
	return append(append(b, mode...), 0)
}

// TFTPData is DATA block number block carrying data (at most 512 bytes).
func TFTPData(block uint16, data Payload) Payload {
	return Concat(Bytes([]byte{0, tftpDATA, byte(block >> 8), byte(block)}), data)
}

// TFTPAck acknowledges block.
func TFTPAck(block uint16) []byte { return []byte{0, tftpACK, byte(block >> 8), byte(block)} }

// TFTPTransfer describes one TFTP transfer for Scenario.TFTP.
type TFTPTransfer struct {
	Write     bool   // WRQ (upload); otherwise RRQ (download)
	File      string // default "config.txt"
	Mode      string // default "octet"
	Data      Payload
	ServerTID uint16 // the server's port for the transfer; 0 picks one
}

// TFTP plans a transfer: the request from the client to ep.ServerPort (69
// when zero), then the lock-step DATA/ACK exchange between the client's
// port and a new server port, which is a separate flow. That flow starts
// with a server packet (DATA 1 or ACK 0), so its record names the server as
// client, as a flow meter sees it. Returns the request and transfer plans.
func (s *Scenario) TFTP(ep Endpoints, at time.Duration, x TFTPTransfer, opt UDPOptions) (req, xfer *UDP) {
	if ep.ServerPort == 0 {
		ep.ServerPort = 69
	}
	if x.File == "" {
		x.File = "config.txt"
	}
	if x.Mode == "" {
		x.Mode = "octet"
	}
	tid := x.ServerTID
	if tid == 0 {
		tid = uint16(49152 + s.rng.IntN(16383))
	}
	req = s.UDP(ep, at, "tftp", opt)
	t := req.Send(ToServer, Bytes(TFTPRequest(x.Write, x.File, x.Mode)), 0)

	xep := ep
	xep.Client, xep.Server = ep.Server, ep.Client
	xep.ClientMAC, xep.ServerMAC = ep.ServerMAC, ep.ClientMAC
	xep.ClientPort, xep.ServerPort = tid, ep.ClientPort
	if v := ep.VXLAN; v != nil {
		vx := *v
		vx.ClientVTEP, vx.ServerVTEP = v.ServerVTEP, v.ClientVTEP
		vx.SourcePort = 0
		xep.VXLAN = &vx
	}
	xfer = s.UDP(xep, at, "tftp", opt)
	rtt := time.Duration(req.rtt)
	const local = 150 * time.Microsecond // the client's turnaround
	// In the transfer flow the TFTP server is the client side: ToServer
	// carries what the TFTP server sends.
	srv, cli := ToServer, ToClient
	n := x.Data.Len()
	blocks := n/TFTPBlockSize + 1 // the last block is short, maybe empty
	t += rtt                      // the server's first answer
	if x.Write {
		xfer.SendAt(srv, Bytes(TFTPAck(0)), t)
		for b := 1; b <= blocks; b++ {
			t += local
			xfer.SendAt(cli, TFTPData(uint16(b), x.Data.Slice((b-1)*TFTPBlockSize, TFTPBlockSize)), t)
			t += rtt
			xfer.SendAt(srv, Bytes(TFTPAck(uint16(b))), t)
		}
	} else {
		for b := 1; b <= blocks; b++ {
			xfer.SendAt(srv, TFTPData(uint16(b), x.Data.Slice((b-1)*TFTPBlockSize, TFTPBlockSize)), t)
			t += local
			xfer.SendAt(cli, Bytes(TFTPAck(uint16(b))), t)
			t += rtt
		}
	}
	op := "RRQ"
	if x.Write {
		op = "WRQ"
	}
	for _, u := range []*UDP{req, xfer} {
		u.Note("op", op)
		u.Note("file", x.File)
	}
	xfer.Note("role", "transfer")
	xfer.Note("bytes", strconv.Itoa(n))
	return req, xfer
}
