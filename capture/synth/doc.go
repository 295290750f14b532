// Package synth generates deterministic packet captures with known ground
// truth, for testing and benchmarking outflow.
//
// A Scenario holds flow plans: TCP connections (handshake, messages in both
// directions segmented at the MSS with correct sequence and acknowledgement
// numbers, FIN or RST close, optionally seen from mid-stream), UDP flows and
// ICMP echo. Application helpers build complete sessions on top: DNS, HTTP,
// TLS, SSH, FTP with its data connection, TFTP, SMB2 and NFSv3. Their
// payload builders (DNSQuery, ClientHello, SMB2Conn, NFSConn, ...) are
// exported for tests that need single messages.
//
// A Writer runs a scenario: it merges the packets of all open flows on a
// min-heap keyed by each flow's next timestamp and serialises them with
// gopacket (lengths and checksums computed) into pcap or pcapng, optionally
// gzip-compressed. Packet bytes are built only when written, filler payload
// comes from fixed pools, so memory follows the number of open flows, not
// the number of packets, and steady-state writing does not allocate.
//
// Every random choice derives from the scenario seed (math/rand/v2 PCG and
// SplitMix64), so the same calls produce byte-identical files. Writer.Run
// returns a Manifest counted from the packets written: per flow the 5-tuple,
// packets and IP bytes by direction, times, application label and facts a
// parser should recover (SNI, host, file names, ...).
//
// Timing model: the capture point is the client's host (a container host's
// egress). Client packets are seen as sent; server packets one round trip
// after what they answer. Each step of a plan starts after the previous one
// has been acknowledged, which keeps sequence numbers and time order
// consistent without simulating congestion control or windows. IP
// fragmentation is not modelled: UDP payloads must fit the MTU.
//
// Bench and Demo are the two canned scenarios; testdata/gen is their
// command line.
package synth
