// Package netlab is a test kit for end-to-end tests against real servers:
// it builds a throwaway lab of two network namespaces, a client and a
// server, joined by a veth pair, runs programs inside them, captures their
// traffic with tcpdump and tears everything down when the test ends, pass
// or fail.
//
// The lab's addresses (10.231.N.1-2/24, fd00:231:0:N::1-2/64) exist only
// inside its two namespaces: nothing routes them anywhere else, so the
// traffic a test makes never leaves the lab.
//
// Labs need Linux, root and the ip command; elsewhere New skips the test.
// Setting OUTFLOW_NETLAB_REQUIRE=1 turns those skips into failures, for a
// CI that must not pass by skipping.
package netlab
