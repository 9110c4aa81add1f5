package device

import (
	"context"
	"errors"
)

// Description is what a device tells about itself without a key, in
// the commands any mstool firmware answers: IDENTIFY (who it is), STATUS
// (provisioned or why not, its id, address and SAs, the suites built),
// PROV INFO (whether it takes a provisioning) and STATS (why it last
// reset). `mstool identify` shows it.
type Description struct {
	Info *Info
	// Status, Prov and Stats are nil when the firmware answers that
	// command as unknown.
	Status *Status
	Prov   *ProvInfo
	Stats  *Stats
}

// Describe asks the device everything it tells without a key. Only
// IDENTIFY must be answered; a command the firmware does not know leaves
// its part of the Description nil. Any other error (no answer, a
// malformed reply) is returned as is: ErrNoAnswer when nothing answers
// IDENTIFY.
func (d *Device) Describe(ctx context.Context) (*Description, error) {
	info, err := d.Identify(ctx)
	if err != nil {
		return nil, err
	}
	desc := &Description{Info: info}
	if desc.Status, err = d.Status(ctx); unknownCommand(err) {
		desc.Status = nil
	} else if err != nil {
		return nil, err
	}
	if desc.Prov, err = d.ProvisionInfo(ctx); unknownCommand(err) {
		desc.Prov = nil
	} else if err != nil {
		return nil, err
	}
	if desc.Stats, err = d.Stats(ctx); unknownCommand(err) {
		desc.Stats = nil
	} else if err != nil {
		return nil, err
	}
	return desc, nil
}

func unknownCommand(err error) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Code == ErrCodeCommand
}

// ResetCauses names the bits of ResetCause (MCUSR at boot:
// docs/management.md, STATS): "power-on", "external", "brown-out",
// "watchdog"; none when it is 0.
func (s *Stats) ResetCauses() []string {
	var names []string
	for _, c := range []struct {
		bit  byte
		name string
	}{{0x01, "power-on"}, {0x02, "external"}, {0x04, "brown-out"}, {0x08, "watchdog"}} {
		if s.ResetCause&c.bit != 0 {
			names = append(names, c.name)
		}
	}
	return names
}

// Config flags of Status.Flags (docs/eeprom.md, offset 3).
const (
	ConfigGroup     = 0x01 // device in a group (group id and key)
	ConfigIssuer    = 0x02 // grant issuer key present (MSSL)
	ConfigClearICMP = 0x04 // ICMP echo answered without ESP
)

// HasIssuer reports whether the device's configuration holds a grant
// issuer key, without which MSSL refuses every grant.
func (s *Status) HasIssuer() bool { return s.Flags&ConfigIssuer != 0 }
