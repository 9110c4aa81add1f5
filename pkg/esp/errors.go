package esp

import "errors"

// Errors returned by the per-packet operations. Callers branch on them with
// errors.Is. They are preallocated, so that failing packets cost no
// allocation either.
var (
	// ErrAuth is the single, opaque error for any packet that does not
	// authenticate: wrong ICV, wrong key, modified bytes. It never says why.
	ErrAuth = errors.New("esp: authentication failed")
	// ErrReplay reports a sequence number that was already received or lies
	// to the left of the anti-replay window (RFC 4303 §3.4.3).
	ErrReplay = errors.New("esp: replayed or too old sequence number")
	// ErrMalformed reports a packet that is not well-formed ESP or IP. The
	// returned error wraps ErrMalformed with a detail.
	ErrMalformed = errors.New("esp: malformed packet")
	// ErrUnknownSPI reports a packet whose SPI does not belong to the SA (or,
	// for SA-lookup layers, to any SA).
	ErrUnknownSPI = errors.New("esp: unknown SPI")
	// ErrNotESP reports an IP packet that carries no ESP: another protocol,
	// an RFC 3948 NAT-keepalive or a non-ESP-marked (IKE) datagram.
	ErrNotESP = errors.New("esp: not an ESP packet")
	// ErrDummy reports an authenticated dummy packet (next header 59, RFC
	// 4303 §2.6) which carries nothing and is to be dropped.
	ErrDummy = errors.New("esp: dummy packet")
	// ErrSeqExhausted reports that an outbound SA has used every sequence
	// number (2^32-1 without ESN, RFC 4303 §3.3.3) and must be rekeyed.
	ErrSeqExhausted = errors.New("esp: sequence number space exhausted, rekey the SA")
)

// malformed is an ErrMalformed with a detail. Values are package-level
// variables so that returning one does not allocate.
type malformed struct{ msg string }

func (e *malformed) Error() string { return "esp: malformed packet: " + e.msg }
func (e *malformed) Unwrap() error { return ErrMalformed }

var (
	errShort       = &malformed{"too short"}
	errBlockAlign  = &malformed{"ciphertext is not a whole number of blocks"}
	errPadLen      = &malformed{"pad length exceeds payload"}
	errPadBytes    = &malformed{"padding bytes are not 1, 2, 3, ..."}
	errIPVersion   = &malformed{"not an IPv4 or IPv6 packet"}
	errIPHeader    = &malformed{"bad IP header"}
	errIPLength    = &malformed{"IP length exceeds the packet"}
	errFragment    = &malformed{"IP fragment (reassemble first)"}
	errUDPLength   = &malformed{"bad UDP length"}
	errNextHeader  = &malformed{"next header is not an IP packet in tunnel mode"}
	errInnerPacket = &malformed{"inner packet does not match its next header"}
	errTooLong     = &malformed{"packet too long"}
	errAddrFamily  = &malformed{"address family does not match the SA"}
)

var errRandom = errors.New("esp: reading the IV source failed")
