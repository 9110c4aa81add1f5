package inetsum

import (
	"net/netip"
	"testing"
)

func TestChecksum(t *testing.T) {
	// RFC 1071 section 3's example words.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b); got != 0x220d {
		t.Fatalf("Checksum = %04x, want 220d", got)
	}
	if got, want := Checksum([]byte{0x01}), ^uint16(0x0100); got != want {
		t.Fatalf("odd length: %04x, want %04x", got, want)
	}
}

func TestUDPVerifies(t *testing.T) {
	for _, a := range [][2]string{{"10.0.0.1", "10.0.0.2"}, {"2001:db8::1", "2001:db8::2"}} {
		src, dst := netip.MustParseAddr(a[0]), netip.MustParseAddr(a[1])
		u := []byte{0x12, 0x34, 0x11, 0x94, 0, 11, 0, 0, 'a', 'b', 'c'}
		c := UDP(src, dst, u)
		u[6], u[7] = byte(c>>8), byte(c)
		if got := Fold(Sum(Pseudo(src, dst, 17, len(u)), u)); got != 0xffff {
			t.Fatalf("%s: the datagram with its checksum sums to %04x, want ffff", a[0], got)
		}
	}
}
