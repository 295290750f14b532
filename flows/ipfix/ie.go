package ipfix

// Information elements used in outflow's templates (IANA "IPFIX Information
// Elements" registry, RFC 7012), their RFC 5103 reverse forms and outflow's
// enterprise-specific elements.
const (
	ieOctetDeltaCount          = 1
	iePacketDeltaCount         = 2
	ieProtocolIdentifier       = 4
	ieTCPControlBits           = 6
	ieSourceTransportPort      = 7
	ieSourceIPv4Address        = 8
	ieDestinationTransportPort = 11
	ieDestinationIPv4Address   = 12
	ieSourceIPv6Address        = 27
	ieDestinationIPv6Address   = 28
	ieICMPTypeCodeIPv4         = 32
	ieICMPTypeCodeIPv6         = 139
	ieFlowEndReason            = 136
	ieFlowStartMilliseconds    = 152
	ieFlowEndMilliseconds      = 153
)

// ReversePEN is the private enterprise number that RFC 5103 uses to mark
// the reverse-direction counterpart of a standard element in a biflow.
const ReversePEN = 29305

// DefaultPEN is the private enterprise number under which outflow's own
// elements are sent unless Config.PEN says otherwise. outflow has no PEN
// of its own: 32473 is the number IANA reserves for documentation and
// examples (RFC 5612), which no real enterprise uses, so the elements
// cannot be mistaken for another vendor's. A deployment that owns a PEN
// sets it in Config.PEN.
const DefaultPEN = 32473

// outflow's enterprise-specific elements (under Config.PEN). Both are
// variable-length strings (UTF-8).
const (
	// IEContainerName is container.name of the flow's record: the
	// container (or pod's container) that owns the flow.
	IEContainerName = 1
	// IEApplicationProtocol is network.protocol: the application protocol
	// identified on the flow ("http", "tls", "dns", ...).
	IEApplicationProtocol = 2
)

// flowEndReason values (IANA registry for IE 136).
const (
	endIdleTimeout   = 1
	endActiveTimeout = 2
	endOfFlow        = 3 // FIN or RST
	endForced        = 4 // end of input, shutdown
	endLackResources = 5 // evicted from a full table
)

// Template IDs (data set IDs start at 256).
const (
	TemplateIPv4 = 256
	TemplateIPv6 = 257
)

const (
	setIDTemplate = 2
	headerLen     = 16
	setHeaderLen  = 4
	varLen        = 0xffff // field length of a variable-length element
	// maxString is the longest string sent: the one-byte length prefix
	// (RFC 7011 7) covers it, and a record always fits a message.
	maxString = 254
)

// field is one template field.
type field struct {
	id     uint16
	length uint16 // varLen for strings
	pen    uint32 // 0: IANA element
}

// templateFields returns the fields of the IPv4 or IPv6 data template in
// the order records are encoded (encodeRecord follows it).
func templateFields(v6 bool, pen uint32) []field {
	src, dst, icmp := uint16(ieSourceIPv4Address), uint16(ieDestinationIPv4Address), uint16(ieICMPTypeCodeIPv4)
	alen := uint16(4)
	if v6 {
		src, dst, icmp, alen = ieSourceIPv6Address, ieDestinationIPv6Address, ieICMPTypeCodeIPv6, 16
	}
	return []field{
		{id: src, length: alen},
		{id: dst, length: alen},
		{id: ieSourceTransportPort, length: 2},
		{id: ieDestinationTransportPort, length: 2},
		{id: ieProtocolIdentifier, length: 1},
		{id: icmp, length: 2},
		// tcpControlBits is unsigned16 since RFC 7125; reduced-size
		// encoding carries the eight flags outflow tracks, and is what
		// older collectors expect. The reverse flags come first: nfdump
		// (1.7) stores both in one field, and the last one written wins.
		{id: ieTCPControlBits, length: 1, pen: ReversePEN},
		{id: ieTCPControlBits, length: 1},
		{id: ieOctetDeltaCount, length: 8},
		{id: iePacketDeltaCount, length: 8},
		{id: ieOctetDeltaCount, length: 8, pen: ReversePEN},
		{id: iePacketDeltaCount, length: 8, pen: ReversePEN},
		{id: ieFlowStartMilliseconds, length: 8},
		{id: ieFlowEndMilliseconds, length: 8},
		{id: ieFlowEndReason, length: 1},
		{id: IEContainerName, length: varLen, pen: pen},
		{id: IEApplicationProtocol, length: varLen, pen: pen},
	}
}

// fixedLen is the size of a record of the template without its strings'
// contents (one length byte each).
func fixedLen(v6 bool) int {
	if v6 {
		return 16 + 16 + 2 + 2 + 1 + 2 + 1 + 1 + 8*4 + 8 + 8 + 1 + 1 + 1
	}
	return 4 + 4 + 2 + 2 + 1 + 2 + 1 + 1 + 8*4 + 8 + 8 + 1 + 1 + 1
}
