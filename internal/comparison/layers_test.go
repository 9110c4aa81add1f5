package comparison

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ipv4"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The DTLS 1.2 record of RFC 7400, Figure 16, which
// draft-ietf-iotops-security-protocol-comparison counts as 29 bytes of
// overhead around 6 bytes of ciphertext.
func TestDTLS12RecordAsPublished(t *testing.T) {
	rec := unhex(t, "17 fe fd 00 01 00 00 00 00 00 05 00 16 00 01 00 00 00 00 00 05 ae a0 15 56 67 92 4d ff 8a 24 e4 cb 35 b9")
	l, label, err := DTLSDatagram(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Security != 29 || l.App != 6 || l.UDP != 8 || l.IPv4 != 20 || label != "application data" {
		t.Fatalf("got %+v %q, want security 29, app 6", l, label)
	}
}

func TestDTLSHandshakeAndCoAP(t *testing.T) {
	// Two records in one datagram: ChangeCipherSpec (epoch 0) and an
	// encrypted Finished (epoch 1, 40 bytes).
	d := unhex(t, "14 fefd 0000 000000000005 0001 01")
	d = append(d, unhex(t, "16 fefd 0001 000000000000 0028")...)
	d = append(d, make([]byte, 40)...)
	l, label, err := DTLSDatagram(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Security != len(d) || label != "ChangeCipherSpec, Finished (encrypted)" {
		t.Fatalf("got %+v %q", l, label)
	}
	// An application-data record whose plaintext is a known CoAP GET.
	get := unhex(t, "44 01 1234 a1a2a3a4 b1 34 41 33")
	rec := unhex(t, "17 fefd 0001 000000000001 001c")
	rec = append(rec, make([]byte, len(get)+16)...)
	l, label, err = DTLSDatagram(rec, func(n int) []byte { return get })
	if err != nil {
		t.Fatal(err)
	}
	if l.Security != 29 || l.AppHeader != 12 || l.App != 0 || label != "CoAP GET" {
		t.Fatalf("got %+v %q", l, label)
	}
}

func TestCoAPHeaderLen(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want int
	}{
		{"44 01 1234 a1a2a3a4 b1 34 41 33", 12},                      // GET /4?3, 4-byte token
		{"64 45 1234 a1a2a3a4 c0 ff 02 00", 10},                      // 2.05, Content-Format 0, payload 0200
		{"40 01 0001 d1 0e 61", 7},                                   // an extended option number (delta 13 + 14)
		{"40 01 0001 bd 03 " + strings.Repeat("61", 16), 5 + 1 + 16}, // an extended option length (13 + 3)
	} {
		got, err := CoAPHeaderLen(unhex(t, c.msg))
		if err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.msg, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "44 01 12", "80 01 0000", "48 01 0000 01", "40 01 0000 f0", "40 01 0000 14 61"} {
		if _, err := CoAPHeaderLen(unhex(t, bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSLIPOverhead(t *testing.T) {
	if got := SLIPOverhead([]byte{1, 2, 3}); got != 2 {
		t.Errorf("no escapes: %d, want 2", got)
	}
	if got := SLIPOverhead([]byte{0xc0, 0xdb, 3}); got != 4 {
		t.Errorf("two escapes: %d, want 4", got)
	}
}

// A task request sealed in ESP (CCM-8, transport mode) is accounted as its
// layers: ESP = header 8 + IV 8 + padding + pad length and next header 2 +
// ICV 8. The same function accounts CoAP in ESP (row d).
func TestESPPacket(t *testing.T) {
	sa := &esp.SA{SPI: 0x1234, Suite: esp.SuiteAES128CCM8, EncKey: make([]byte, esp.SuiteAES128CCM8.EncKeyLen()), Mode: esp.Transport,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	dec, err := capture.NewDecryptor([]*esp.SA{sa})
	if err != nil {
		t.Fatal(err)
	}
	out, err := esp.NewOutbound(sa)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dport   uint16
		payload string
		want    Layers
		label   string
	}{
		// UDP 8 + 5 = 13, + 2 = 15, padded to 16: 1 byte of padding.
		{PortTasks, "01 04 0001 03", Layers{App: 1, AppHeader: 4, Security: 8 + 8 + 1 + 2 + 8, UDP: 8, IPv4: 20}, "task request (task 4) in ESP"},
		{PortCoAP, "44 01 1234 a1a2a3a4 b1 34 41 33", Layers{App: 0, AppHeader: 12, Security: 8 + 8 + 2 + 2 + 8, UDP: 8, IPv4: 20}, "CoAP GET in ESP"},
	} {
		inner, err := ipv4.AppendUDP(nil, &ipv4.Header{TTL: 64, Protocol: 17, Src: sa.Src, Dst: sa.Dst}, 50000, c.dport, unhex(t, c.payload))
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := out.SealPacket(nil, inner)
		if err != nil {
			t.Fatal(err)
		}
		l, label, err := Packet(pkt, dec)
		if err != nil {
			t.Fatal(err)
		}
		c.want.SLIP = SLIPOverhead(pkt)
		if l != c.want || label != c.label {
			t.Errorf("port %d: %+v %q, want %+v %q", c.dport, l, label, c.want, c.label)
		}
		if l.Wire() != len(pkt) {
			t.Errorf("port %d: layers sum to %d, packet is %d bytes", c.dport, l.Wire(), len(pkt))
		}
	}
}

// An MSSL Data record over UDP: 13 bytes of record around a task message.
func TestMSSLMessage(t *testing.T) {
	rec := append([]byte{0x17, 0, 0, 0, 1}, make([]byte, 5+8)...) // task request (4 + 1) and tag
	pkt, err := ipv4.AppendUDP(nil, &ipv4.Header{TTL: 64, Protocol: 17, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}, 50000, PortMSSL, rec)
	if err != nil {
		t.Fatal(err)
	}
	l, label, err := MSSLMessage(pkt, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := Layers{App: 1, AppHeader: 4, Security: 13, UDP: 8, IPv4: 20, SLIP: SLIPOverhead(pkt)}
	if l != want || label != "Data record" {
		t.Fatalf("%+v %q, want %+v", l, label, want)
	}
}
