// Package crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value
// 0xFFFF, no reflection, no final XOR; "123456789" → 0x29B1): the checksum
// of management frames and of the EEPROM layout, as the firmware computes
// it.
package crc16

// Checksum is the CRC of b.
func Checksum(b []byte) uint16 { return Update(0xFFFF, b) }

// Update continues the CRC crc over b.
func Update(crc uint16, b []byte) uint16 {
	for _, x := range b {
		crc ^= uint16(x) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
