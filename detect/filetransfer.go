package detect

import (
	"fmt"
	"strings"

	"outflow/flows"
	"outflow/flows/ecs"
	"outflow/flows/l7"
)

// FileTransferRule is T1071.002: C2 or staging over file-transfer protocols.
var FileTransferRule = &Rule{
	Name:        "file-transfer",
	Description: "A file-transfer protocol session (FTP, TFTP, SMB, NFS, rsync) moved file data.",
	Technique:   Technique{"T1071.002", "Application Layer Protocol: File Transfer Protocols"},
	Tactic:      "Command and Control",
	TacticID:    "TA0011",
}

// techExfilAlt is added for uploads.
var techExfilAlt = Technique{"T1048", "Exfiltration Over Alternative Protocol"}

// FileTransferConfig tunes the file-transfer detector.
type FileTransferConfig struct {
	// MinBytes of file data before a session alerts (0: any file data or
	// any file command that moves data).
	MinBytes uint64
	// StandardPorts per protocol; a session elsewhere is more suspicious.
	StandardPorts map[string][]uint16
	// LargeBytes raises severity (default 10 MB).
	LargeBytes uint64
}

// DefaultStandardPorts are the IANA ports of the file-transfer protocols.
var DefaultStandardPorts = map[string][]uint16{
	"ftp": {21}, "ftp-data": {20}, "tftp": {69}, "smb": {445, 139}, "nfs": {2049}, "mountd": {}, "rsync": {873},
}

// listingOps list directories rather than move files.
var listingOps = map[string]bool{"LIST": true, "NLST": true, "MLSD": true, "MLST": true, "READDIR": true, "READDIRPLUS": true}

// fileProtocols are the protocols this detector looks at.
var fileProtocols = map[string]bool{"ftp": true, "ftp-data": true, "tftp": true, "smb": true, "nfs": true, "rsync": true}

// FileTransfer alerts on file-transfer sessions that move file data.
type FileTransfer struct {
	cfg FileTransferConfig
}

// NewFileTransfer builds the detector.
func NewFileTransfer(cfg FileTransferConfig) *FileTransfer {
	if cfg.StandardPorts == nil {
		cfg.StandardPorts = DefaultStandardPorts
	}
	if cfg.LargeBytes == 0 {
		cfg.LargeBytes = 10 << 20
	}
	return &FileTransfer{cfg: cfg}
}

func (d *FileTransfer) Name() string { return FileTransferRule.Name }

// Wants implements EventFilter: nothing has moved at a flow's start.
func (d *FileTransfer) Wants(ev flows.Event, _ bool) bool { return ev != flows.EventStart }

func (d *FileTransfer) Tick(int64, Sink)  {}
func (d *FileTransfer) Flush(int64, Sink) {}

// Observe looks at identified file-transfer flows whenever they report
// progress, so an alert comes while the transfer runs, not only at its end.
func (d *FileTransfer) Observe(ev flows.Event, f *Flow, sink Sink) {
	if ev == flows.EventStart || !fileProtocols[f.Protocol] {
		return
	}
	s := f.Summary()
	// File data is what file operations moved; directory listings are not
	// files. Protocols that report no operations count all their data.
	var moved, up, down uint64
	var names []string
	dir := l7.TransferUnknown
	for _, op := range s.Files {
		if listingOps[op.Op] {
			continue
		}
		if op.Name != "" && len(names) < 8 {
			names = append(names, op.Name)
		}
		moved += op.Bytes
		switch op.Dir {
		case l7.TransferUpload:
			up += op.Bytes
			dir = l7.TransferUpload
		case l7.TransferDownload:
			down += op.Bytes
			if dir == l7.TransferUnknown {
				dir = l7.TransferDownload
			}
		}
	}
	if len(s.Files) == 0 {
		moved, up, down = s.Uploaded+s.Downloaded, s.Uploaded, s.Downloaded
		if up > 0 {
			dir = l7.TransferUpload
		} else if down > 0 {
			dir = l7.TransferDownload
		}
	}
	if moved == 0 || moved < d.cfg.MinBytes {
		return
	}
	upload := dir == l7.TransferUpload
	standard := false
	for _, p := range d.cfg.StandardPorts[f.Protocol] {
		if p == f.DstPort {
			standard = true
		}
	}
	if f.Protocol == "ftp-data" || f.Protocol == "tftp" && f.DstPort != 69 {
		// Data channels sit on negotiated ports by design; their control
		// session carries the port verdict.
		standard = true
	}
	sev := 1
	if upload {
		sev++
	}
	if f.Egress() {
		sev++
	}
	if !standard {
		sev++
	}
	if moved >= d.cfg.LargeBytes {
		sev++
	}
	sev = min(sev, 4)
	a := &Alert{Rule: FileTransferRule, Severity: sev, Risk: float64(min(100, 20*sev+int(min(moved>>20, 20))))}
	a.FromFlow(f)
	if upload {
		a.Techniques = []Technique{techExfilAlt}
	}
	where := "an internal"
	if f.Egress() {
		where = "an external"
	}
	port := ""
	if !standard {
		port = fmt.Sprintf(" on non-standard port %d", f.DstPort)
	}
	files := ""
	if len(names) > 0 {
		files = " (" + strings.Join(names, ", ") + ")"
	}
	amount := fmt.Sprintf("%s %d bytes of files", verb(dir), moved)
	if up > 0 && down > 0 {
		amount = fmt.Sprintf("moved %d bytes of files (%d uploaded, %d downloaded)", moved, up, down)
	}
	a.Message = fmt.Sprintf("%s %s over %s with %s server %s%s%s",
		f.Entity, amount, strings.ToUpper(f.Protocol), where, f.Dst, port, files)
	// No Update flag: the sink writes again only if the severity rises
	// (an upload seen later, a large volume reached).
	user := s.User
	a.Evidence = func(doc *ecs.Doc) {
		doc.Str("outflow.file_transfer.direction", dir.String())
		doc.Uint("outflow.file_transfer.bytes", moved)
		doc.Uint("outflow.file_transfer.uploaded_bytes", up)
		doc.Uint("outflow.file_transfer.downloaded_bytes", down)
		doc.Strs("outflow.file_transfer.files", names)
		doc.Bool("outflow.file_transfer.standard_port", standard)
		doc.Str("outflow.file_transfer.user", user)
		if len(names) > 0 {
			doc.Str("file.name", names[0])
		}
	}
	sink.Raise(a)
}

func verb(d l7.TransferDir) string {
	switch d {
	case l7.TransferUpload:
		return "uploaded"
	case l7.TransferDownload:
		return "downloaded"
	}
	return "transferred"
}
