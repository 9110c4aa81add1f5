package crc16

import "testing"

func TestCheckValue(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("Checksum(123456789) = %04x, want 29b1 (CRC-16/CCITT-FALSE)", got)
	}
	if got := Update(Checksum([]byte("1234")), []byte("56789")); got != 0x29B1 {
		t.Fatalf("in two parts: %04x", got)
	}
}
