package esp_test

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/mstool/mstool/pkg/esp"
)

func Example() {
	sa := &esp.SA{
		SPI:    0x1234,
		Suite:  esp.SuiteAES128CCM8,
		EncKey: make([]byte, esp.SuiteAES128CCM8.EncKeyLen()), // use real random keys
		Mode:   esp.Tunnel,
		Src:    netip.MustParseAddr("192.0.2.1"),
		Dst:    netip.MustParseAddr("192.0.2.2"),
	}
	out, err := esp.NewOutbound(sa)
	if err != nil {
		panic(err)
	}
	in, err := esp.NewInbound(sa)
	if err != nil {
		panic(err)
	}
	// A minimal IPv4 packet (header only, protocol 253 "experimental").
	inner := []byte{0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}

	buf := make([]byte, 0, 1500) // reused for every packet: no allocation
	sealed, err := out.SealPacket(buf, inner)
	if err != nil {
		panic(err)
	}
	h, _ := esp.ParsePacket(sealed)
	fmt.Printf("SPI %#x seq %d, %d bytes on the wire\n", h.SPI, h.Seq, len(sealed))

	opened, err := in.OpenPacket(nil, sealed)
	fmt.Println(bytes.Equal(opened, inner), err)
	_, err = in.OpenPacket(nil, sealed)
	fmt.Println(err)
	// Output:
	// SPI 0x1234 seq 1, 68 bytes on the wire
	// true <nil>
	// esp: replayed or too old sequence number
}
