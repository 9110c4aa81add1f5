package device

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/provision"
)

// cmdStatus is STATUS (docs/firmware-net.md, "Management channel additions").
const cmdStatus = 0x05

// IDENTIFY option bits added with the IP stack (docs/firmware-net.md).
const (
	OptIPStack     = 1 << 4 // IPv4 stack and ESP built
	OptProvisioned = 1 << 5 // the EEPROM configuration passed its checks
)

// Unprovisioned reasons of STATUS.
var StatusReasons = map[byte]string{
	0: "provisioned",
	1: "blank EEPROM",
	2: "bad magic",
	3: "unsupported layout version",
	4: "config length does not fit",
	5: "config CRC mismatch",
	6: "bad field",
	7: "no valid state slot",
	8: "inbound SA not usable by this firmware",
	9: "outbound SA not usable by this firmware",
}

// Status is the device's answer to STATUS: provisioning, SAs, sequence
// state, the cost of the last IPv4 packet and the task-service counters.
type Status struct {
	Provisioned bool       `json:"provisioned"`
	Reason      byte       `json:"reason"`
	ReasonText  string     `json:"reason_text"`
	Suites      byte       `json:"suites"`
	Flags       byte       `json:"flags"`
	DeviceID    uint32     `json:"device_id"`
	Addr        netip.Addr `json:"address"`
	Peer        netip.Addr `json:"peer"`
	InSPI       uint32     `json:"in_spi"`
	InSuite     byte       `json:"in_suite"`
	InFlags     byte       `json:"in_flags"`
	OutSPI      uint32     `json:"out_spi"`
	OutSuite    byte       `json:"out_suite"`
	OutFlags    byte       `json:"out_flags"`
	Generation  uint32     `json:"generation"`
	OutReserved uint32     `json:"esp_out_reserved"`
	OutNext     uint32     `json:"esp_out_next"`
	InFloor     uint32     `json:"esp_in_floor"`
	InHighest   uint32     `json:"esp_in_highest"`
	BootCount   uint16     `json:"boot_count"`
	LastCycles  uint32     `json:"last_packet_cycles"`
	LastLength  uint16     `json:"last_packet_length"`
	LastResult  byte       `json:"last_packet_result"` // 0 answered, 1 dropped
	Counters    []uint32   `json:"counters"`
}

// Status reads the device's STATUS.
func (d *Device) Status(ctx context.Context) (*Status, error) {
	p, err := d.request(ctx, cmdStatus, nil, 0)
	if err != nil {
		return nil, err
	}
	c := cursor{b: p, ok: true}
	s := &Status{Provisioned: c.u8() == 1, Reason: c.u8(), Suites: c.u8(), Flags: c.u8(), DeviceID: c.u32()}
	s.Addr = netip.AddrFrom4([4]byte(pad(c.bytes(4))))
	s.Peer = netip.AddrFrom4([4]byte(pad(c.bytes(4))))
	s.InSPI, s.InSuite, s.InFlags = c.u32(), c.u8(), c.u8()
	s.OutSPI, s.OutSuite, s.OutFlags = c.u32(), c.u8(), c.u8()
	s.Generation, s.OutReserved, s.OutNext, s.InFloor, s.InHighest = c.u32(), c.u32(), c.u32(), c.u32(), c.u32()
	s.BootCount = c.u16()
	s.LastCycles, s.LastLength, s.LastResult = c.u32(), c.u16(), c.u8()
	k := int(c.u8())
	for range k {
		s.Counters = append(s.Counters, c.u32())
	}
	if !c.ok || len(c.b) != 0 {
		return nil, fmt.Errorf("device: malformed status reply (%d bytes)", len(p))
	}
	s.ReasonText = StatusReasons[s.Reason]
	if s.ReasonText == "" {
		s.ReasonText = fmt.Sprintf("reason %d", s.Reason)
	}
	return s, nil
}

// SuiteList is Suites as esp suites (bit s-1 for esp.Suite s), in
// suite order.
func (s *Status) SuiteList() []esp.Suite {
	var l []esp.Suite
	for i := range 8 {
		if s.Suites&(1<<i) != 0 {
			l = append(l, esp.Suite(i+1))
		}
	}
	return l
}

// Firmware describes the device's firmware for provision.Firmware.Check:
// its MCU, EEPROM and version from IDENTIFY, its ESP suites from STATUS.
// Source is "the device's firmware VERSION"; callers may name the port.
func (d *Device) Firmware(ctx context.Context) (*provision.Firmware, error) {
	info, err := d.ensureInfo(ctx)
	if err != nil {
		return nil, err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &provision.Firmware{
		Source: "the device's firmware " + info.Firmware, MCU: info.MCU, EEPROM: info.EEPROM,
		Version: info.Firmware, Suites: st.SuiteList(),
	}, nil
}

func pad(b []byte) []byte {
	if len(b) < 4 {
		return make([]byte, 4)
	}
	return b
}
