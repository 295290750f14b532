package filter

import (
	"testing"

	"golang.org/x/net/bpf"

	"outflow/capture"
)

// FuzzCompile: any expression either fails with an error or compiles to a
// program the kernel's rules accept (forward jumps in range, ends in a
// return) that runs on packets without error.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"tcp port 80", "host 10.0.0.1 and not (udp or icmp6)", "net 2001:db8::/32", "port 53 or 123",
		"src or dst portrange 1-1024", "ether src 02:00:00:00:00:01", "ip6 proto \\udp", "less 64 || greater 1500", "net 10 mask 255.0.0.0"} {
		f.Add(s)
	}
	frames := [][]byte{
		nil,
		{0x00},
		make([]byte, 14),
		// Ethernet, IPv4 TCP 10.0.0.1:80 -> 10.0.0.2:1234
		{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 4, 210, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 2, 0, 0, 0, 0, 0, 0},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, link := range []capture.LinkType{capture.LinkEthernet, capture.LinkRaw} {
			prog, err := Compile(expr, link, 1500)
			if err != nil {
				continue
			}
			if len(prog) == 0 || len(prog) > maxInsns {
				t.Fatalf("%q: %d instructions", expr, len(prog))
			}
			raw, err := bpf.Assemble(prog)
			if err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			for i, r := range raw {
				if r.Op&0x07 == 0x05 { // BPF_JMP
					if i+1+int(r.Jt) >= len(raw) || i+1+int(r.Jf) >= len(raw) || r.Op == 0x05 && i+1+int(r.K) >= len(raw) {
						t.Fatalf("%q: jump out of the program at %d", expr, i)
					}
				}
			}
			if _, ok := prog[len(prog)-1].(bpf.RetConstant); !ok {
				t.Fatalf("%q: does not end in a return", expr)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			for _, fr := range frames {
				if _, err := vm.Run(fr); err != nil {
					t.Fatalf("%q: %v", expr, err)
				}
			}
		}
	})
}
