package provision

import (
	"errors"
	"testing"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/fwimage"
)

// Check refuses an SA in a suite the firmware lacks, either direction, and
// names the suite and the firmware; no SAs pass.
func TestFirmwareCheck(t *testing.T) {
	fw, err := FirmwareFromManifest(&fwimage.Manifest{MCU: "atmega168", ESPSuites: []string{"aes128-ccm8"}, EEPROM: 512}, "fw168.elf")
	if err != nil || fw.MCU != "atmega168" || fw.EEPROM != 512 || fw.SuiteNames() != "aes128-ccm8" {
		t.Fatalf("%+v, %v", fw, err)
	}
	cfg := testConfig(t) // inbound CCM-8, outbound CBC-MD5
	var se *SuiteError
	if err := fw.Check(cfg); !errors.As(err, &se) || se.Suite != esp.SuiteAES128CBCHMACMD5 || se.Firmware != fw {
		t.Fatalf("outbound suite missing: %v", err)
	}
	if want := "provision: the SAs use aes128-cbc-hmac-md5-96, which the firmware (fw168.elf) does not run"; se.Error() != want {
		t.Errorf("error %q, want %q", se.Error(), want)
	}
	cfg.Inbound.Suite, cfg.Outbound.Suite = esp.SuiteAES128CCM16, esp.SuiteAES128CCM8
	if err := fw.Check(cfg); !errors.As(err, &se) || se.Suite != esp.SuiteAES128CCM16 {
		t.Fatalf("inbound suite missing: %v", err)
	}
	cfg.Inbound.Suite = esp.SuiteAES128CCM8
	if err := fw.Check(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Inbound, cfg.Outbound = nil, nil
	if err := (&Firmware{}).Check(cfg); err != nil {
		t.Fatalf("no SAs, no suites: %v", err)
	}
}

func TestFirmwareFromManifestRejects(t *testing.T) {
	if _, err := FirmwareFromManifest(&fwimage.Manifest{MCU: "atmega328p"}, "old.elf"); !errors.Is(err, ErrNoSuites) {
		t.Errorf("manifest without suites: %v", err)
	}
	if _, err := FirmwareFromManifest(&fwimage.Manifest{ESPSuites: []string{"rot13"}}, "odd.elf"); err == nil {
		t.Error("unknown suite accepted")
	}
	fw, err := FirmwareFromManifest(&fwimage.Manifest{ESPSuites: []string{}}, "none.elf")
	if err != nil || fw.SuiteNames() != "none" || fw.Has(esp.SuiteAES128CCM8) {
		t.Errorf("no suites: %+v, %v", fw, err)
	}
}

// A seal-only firmware (manifest mssl_seal_only) refuses a configuration
// with an issuer whose MSSL policy requires RSA; the policy flag survives
// Build and Parse.
func TestFirmwareCheckSealOnly(t *testing.T) {
	fw, err := FirmwareFromManifest(&fwimage.Manifest{MCU: "atmega168", ESPSuites: []string{"aes128-ccm8"}, EEPROM: 512,
		MSSL: true, MSSLSealOnly: true}, "mssl168.elf")
	if err != nil || !fw.MSSLSealOnly {
		t.Fatalf("%+v, %v", fw, err)
	}
	cfg := testConfig(t)
	cfg.Inbound, cfg.Outbound = nil, nil
	if err := fw.Check(cfg); !errors.Is(err, ErrPolicyNeedsRSA) {
		t.Fatalf("RSA policy on a seal-only firmware: %v", err)
	}
	cfg.MSSLSealOK = true
	if err := fw.Check(cfg); err != nil {
		t.Fatal(err)
	}
	img, err := Build(cfg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if img[offFlags]&flagSealOK == 0 {
		t.Fatalf("flags %#02x", img[offFlags])
	}
	got, _, err := Parse(img)
	if err != nil || !got.MSSLSealOK {
		t.Fatalf("parse: %+v %v", got, err)
	}
}
