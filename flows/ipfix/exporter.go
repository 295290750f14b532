// Package ipfix exports flow records as IPFIX (RFC 7011) over UDP to a
// collector (nfcapd, pmacct, Logstash, ...).
//
// The Exporter is a flows.Observer: it takes a record at the same moments
// as the ECS record writer (EventEnd: the flow ended, or was cut at the
// active timeout) and copies it into a bounded queue; a sender goroutine
// packs records into messages of at most Config.MaxMessage bytes and sends
// them no faster than Config.Rate messages per second, so that a collector
// is not flooded when thousands of flows end at once. A full queue drops
// records (counted) unless Config.Wait lets the caller wait a bounded time,
// so the packet path is never held up for long. FlowEvent is safe for
// concurrent use: the tables of several workers may share one exporter.
//
// Each record is a biflow (RFC 5103): the initiator's counters in
// octetDeltaCount/packetDeltaCount, the responder's in the same elements
// under the reverse PEN 29305, which nfdump reads back as the flow's in and
// out counters (one record per flow, as outflow's own records). Two
// templates, IPv4 (256) and IPv6 (257), carry the 5-tuple, the counters,
// flowStartMilliseconds/flowEndMilliseconds, flowEndReason, TCP flags and
// the ICMP type and code, plus two enterprise-specific strings under
// Config.PEN (DefaultPEN): the container name (IEContainerName) and the
// application protocol (IEApplicationProtocol).
//
// Templates go out in the first message and again whenever
// TemplateInterval has passed or TemplateMessages messages have been sent
// since (RFC 7011 10.3.6: over UDP, templates are resent periodically,
// since a collector may start or restart at any time). The message
// sequence number counts the data records sent before it (RFC 7011 3.1).
package ipfix

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"outflow/flows"
)

// Defaults for Config.
const (
	DefaultRate             = 2000 // messages per second; about 32,000 records/s
	DefaultMaxMessage       = 1400 // bytes: fits a 1500-byte MTU with IP and UDP headers, and IPv6 tunnels
	DefaultQueue            = 32768
	DefaultTemplateInterval = time.Minute
	DefaultTemplateMessages = 1000
	DefaultMaxDelay         = time.Second
	DefaultDomain           = 1
)

// Config sets up an Exporter. Zero values take the defaults.
type Config struct {
	// Addr is the collector's HOST:PORT (UDP).
	Addr string
	// Domain is the Observation Domain ID in every message header: a
	// collector tells exporters (sensors) apart by address and domain.
	Domain uint32
	// Rate is the most messages sent per second (DefaultRate). Sends are
	// paced with a burst of at most Burst messages.
	Rate  int
	Burst int // default Rate/200, at least 1
	// MaxMessage is the largest message in bytes (DefaultMaxMessage).
	MaxMessage int
	// Queue is how many records wait for the sender at most (DefaultQueue).
	Queue int
	// Wait is how long FlowEvent waits for room in a full queue before it
	// drops the record: 0 never waits (live capture: the packet path must
	// not stall); reading files, waiting slows the reader to the export
	// rate instead of losing records.
	Wait time.Duration
	// TemplateInterval and TemplateMessages: templates are resent when
	// either has passed since they were last sent.
	TemplateInterval time.Duration
	TemplateMessages int
	// MaxDelay is the longest a record waits in a partly filled message.
	MaxDelay time.Duration
	// PEN is the private enterprise number of outflow's own elements
	// (DefaultPEN).
	PEN uint32
	// Container names the container that owns a flow ("" unknown); nil:
	// the element is sent empty.
	Container func(f *flows.Flow) string
}

func (c *Config) setDefaults() error {
	if c.Domain == 0 {
		c.Domain = DefaultDomain
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Rate < 0 {
		return fmt.Errorf("ipfix: rate %d: must be positive", c.Rate)
	}
	if c.Burst <= 0 {
		c.Burst = max(1, c.Rate/200)
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if m := minMessage(); c.MaxMessage < m || c.MaxMessage > 65535 {
		return fmt.Errorf("ipfix: message size %d: must be between %d and 65535", c.MaxMessage, m)
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.TemplateInterval <= 0 {
		c.TemplateInterval = DefaultTemplateInterval
	}
	if c.TemplateMessages <= 0 {
		c.TemplateMessages = DefaultTemplateMessages
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.PEN == 0 {
		c.PEN = DefaultPEN
	}
	return nil
}

// Stats counts what an Exporter did.
type Stats struct {
	Queued     uint64 // records accepted into the queue
	Dropped    uint64 // records dropped: the queue was full (or the exporter closed)
	Exported   uint64 // records in messages handed to the network
	Messages   uint64 // messages sent
	Templates  uint64 // messages that carried the templates
	SendErrors uint64 // messages the network refused (their records are lost)
	Waits      uint64 // FlowEvent calls that had to wait for room
	QueueLen   int    // records waiting now
}

// Exporter sends flow records to one collector. FlowEvent may be called
// from several goroutines (the tables of several workers): one sender
// numbers and paces all messages. Close once, after the last FlowEvent.
type Exporter struct {
	cfg    Config
	w      io.Writer
	queue  chan record
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	timers sync.Pool // *time.Timer for waits: none allocated per record

	stalled atomic.Bool // a wait timed out: do not wait again until there is room

	closed                                     atomic.Bool
	queued, dropped, exported, messages, templ atomic.Uint64
	sendErrs, waits                            atomic.Uint64
	firstErr                                   atomic.Pointer[error]
}

// New dials the collector (UDP) and starts the sender.
func New(cfg Config) (*Exporter, error) {
	if cfg.Addr == "" {
		return nil, errors.New("ipfix: no collector address")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	conn, err := net.Dial("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ipfix: collector %s: %w", cfg.Addr, err)
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		_ = uc.SetWriteBuffer(1 << 20) // a paced burst never waits for the kernel
	}
	return start(cfg, conn), nil
}

// NewWriter is New for a writer that takes one message per Write (tests,
// or a transport other than UDP); cfg.Addr is not used.
func NewWriter(cfg Config, w io.Writer) (*Exporter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return start(cfg, w), nil
}

func start(cfg Config, w io.Writer) *Exporter {
	e := &Exporter{cfg: cfg, w: w, queue: make(chan record, cfg.Queue), stop: make(chan struct{}), done: make(chan struct{})}
	e.timers.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	go e.run()
	return e
}

// FlowEvent implements flows.Observer: it queues a record at EventEnd.
func (e *Exporter) FlowEvent(ev flows.Event, f *flows.Flow) {
	if ev != flows.EventEnd {
		return
	}
	if e.closed.Load() {
		e.dropped.Add(1)
		return
	}
	var r record
	name := ""
	if e.cfg.Container != nil {
		name = e.cfg.Container(f)
	}
	r.fill(f, name)
	select {
	case e.queue <- r:
		e.queued.Add(1)
		if e.stalled.Load() {
			e.stalled.Store(false)
		}
		return
	default:
	}
	if e.cfg.Wait <= 0 || e.stalled.Load() {
		e.dropped.Add(1)
		return
	}
	e.waits.Add(1)
	t := e.timers.Get().(*time.Timer)
	t.Reset(e.cfg.Wait)
	select {
	case e.queue <- r:
		e.queued.Add(1)
	case <-t.C:
		// The sender is not keeping up at all: stop waiting until the
		// queue has room again, so that a stall costs one Wait, not one
		// per record.
		e.stalled.Store(true)
		e.dropped.Add(1)
	}
	t.Stop() // Go 1.23 timers: no stale tick survives Stop
	e.timers.Put(t)
}

// Close sends what is queued, then stops the sender. It returns the first
// send error, if any (sending goes on after errors: UDP collectors come and
// go).
func (e *Exporter) Close() error {
	e.once.Do(func() {
		e.closed.Store(true)
		close(e.stop)
		<-e.done
		if c, ok := e.w.(io.Closer); ok {
			_ = c.Close()
		}
	})
	if p := e.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns the counters; it may be called from any goroutine.
func (e *Exporter) Stats() Stats {
	return Stats{
		Queued: e.queued.Load(), Dropped: e.dropped.Load(), Exported: e.exported.Load(),
		Messages: e.messages.Load(), Templates: e.templ.Load(), SendErrors: e.sendErrs.Load(),
		Waits: e.waits.Load(), QueueLen: len(e.queue),
	}
}

// sender is the sender goroutine's state.
type sender struct {
	e         *Exporter
	enc       *encoder
	lastTempl time.Time // when templates were last sent (zero: never)
	sinceTmpl int       // messages since then
	opened    time.Time // when the first record entered the current message
	// Pacing: the theoretical arrival time of the next message (GCRA).
	tat      time.Time
	interval time.Duration
	now      func() time.Time // time.Now; tests drive a fake clock
	sleep    func(time.Duration)
}

func newSender(e *Exporter) *sender {
	return &sender{e: e, enc: newEncoder(e.cfg.MaxMessage, e.cfg.PEN, e.cfg.Domain),
		interval: time.Second / time.Duration(e.cfg.Rate), now: time.Now, sleep: time.Sleep}
}

func (e *Exporter) run() {
	defer close(e.done)
	s := newSender(e)
	s.begin(s.now())
	tick := time.NewTicker(min(e.cfg.MaxDelay/4, 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case r := <-e.queue:
			s.add(&r)
		case now := <-tick.C:
			if s.enc.records > 0 && now.Sub(s.opened) >= e.cfg.MaxDelay {
				s.flush()
			}
		case <-e.stop:
			// FlowEvent no longer queues (closed is set): drain what is left.
			for len(e.queue) > 0 {
				r := <-e.queue
				s.add(&r)
			}
			if s.enc.records > 0 {
				s.flush()
			}
			return
		}
	}
}

// begin starts a message, with the templates when they are due.
func (s *sender) begin(now time.Time) {
	s.enc.begin()
	s.templates(now)
}

// templates adds the template set to the current message, still empty,
// when it is due.
func (s *sender) templates(now time.Time) {
	if !s.enc.template && (s.lastTempl.IsZero() || now.Sub(s.lastTempl) >= s.e.cfg.TemplateInterval || s.sinceTmpl >= s.e.cfg.TemplateMessages) {
		s.enc.addTemplates()
	}
}

func (s *sender) add(r *record) {
	if s.enc.records == 0 {
		s.opened = s.now()
		// The message was begun when the last one went out, maybe long
		// ago: check again now that it gets its first record.
		s.templates(s.opened)
	}
	if s.enc.add(r) {
		return
	}
	s.flush()
	s.opened = s.now()
	if !s.enc.add(r) {
		// Cannot happen: setDefaults makes every record fit an empty
		// message. Count it rather than loop.
		s.e.dropped.Add(1)
	}
}

// flush paces, sends the current message and begins the next.
func (s *sender) flush() {
	now := s.pace()
	msg := s.enc.finish(uint32(now.Unix()))
	n := uint64(s.enc.records)
	if s.enc.template {
		s.lastTempl, s.sinceTmpl = now, 0
		s.e.templ.Add(1)
	}
	s.sinceTmpl++
	if _, err := s.e.w.Write(msg); err != nil {
		// UDP: the collector may be down (ICMP port unreachable shows as
		// a refused write); the records are lost, the next message goes.
		s.e.sendErrs.Add(1)
		if s.e.firstErr.Load() == nil {
			err = fmt.Errorf("ipfix: send to collector: %w", err)
			s.e.firstErr.CompareAndSwap(nil, &err)
		}
	} else {
		s.e.exported.Add(n)
	}
	s.e.messages.Add(1)
	s.begin(now)
}

// pace waits until the rate limit allows one more message and returns the
// time: at most Burst messages go back to back, then one per interval.
func (s *sender) pace() time.Time {
	now := s.now()
	if s.tat.Before(now) {
		s.tat = now
	}
	allowAt := s.tat.Add(-time.Duration(s.e.cfg.Burst-1) * s.interval)
	if d := allowAt.Sub(now); d > 0 {
		s.sleep(d)
		now = s.now()
	}
	s.tat = s.tat.Add(s.interval)
	return now
}
