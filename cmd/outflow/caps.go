package main

import (
	"fmt"
	"strconv"
	"strings"
)

// capability is a Linux capability a command needs, with what for.
type capability struct {
	bit  uint
	name string
	why  string
}

// senseCaps are the capabilities the sensor needs.
var senseCaps = []capability{
	{13, "CAP_NET_RAW", "open AF_PACKET capture sockets"},
	{12, "CAP_NET_ADMIN", "netlink link and socket queries"},
	{21, "CAP_SYS_ADMIN", "enter container network namespaces (setns)"},
	{19, "CAP_SYS_PTRACE", "read other processes' /proc/PID/ns and /proc/PID/fd"},
}

// capDacReadSearch can stand in for CAP_SYS_PTRACE for reading /proc.
const capDacReadSearch = 2

// spanCaps are the capabilities `span` needs.
var spanCaps = []capability{
	{13, "CAP_NET_RAW", "open AF_PACKET capture sockets"},
}

// missingCaps lists the sensor's capabilities absent from a CapEff line of
// /proc/self/status ("CapEff:\t0000003fffffffff"). ok is false when the
// status has no such line (not Linux), and nothing can be said.
func missingCaps(status string) (missing []string, ok bool) { return missingCapsOf(status, senseCaps) }

// missingCapsOf lists the capabilities of need absent from status.
func missingCapsOf(status string, need []capability) (missing []string, ok bool) {
	for _, line := range strings.Split(status, "\n") {
		hex, found := strings.CutPrefix(line, "CapEff:")
		if !found {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, false
		}
		for _, c := range need {
			if eff&(1<<c.bit) != 0 {
				continue
			}
			if c.name == "CAP_SYS_PTRACE" && eff&(1<<capDacReadSearch) != 0 {
				continue
			}
			missing = append(missing, fmt.Sprintf("%s (%s)", c.name, c.why))
		}
		return missing, true
	}
	return nil, false
}
