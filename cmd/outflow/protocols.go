package main

import (
	"outflow/flows/l7"
	"outflow/flows/l7/http"
	"outflow/flows/l7/rsync"
	"outflow/flows/l7/ssh"
	"outflow/flows/l7/tls"
)

// parsers is the application-protocol parsers outflow runs, in the order
// they are offered a flow when no port hints otherwise.
func parsers() []l7.Parser {
	return []l7.Parser{
		tls.New(),
		http.New(),
		ssh.New(),
		rsync.New(),
	}
}
