package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/fwimage"
)

// Firmware is what the firmware that reads an EEPROM image runs, as far as
// the image depends on it: a firmware build accepts an SA only in a suite
// it was built with, and treats the device as unprovisioned otherwise
// (STATUS reasons 8 and 9, docs/firmware-net.md). Check refuses such an
// image before it is written.
type Firmware struct {
	// Source names the firmware in errors: an image path, or the device
	// on a port.
	Source string
	// MCU and EEPROM (bytes) are the part the firmware runs on ("", 0 if
	// unknown).
	MCU    string
	EEPROM int
	// Version is the firmware version ("" if unknown).
	Version string
	// Suites are the ESP suites compiled in.
	Suites []esp.Suite
	// MSSLSealOnly: the firmware's MSSL verifies no RSA (seal-only).
	MSSLSealOnly bool
	// Bootstrap: the firmware takes a bootstrapped config (SAs derived
	// from the master key, docs/bootstrap.md).
	Bootstrap bool
}

// Errors callers can branch on.
var (
	// ErrNoSuites: a build manifest that does not list the image's ESP
	// suites (written by hand or by an older firmware/Makefile).
	ErrNoSuites = errors.New("provision: the build manifest does not list the image's ESP suites")
)

// FirmwareFile describes the firmware image at path (.elf or .hex) from
// the build manifest next to it (fwimage.ManifestFor; its errors
// fwimage.ErrNoManifest and fwimage.ErrManifestMismatch, and ErrNoSuites,
// mean the image cannot be checked).
func FirmwareFile(path string) (*Firmware, error) {
	m, err := fwimage.ManifestFor(path)
	if err != nil {
		return nil, err
	}
	return FirmwareFromManifest(m, path)
}

// FirmwareFromManifest describes the image a build manifest was written
// for; source names it.
func FirmwareFromManifest(m *fwimage.Manifest, source string) (*Firmware, error) {
	if m.ESPSuites == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoSuites, source)
	}
	f := &Firmware{Source: source, MCU: m.MCU, EEPROM: m.EEPROM, Version: m.Firmware, MSSLSealOnly: m.MSSL && m.MSSLSealOnly, Bootstrap: m.Bootstrap}
	for _, name := range m.ESPSuites {
		s, err := esp.ParseSuite(name)
		if err != nil {
			return nil, fmt.Errorf("provision: build manifest of %s: %w", source, err)
		}
		f.Suites = append(f.Suites, s)
	}
	return f, nil
}

// Has reports whether the firmware runs suite s.
func (f *Firmware) Has(s esp.Suite) bool {
	for _, h := range f.Suites {
		if h == s {
			return true
		}
	}
	return false
}

// SuiteNames lists the firmware's suites, comma-separated ("none" if it
// has none).
func (f *Firmware) SuiteNames() string {
	if len(f.Suites) == 0 {
		return "none"
	}
	names := make([]string, len(f.Suites))
	for i, s := range f.Suites {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// SuiteError is Check's refusal: an SA of the configuration uses a suite
// the firmware was not built with.
type SuiteError struct {
	Suite    esp.Suite
	Firmware *Firmware
}

func (e *SuiteError) Error() string {
	return fmt.Sprintf("provision: the SAs use %s, which the firmware (%s) does not run", e.Suite, e.Firmware.Source)
}

// ErrPolicyNeedsRSA: a configuration whose MSSL policy requires the
// grant signature (Config.MSSLSealOK false, an issuer given) for a
// firmware that verifies no RSA: it would refuse every grant.
var ErrPolicyNeedsRSA = errors.New("provision: the MSSL policy requires RSA-signed grants, but the firmware verifies no RSA (MSSL seal-only)")

// ErrNoBootstrap: a bootstrapped config (Config.Bootstrap) for a firmware
// built without bootstrapping, which would refuse it (unprovisioned).
var ErrNoBootstrap = errors.New("provision: the firmware is built without bootstrapping (CONFIG_BOOTSTRAP, profile esp-mssl-boot): it refuses a bootstrapped config")

// Check refuses a configuration the firmware would not use: one whose
// SAs are in a suite it was not built with (*SuiteError), or whose MSSL
// policy needs RSA on a seal-only firmware (ErrPolicyNeedsRSA). A
// configuration without SAs passes.
func (f *Firmware) Check(cfg *Config) error {
	if f.MSSLSealOnly && cfg.Issuer != nil && !cfg.MSSLSealOK {
		return fmt.Errorf("%w (%s)", ErrPolicyNeedsRSA, f.Source)
	}
	if cfg.Bootstrap != nil && !f.Bootstrap {
		return fmt.Errorf("%w (%s)", ErrNoBootstrap, f.Source)
	}
	for _, sa := range []*esp.SA{cfg.Inbound, cfg.Outbound} {
		if sa != nil && !f.Has(sa.Suite) {
			return &SuiteError{Suite: sa.Suite, Firmware: f}
		}
	}
	return nil
}
