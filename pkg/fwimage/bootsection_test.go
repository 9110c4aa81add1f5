package fwimage_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/fwimage"
)

// TestImagesLeaveTheBootloaderRoom: the firmware must stay below the boot
// section that optiboot occupies (512 bytes at the end of flash), or
// 'mstool flash' through the bootloader stops working. The default
// ATmega328P image is close to it (docs/PERFORMANCE.md), so growth shows
// up here, with numbers, before it shows up as a failed flash.
func TestImagesLeaveTheBootloaderRoom(t *testing.T) {
	const optiboot = 512
	// The images of make: both MCUs' defaults and the ATmega328P without
	// the engineering commands (make nobench).
	for _, mcu := range []string{"atmega328p", "atmega168", "nobench/atmega328p"} {
		path := testenv.Artifact(t, "firmware/build/"+mcu+"/size-report.json", "firmware")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Total    struct{ Flash, RAM int }
			Capacity struct{ Flash, RAM int }
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rep.Capacity.Flash == 0 || rep.Total.Flash == 0 {
			t.Fatalf("%s: no flash figures: %s", path, data)
		}
		room := rep.Capacity.Flash - optiboot - rep.Total.Flash
		if room < 0 {
			t.Errorf("%s: image is %d bytes, %d over the %d bytes below optiboot", mcu, rep.Total.Flash, -room, rep.Capacity.Flash-optiboot)
		}
		t.Logf("%s: %d bytes of flash, %d left below optiboot; %d bytes of static RAM of %d", mcu, rep.Total.Flash, room, rep.Total.RAM, rep.Capacity.RAM)
	}
}

// TestImagesFitTheirRAM: the images of make pass flash's RAM check (static
// RAM of the size report plus the manifest's stack figure).
func TestImagesFitTheirRAM(t *testing.T) {
	for mcu, ram := range map[string]int{"atmega328p": 2048, "atmega168": 1024, "nobench/atmega328p": 2048} {
		path := testenv.Artifact(t, "firmware/build/"+mcu+"/mstool.elf", "firmware")
		need, err := fwimage.CheckRAM(path, mcu, ram)
		if err != nil {
			t.Error(err)
			continue
		}
		if need == nil || need.Stack == 0 {
			t.Errorf("%s: no RAM figures next to the image (%v)", mcu, need)
			continue
		}
		t.Logf("%s: %d static + %d stack = %d of %d", mcu, need.Static, need.Stack, need.Total(), ram)
	}
}
