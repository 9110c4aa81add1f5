package comparison

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// DTLS 1.2 record layer (RFC 6347 §4.1): content type (1), version (2),
// epoch (2), sequence number (6), length (2).
const DTLSRecordHeader = 13

// DTLSCCM8Overhead is what TLS_PSK_WITH_AES_128_CCM_8 adds to a protected
// record's plaintext (RFC 6655 §3): the 8-byte explicit nonce and the
// 8-byte tag.
const DTLSCCM8Overhead = 16

// UDPIPv4Headers: a UDP datagram in an IPv4 packet without options.
const UDPIPv4Headers = 8 + 20

var dtlsHandshakeNames = map[byte]string{
	1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest", 11: "Certificate",
	12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
	15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished",
}

// DTLSDatagram accounts one UDP datagram of DTLS 1.2 with the CCM-8 suite
// (one or more records). Handshake, ChangeCipherSpec and alert records
// count as security in full; an application-data record counts its header,
// explicit nonce and tag as security and its plaintext, a CoAP message
// (RFC 7252; RFC 7925 profile), by CoAP's split. coap gives the plaintext of
// each application-data record in order (the relay does not decrypt: the
// caller passes the CoAP messages it knows were sent, or nil to count the
// plaintext as payload). UDP and IPv4 headers are the 28 bytes of an IPv4
// packet without options; there is no SLIP (the client leg is a network).
func DTLSDatagram(d []byte, coap func(n int) []byte) (Layers, string, error) {
	l := Layers{UDP: 8, IPv4: 20}
	var names []string
	for len(d) > 0 {
		if len(d) < DTLSRecordHeader {
			return Layers{}, "", fmt.Errorf("comparison: short DTLS record header")
		}
		typ := d[0]
		epoch := binary.BigEndian.Uint16(d[3:5])
		n := int(binary.BigEndian.Uint16(d[11:13]))
		if DTLSRecordHeader+n > len(d) {
			return Layers{}, "", fmt.Errorf("comparison: DTLS record past the datagram")
		}
		body := d[DTLSRecordHeader : DTLSRecordHeader+n]
		d = d[DTLSRecordHeader+n:]
		switch typ {
		case 20:
			names = append(names, "ChangeCipherSpec")
			l.Security += DTLSRecordHeader + n
		case 21:
			names = append(names, "Alert")
			l.Security += DTLSRecordHeader + n
		case 22:
			if epoch == 0 && n > 0 {
				// Several handshake fragments may share a record.
				for b := body; len(b) >= 12; {
					fl := int(b[9])<<16 | int(b[10])<<8 | int(b[11])
					name := dtlsHandshakeNames[b[0]]
					if name == "" {
						name = fmt.Sprintf("handshake type %d", b[0])
					}
					names = append(names, name)
					if 12+fl > len(b) {
						break
					}
					b = b[12+fl:]
				}
			} else {
				names = append(names, "Finished (encrypted)")
			}
			l.Security += DTLSRecordHeader + n
		case 23:
			if n < DTLSCCM8Overhead {
				return Layers{}, "", fmt.Errorf("comparison: DTLS application data shorter than CCM-8's nonce and tag")
			}
			l.Security += DTLSRecordHeader + DTLSCCM8Overhead
			pt := n - DTLSCCM8Overhead
			var msg []byte
			if coap != nil {
				msg = coap(pt)
			}
			if msg != nil && len(msg) == pt {
				a, label, err := splitCoAP(msg)
				if err != nil {
					return Layers{}, "", err
				}
				l.App += a.App
				l.AppHeader += a.AppHeader
				names = append(names, label)
			} else {
				l.App += pt
				names = append(names, "application data")
			}
		default:
			return Layers{}, "", fmt.Errorf("comparison: DTLS content type %d", typ)
		}
	}
	return l, strings.Join(names, ", "), nil
}
