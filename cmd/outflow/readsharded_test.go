package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"outflow/capture"
)

// lendingCapture writes n UDP datagrams whose payloads check themselves:
// 8 bytes of the datagram's number d, then bytes d*7+i. Every fragEvery-th
// datagram is sent as two IPv4 fragments. Sizes vary so that records
// straddle the reader's buffers.
func lendingCapture(t *testing.T, path string, n, fragEvery int) (frames int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	write := func(i int, ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0).Add(time.Duration(i) * time.Millisecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		frames++
	}
	for d := range n {
		size := 8 + r.IntN(1400)
		frag := fragEvery > 0 && d%fragEvery == 0
		if frag {
			size = 2000 + r.IntN(1000)
		}
		p := make([]byte, size)
		binary.BigEndian.PutUint64(p, uint64(d))
		for i := 8; i < size; i++ {
			p[i] = byte(d*7 + i)
		}
		src := net.IPv4(10, 0, byte(d>>8), byte(d))
		dst := net.IPv4(10, 1, byte(r.IntN(4)), 1)
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst, Id: uint16(d)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(30000 + d%1000), DstPort: 7000}
		udp.SetNetworkLayerForChecksum(ip)
		if !frag {
			write(d, eth, ip, udp, gopacket.Payload(p))
			continue
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, udp, gopacket.Payload(p)); err != nil {
			t.Fatal(err)
		}
		dgram := buf.Bytes()
		cut := 1480
		first := *ip
		first.Flags = layers.IPv4MoreFragments
		write(d, eth, &first, gopacket.Payload(dgram[:cut]))
		second := *ip
		second.FragOffset = uint16(cut / 8)
		write(d, eth, &second, gopacket.Payload(dgram[cut:]))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return frames
}

// TestShardReaderLending runs the sharded reader over a capture many
// buffers long, with stand-in workers that take their time over each
// round, and checks every payload they see against its own pattern. A
// buffer lent again while a worker still had packets in it would show as
// another packet's bytes. It also checks that buffers are reused.
func TestShardReaderLending(t *testing.T) {
	const datagrams, fragEvery = 40000, 97
	path := filepath.Join(t.TempDir(), "lend.pcap")
	lendingCapture(t, path, datagrams, fragEvery)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	p := &shardedPipeline{cfg: shardConfig{}, workers: []*worker{{}, {}, {}}}
	r := newShardReader(p)
	var mu sync.Mutex
	seen := make([]int, datagrams)
	reassembled := 0
	var bad []string
	var wg sync.WaitGroup
	for i := range r.in {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 9))
			for b := range r.in[i] {
				// Slow down now and then: the reader runs ahead
				// as far as the queues let it.
				if rnd.IntN(4) == 0 {
					time.Sleep(time.Duration(rnd.IntN(300)) * time.Microsecond)
				}
				for k := range b.slots {
					s := &b.slots[k]
					if int(s.worker) != i {
						continue
					}
					pl := s.hdr.Payload
					d := -1
					if len(pl) >= 8 {
						d = int(binary.BigEndian.Uint64(pl))
					}
					ok := d >= 0 && d < datagrams
					for j := 8; ok && j < len(pl); j++ {
						ok = pl[j] == byte(d*7+j)
					}
					mu.Lock()
					if !ok {
						if len(bad) < 5 {
							bad = append(bad, fmt.Sprintf("worker %d round %d seq %d: payload of %d bytes does not match datagram %d", i, b.round, s.seq, len(pl), d))
						}
					} else {
						seen[d]++
						if s.hdr.Reassembled {
							reassembled++
						}
					}
					mu.Unlock()
				}
				r.done[i].Store(b.round)
			}
		}()
	}
	unreadable, _ := readCaptures(context.Background(), []string{path}, r, slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(string) int { return 0 }, r.add)
	r.close()
	wg.Wait()
	if unreadable != 0 {
		t.Fatal("capture unreadable")
	}
	for _, b := range bad {
		t.Error(b)
	}
	for d, n := range seen {
		if n != 1 {
			t.Fatalf("datagram %d seen %d times", d, n)
		}
	}
	if want := (datagrams + fragEvery - 1) / fragEvery; reassembled != want {
		t.Errorf("%d reassembled datagrams, want %d", reassembled, want)
	}
	// Without reuse every buffer is a new one.
	if fileBufs := int(st.Size() / capture.BufferSize); r.made == 0 || r.made > fileBufs/2 {
		t.Errorf("%d buffers made for a file of %d buffers", r.made, fileBufs)
	}
	t.Logf("%d bytes, %d buffers made", st.Size(), r.made)
}
