package main

// Bootstrapping's key commit under power cuts, and the device's refusals,
// on the simulated ATmega328P running the esp-mssl-boot image: flight 4
// goes straight to the management channel (the server's part is the Go
// code pkg/bootstrap tests), so that every EEPROM write of a join can be
// cut (mssim's MSSIM_EE_CUT: the harness stops dead right after the Nth
// write, as a power loss would). After each cut the rebooted device must
// be provisioned and run IK with IK's SAs, or the PSK with the PSK's, and
// a join under the key it holds must complete.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/sim"
)

// bootSim is one enrolled device image and what the host knows of it.
type bootSim struct {
	t            *testing.T
	elf, harness string
	image        []byte // the EEPROM image provision --bootstrap wrote
	dir          string
	dev          uint32
	ik           [bootstrap.KeySize]byte
	rni          [bootstrap.RNSize]byte
	runs         int
	writes       int // EEPROM writes of the last run (MSSIM_EE_CUT)
	cut          bool
}

func newBootSim(t *testing.T) *bootSim {
	elf := testenv.Artifact(t, "firmware/build/profile/esp-mssl-boot/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "bootstrap", "enrol", "--repo", p("devices.repo"), "--id", "0x2a", "-o", p("labels"))
	devFile := p("labels/0000002a.device")
	data, err := os.ReadFile(devFile)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bootstrap.ParseEnrolled(data)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--quiet", "provision", "--bootstrap", devFile, "--ip", simDevA, "--firmware", elf, "-o", p("dev.hex"))
	raw, _, err := sim.PrepareEEPROM(p("dev.hex"), "atmega328p")
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &bootSim{t: t, elf: elf, harness: harness, image: img, dir: dir, dev: e.Device, ik: e.IK, rni: e.RNi}
}

var eeWrites = regexp.MustCompile(`eeprom-writes=(\d+)`)

// run starts the simulator on the EEPROM file ee (cut: MSSIM_EE_CUT, -1
// off), opens the management channel and calls f; it records the EEPROM
// writes the harness counted and whether it cut the power.
func (b *bootSim) run(ee string, cut int, f func(d *device.Device)) {
	t := b.t
	t.Helper()
	b.runs++
	if cut >= 0 {
		t.Setenv("MSSIM_EE_CUT", strconv.Itoa(cut))
	} else {
		t.Setenv("MSSIM_EE_CUT", "")
	}
	var errs bytes.Buffer
	s, err := sim.Start(context.Background(), sim.Options{Harness: b.harness, Firmware: b.elf, EEPROM: ee, Stderr: &errs})
	if err != nil {
		t.Fatal(err)
	}
	d, err := device.Open(s.Port, &device.Options{Timeout: 2 * time.Second, Retries: -1})
	if err != nil {
		s.Stop()
		t.Fatalf("open: %v\n%s", err, errs.String())
	}
	f(d)
	d.Close()
	s.Stop()
	b.writes, b.cut = 0, false
	if m := eeWrites.FindStringSubmatch(errs.String()); m != nil {
		b.writes, _ = strconv.Atoi(m[1])
		b.cut = bytes.Contains(errs.Bytes(), []byte("power cut"))
	} else if cut >= 0 {
		t.Fatalf("the harness did not count EEPROM writes:\n%s", errs.String())
	}
}

// fresh writes the enrolled image to a new EEPROM file.
func (b *bootSim) fresh(name string) string {
	ee := filepath.Join(b.dir, name)
	if err := os.WriteFile(ee, b.image, 0o600); err != nil {
		b.t.Fatal(err)
	}
	return ee
}

// join sends flight 4 under key and checks the reply: flight 5 under the
// PSK it returns (ok), or the NAK code (nak, ok false). A reply lost to a
// power cut returns ok false and nak 0.
func (b *bootSim) join(d *device.Device, key [bootstrap.KeySize]byte, id uint32, tid bootstrap.TID, rni, rnc [bootstrap.RNSize]byte) (psk [bootstrap.KeySize]byte, nak byte, ok bool) {
	b.t.Helper()
	r, err := d.Bootstrap(context.Background(), bootstrap.MarshalRekey(key, id, tid, rni, rnc))
	if err != nil {
		return psk, 0, false
	}
	if _, code, err := bootstrap.ParseNAK(r); err == nil {
		return psk, code, false
	}
	psk = bootstrap.DerivePSK(key, rni, rnc)
	if err := bootstrap.OpenProof(psk, r, b.dev, tid, rnc); err != nil {
		b.t.Fatalf("flight 5 does not open under the PSK: %v (%x)", err, r)
	}
	return psk, 0, true
}

// spis are the SPIs of the SAs derived from key (the device's inbound,
// then outbound).
func derivedSPIs(t *testing.T, key [bootstrap.KeySize]byte) [2]uint32 {
	f, err := bootstrap.DeriveSAs(key, safile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return [2]uint32{f.Outbound[0].SPI, f.Inbound[0].SPI}
}

func status(t *testing.T, d *device.Device) *device.Status {
	t.Helper()
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBootstrapSimRefusals(t *testing.T) {
	b := newBootSim(t)
	ee := b.fresh("refusals.eep")
	tid := bootstrap.TID{1, 2, 3, 4, 5, 6, 7, 8}
	rnc := [bootstrap.RNSize]byte{0x5c}
	b.run(ee, -1, func(d *device.Device) {
		if st := status(t, d); !st.Provisioned || [2]uint32{st.InSPI, st.OutSPI} != derivedSPIs(t, b.ik) {
			t.Fatalf("before the join: provisioned %v, SPIs %#x %#x: not IK's", st.Provisioned, st.InSPI, st.OutSPI)
		}
		// a wrong IK, another device's flight 4 (or a label of another
		// device), a forged RN_i: NAKs, nothing changes
		if _, nak, _ := b.join(d, [bootstrap.KeySize]byte{0xee}, b.dev, tid, b.rni, rnc); nak != bootstrap.NAKAuth {
			t.Errorf("wrong IK: NAK %d", nak)
		}
		if _, nak, _ := b.join(d, b.ik, b.dev+1, tid, b.rni, rnc); nak != bootstrap.NAKNotMine {
			t.Errorf("flight 4 for another device: NAK %d", nak)
		}
		other := b.rni
		other[0] ^= 1
		if _, nak, _ := b.join(d, b.ik, b.dev, tid, other, rnc); nak != bootstrap.NAKLabel {
			t.Errorf("another RN_i: NAK %d", nak)
		}
		if st := status(t, d); [2]uint32{st.InSPI, st.OutSPI} != derivedSPIs(t, b.ik) {
			t.Fatal("a refused flight 4 changed the SAs")
		}
		// the join; a retransmission gets the same flight 5, no new commit
		f4 := bootstrap.MarshalRekey(b.ik, b.dev, tid, b.rni, rnc)
		r1, err := d.Bootstrap(context.Background(), f4)
		if err != nil {
			t.Fatal(err)
		}
		psk := bootstrap.DerivePSK(b.ik, b.rni, rnc)
		if err := bootstrap.OpenProof(psk, r1, b.dev, tid, rnc); err != nil {
			t.Fatalf("flight 5: %v", err)
		}
		gen := status(t, d).Generation
		if r2, err := d.Bootstrap(context.Background(), f4); err != nil || !bytes.Equal(r1, r2) {
			t.Fatalf("retransmitted flight 4: %v, same reply %v", err, bytes.Equal(r1, r2))
		}
		if st := status(t, d); st.Generation != gen || [2]uint32{st.InSPI, st.OutSPI} != derivedSPIs(t, psk) {
			t.Fatal("the retransmission committed again, or the SAs are not the PSK's")
		}
	})
	// after a reset the old flight 4 is a replay: it opens under IK only
	b.run(ee, -1, func(d *device.Device) {
		if _, nak, _ := b.join(d, b.ik, b.dev, tid, b.rni, rnc); nak != bootstrap.NAKAuth {
			t.Errorf("replayed flight 4 after a reset: NAK %d", nak)
		}
	})
}

func TestBootstrapSimPowerCut(t *testing.T) {
	b := newBootSim(t)
	tid := bootstrap.TID{9, 9, 9, 9, 9, 9, 9, 9}
	rnc := [bootstrap.RNSize]byte{0x21, 0x22}
	psk := bootstrap.DerivePSK(b.ik, b.rni, rnc)
	ikSPIs, pskSPIs := derivedSPIs(t, b.ik), derivedSPIs(t, psk)

	// How many EEPROM writes the boot makes, and the boot and the join.
	b.run(b.fresh("count.eep"), 0, func(*device.Device) {})
	boot := b.writes
	b.run(b.fresh("count.eep"), 0, func(d *device.Device) {
		if _, _, ok := b.join(d, b.ik, b.dev, tid, b.rni, rnc); !ok {
			t.Fatal("the join failed")
		}
	})
	total := b.writes
	if total <= boot {
		t.Fatalf("the join wrote nothing (%d writes with the boot, %d without)", total, boot)
	}
	old, nw := 0, 0
	for cut := boot + 1; cut <= total; cut++ {
		ee := b.fresh(fmt.Sprintf("cut%d.eep", cut))
		b.run(ee, cut, func(d *device.Device) { b.join(d, b.ik, b.dev, tid, b.rni, rnc) })
		if !b.cut {
			t.Fatalf("cut %d: the harness did not cut the power (%d writes)", cut, b.writes)
		}
		b.run(ee, -1, func(d *device.Device) {
			st := status(t, d)
			held := b.ik
			switch spis := [2]uint32{st.InSPI, st.OutSPI}; {
			case !st.Provisioned:
				t.Fatalf("cut %d: unprovisioned after the reboot (%s)", cut, st.ReasonText)
			case spis == ikSPIs:
				old++
			case spis == pskSPIs:
				nw++
				held = psk
				if st.InFloor != 0 || st.OutReserved != 0 {
					t.Errorf("cut %d: the PSK's SAs with counters %d/%d", cut, st.InFloor, st.OutReserved)
				}
			default:
				t.Fatalf("cut %d: SPIs %#x %#x are neither IK's nor the PSK's", cut, st.InSPI, st.OutSPI)
			}
			rnc2 := [bootstrap.RNSize]byte{byte(cut), 0x77}
			psk2, nak, ok := b.join(d, held, b.dev, bootstrap.TID{byte(cut)}, b.rni, rnc2)
			if !ok {
				t.Fatalf("cut %d: the join after the reboot failed (NAK %d)", cut, nak)
			}
			if st := status(t, d); [2]uint32{st.InSPI, st.OutSPI} != derivedSPIs(t, psk2) {
				t.Fatalf("cut %d: after the next join the SAs are not its PSK's", cut)
			}
		})
	}
	t.Logf("%d power cuts in the %d EEPROM writes of a join: %d kept IK, %d the PSK (%d simulator runs)", total-boot, total-boot, old, nw, b.runs)
	if old == 0 || nw == 0 {
		t.Errorf("%d cuts kept IK, %d the PSK: both should occur", old, nw)
	}
}
