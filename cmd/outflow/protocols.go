package main

import (
	"outflow/flows/l7"
	"outflow/flows/l7/dhcp"
	"outflow/flows/l7/dns"
	"outflow/flows/l7/ftp"
	"outflow/flows/l7/http"
	"outflow/flows/l7/ntp"
	"outflow/flows/l7/rpc"
	"outflow/flows/l7/rsync"
	"outflow/flows/l7/sip"
	"outflow/flows/l7/smb"
	"outflow/flows/l7/ssh"
	"outflow/flows/l7/tftp"
	"outflow/flows/l7/tls"
)

// parsers is the application-protocol parsers outflow runs. Port hints
// decide who is asked first; otherwise this order: the cheapest and most
// common probes first.
func parsers() []l7.Parser {
	ps := []l7.Parser{
		tls.New(),
		http.New(),
		dns.New(),
		ssh.New(),
		smb.New(),
		ftp.New(),
		tftp.New(),
		rsync.New(),
		ntp.New(),
		dhcp.New(),
		sip.New(),
	}
	return append(ps, rpc.Parsers()...)
}
