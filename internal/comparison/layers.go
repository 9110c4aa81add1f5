// Package comparison measures, message by message, what each way of
// reaching a device costs on the wire: application payload, the
// application protocol's header (task header, CoAP), the security layer
// (ESP, MSSL record, DTLS record), UDP, IPv4 and SLIP framing. It is the
// analysis half of docs/COMPARISON.md (scripts/comparison.sh runs the
// sessions, internal/comparison/cmd/comparison drives them and calls this).
//
// Every figure is computed from the bytes of a recorded message: an IPv4
// packet of a serial link's recording (with its ESP opened by the session's
// SAs), an MSSL message, a DTLS datagram relayed between a client and the
// gateway. The same function accounts for a task request in ESP and a CoAP
// request in ESP (Packet), so a capture of CoAP over ESP is measured like
// the task rows.
package comparison

import (
	"encoding/binary"
	"fmt"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/slip"
)

// UDP ports that tell the application protocol inside UDP.
const (
	PortTasks = 7411 // the device's task service (docs/tasks.md)
	PortMSSL  = 7412 // MSSL (docs/mssl.md)
	PortCoAP  = 5683 // CoAP (RFC 7252)
	PortCoAPS = 5684 // CoAP over DTLS
)

// Layers are the bytes of one message per layer. Wire is the sum of all but
// SLIP's; Serial adds the SLIP framing (0 when the message does not cross a
// serial link).
type Layers struct {
	App       int `json:"app"`        // application payload: task arguments/result, CoAP payload
	AppHeader int `json:"app_header"` // task header, or CoAP header + token + options
	Security  int `json:"security"`   // ESP / MSSL record / DTLS record overhead, or a whole handshake message
	UDP       int `json:"udp"`
	IPv4      int `json:"ipv4"`
	SLIP      int `json:"slip"` // END bytes and escapes on the serial line
}

// Wire is the IPv4 packet's length (all layers but SLIP).
func (l Layers) Wire() int { return l.App + l.AppHeader + l.Security + l.UDP + l.IPv4 }

// Serial is what the serial line carries: the IPv4 packet SLIP-framed.
func (l Layers) Serial() int { return l.Wire() + l.SLIP }

// Add returns the sum of l and m.
func (l Layers) Add(m Layers) Layers {
	return Layers{l.App + m.App, l.AppHeader + m.AppHeader, l.Security + m.Security, l.UDP + m.UDP, l.IPv4 + m.IPv4, l.SLIP + m.SLIP}
}

// Message is one message on the wire, accounted by layer.
type Message struct {
	Dir    string `json:"dir"`   // "→" host to device (client to gateway), "←" back
	Label  string `json:"label"` // what it is: "task request adc", "ClientHello", ...
	Phase  string `json:"phase"` // PhaseSetup, PhaseRequest or PhaseClose
	Layers Layers `json:"layers"`
	// Cycles is the device's Timer1 count for the message (management
	// STATUS, last packet), for messages to the device; 0: not measured.
	Cycles uint32 `json:"cycles,omitempty"`
}

// Phases of a session.
const (
	PhaseSetup   = "setup"
	PhaseRequest = "request"
	PhaseClose   = "close"
)

// SLIPOverhead is what SLIP adds to pkt on the serial line: the END bytes
// around it and one byte per escaped END or ESC (pkg/slip encodes as the
// firmware does: END, the escaped bytes, END).
func SLIPOverhead(pkt []byte) int { return len(slip.Encode(pkt)) - len(pkt) }

// ipUDP splits an IPv4 packet: header length, protocol, and for UDP the
// ports and payload.
type ipUDP struct {
	hdr          int
	proto        byte
	sport, dport uint16
	payload      []byte // UDP payload, or the IP payload when not UDP
}

func parseIPv4(pkt []byte) (ipUDP, error) {
	h, err := ipv4.ReadFields(pkt)
	if err != nil {
		return ipUDP{}, fmt.Errorf("comparison: not an IPv4 packet (%d bytes): %w", len(pkt), err)
	}
	payload, ok := h.Payload(pkt)
	if !ok {
		return ipUDP{}, fmt.Errorf("comparison: malformed IPv4 header")
	}
	p := ipUDP{hdr: h.HeaderLen, proto: h.Protocol, payload: payload}
	if p.proto == ipv4.ProtoUDP {
		if len(p.payload) < ipv4.UDPHeaderLen {
			return ipUDP{}, fmt.Errorf("comparison: short UDP header")
		}
		p.sport = binary.BigEndian.Uint16(p.payload[0:2])
		p.dport = binary.BigEndian.Uint16(p.payload[2:4])
		p.payload = p.payload[ipv4.UDPHeaderLen:]
	}
	return p, nil
}

// Packet accounts one IPv4 packet of a serial link. When it is ESP, dec
// (the session's SAs) opens it and the inner packet is accounted the same
// way; the ESP overhead is the outer packet's length less the inner's. The
// UDP payload is split by port: the task service (PortTasks), CoAP
// (PortCoAP) or MSSL (PortMSSL). Label is the application's description.
func Packet(pkt []byte, dec *capture.Decryptor) (Layers, string, error) {
	outer, err := parseIPv4(pkt)
	if err != nil {
		return Layers{}, "", err
	}
	l := Layers{IPv4: outer.hdr, SLIP: SLIPOverhead(pkt)}
	inner := outer
	esp := outer.proto == ipv4.ProtoESP
	if esp {
		if dec == nil {
			return Layers{}, "", fmt.Errorf("comparison: an ESP packet and no SAs")
		}
		in, info := dec.Packet(nil, link.LinkTypeRaw, pkt)
		if info.Result != capture.Decrypted {
			return Layers{}, "", fmt.Errorf("comparison: ESP packet not opened: %s", info.Result)
		}
		if inner, err = parseIPv4(in); err != nil {
			return Layers{}, "", err
		}
		if inner.hdr != outer.hdr {
			return Layers{}, "", fmt.Errorf("comparison: tunnel-mode ESP is not accounted")
		}
		l.Security = len(pkt) - len(in)
	}
	if inner.proto != 17 {
		l.AppHeader = len(inner.payload) // ICMP and others: all header
		return l, fmt.Sprintf("IP protocol %d", inner.proto), nil
	}
	l.UDP = 8
	app, label, err := splitUDP(inner.sport, inner.dport, inner.payload)
	if err != nil {
		return Layers{}, "", err
	}
	if esp {
		label += " in ESP"
	}
	l.App, l.AppHeader, l.Security = app.App, app.AppHeader, l.Security+app.Security
	return l, label, nil
}

func splitUDP(sport, dport uint16, p []byte) (Layers, string, error) {
	switch {
	case dport == PortTasks:
		return splitTask(p, true)
	case sport == PortTasks:
		return splitTask(p, false)
	case dport == PortCoAP || sport == PortCoAP:
		return splitCoAP(p)
	case dport == PortMSSL || sport == PortMSSL:
		return splitMSSL(p)
	}
	return Layers{App: len(p)}, fmt.Sprintf("UDP %d→%d", sport, dport), nil
}

// Task messages (docs/tasks.md): a request is version, task, id (4 bytes)
// and the arguments; a reply adds a status byte before the result.
func splitTask(p []byte, request bool) (Layers, string, error) {
	h := 4
	kind := "task request"
	if !request {
		h, kind = 5, "task reply"
	}
	if len(p) < h {
		return Layers{}, "", fmt.Errorf("comparison: short %s (%d bytes)", kind, len(p))
	}
	return Layers{AppHeader: h, App: len(p) - h}, fmt.Sprintf("%s (task %d)", kind, p[1]), nil
}

// MSSL message types (docs/mssl.md, "Messages").
var msslNames = map[byte]string{
	0x01: "ClientHello", 0x02: "ServerHello", 0x03: "GrantSignature", 0x04: "SignatureRequest",
	0x05: "Alert", 0x06: "FloorSignature", 0x14: "Finished", 0x15: "Alert record", 0x17: "Data record", 0x18: "Floor record",
}

// MSSLRecordOverhead is a record's type (1), sequence number (4) and CCM
// tag (8).
const MSSLRecordOverhead = 13

// splitMSSL accounts one MSSL message: a Data record is its 13-byte record
// overhead around a task message; anything else belongs to the handshake
// (or the close) and counts as security in full. The task message inside
// a Data record is encrypted, so its split is the task format's: a request
// from the host, a reply from the device (told by the caller's port).
func splitMSSL(p []byte) (Layers, string, error) {
	if len(p) == 0 {
		return Layers{}, "", fmt.Errorf("comparison: empty MSSL message")
	}
	name := msslNames[p[0]]
	if name == "" {
		name = fmt.Sprintf("MSSL type 0x%02x", p[0])
	}
	if p[0] != 0x17 {
		return Layers{Security: len(p)}, name, nil
	}
	if len(p) < MSSLRecordOverhead {
		return Layers{}, "", fmt.Errorf("comparison: short MSSL record")
	}
	return Layers{Security: MSSLRecordOverhead, App: len(p) - MSSLRecordOverhead}, name, nil
}

// MSSLMessage accounts one MSSL message sent over UDP/IPv4 on a serial
// link, where pkt is the IPv4 packet. A Data record's plaintext is a task
// message: taskHeader (4 for a request, 5 for a reply) moves from App to
// AppHeader.
func MSSLMessage(pkt []byte, taskHeader int) (Layers, string, error) {
	l, label, err := Packet(pkt, nil)
	if err != nil {
		return l, label, err
	}
	if label == "Data record" {
		if l.App < taskHeader {
			return l, label, fmt.Errorf("comparison: MSSL data record shorter than a task header")
		}
		l.App -= taskHeader
		l.AppHeader += taskHeader
	}
	return l, label, nil
}

// splitCoAP splits a CoAP message (RFC 7252 §3): the 4-byte header, the
// token and the options are header; what follows the payload marker is
// payload (the marker counts as header).
func splitCoAP(p []byte) (Layers, string, error) {
	h, err := CoAPHeaderLen(p)
	if err != nil {
		return Layers{}, "", err
	}
	code := p[1]
	label := fmt.Sprintf("CoAP %d.%02d", code>>5, code&31)
	if code >= 1 && code <= 31 {
		label = "CoAP " + [...]string{"", "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH"}[min(int(code), 7)]
	}
	return Layers{AppHeader: h, App: len(p) - h}, label, nil
}

// CoAPHeaderLen is the length of a CoAP message's header, token, options
// and payload marker: everything but the payload.
func CoAPHeaderLen(p []byte) (int, error) {
	if len(p) < 4 || p[0]>>6 != 1 {
		return 0, fmt.Errorf("comparison: not a CoAP message")
	}
	i := 4 + int(p[0]&15)
	if i > len(p) {
		return 0, fmt.Errorf("comparison: CoAP token past the end")
	}
	for i < len(p) {
		if p[i] == 0xff {
			return i + 1, nil
		}
		d, l := int(p[i]>>4), int(p[i]&15)
		i++
		for _, v := range []*int{&d, &l} {
			switch *v {
			case 13:
				if i >= len(p) {
					return 0, fmt.Errorf("comparison: CoAP option past the end")
				}
				*v = 13 + int(p[i])
				i++
			case 14:
				if i+1 >= len(p) {
					return 0, fmt.Errorf("comparison: CoAP option past the end")
				}
				*v = 269 + int(binary.BigEndian.Uint16(p[i:]))
				i += 2
			case 15:
				return 0, fmt.Errorf("comparison: CoAP option with a reserved nibble")
			}
		}
		i += l
		if i > len(p) {
			return 0, fmt.Errorf("comparison: CoAP option past the end")
		}
	}
	return len(p), nil
}
