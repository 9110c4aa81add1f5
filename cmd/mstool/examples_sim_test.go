package main

// Someone else's application on the device library, on the simulated
// device: the plain C example (firmware/examples/sensor, `make -C firmware
// examples`) and the Arduino sketch (firmware/arduino/Sensor, `make -C
// firmware arduino`) answer their own task "temperature" (bit 16 of
// firmware/examples/sensor/tasks.map) over `esp exec` and `mssl exec`,
// and a grant permits or denies it. The Arduino library's profile is MSSL
// seal-only (firmware/arduino/ms_profile.h): its device is provisioned
// with --mssl-seal-only and takes the device-bound grant on its seal. The
// sketch runs on the ATmega168 too (the Nano's ATmega168 build, whose
// 1 KB of RAM holds the core, the library and the seal-only handshake),
// and so does the C example, built against the seal-only profile's
// archive as docs/firmware.md ("Building it") says.

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

func TestExamplesOnDevice(t *testing.T) {
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	taskMap := filepath.Join(testenv.RepoRoot(t), "firmware/examples/sensor/tasks.map")
	for _, ex := range []struct {
		name, elf, hex, make, mcu string
		sealOnly                  bool
	}{
		{"c", "firmware/build/examples/sensor/atmega328p/sensor.elf",
			"firmware/build/examples/sensor/atmega328p/sensor.hex", "-C firmware examples", "atmega328p", false},
		{"c-atmega168", "firmware/build/examples/sensor/esp-mssl-atmega168/sensor.elf",
			"firmware/build/examples/sensor/esp-mssl-atmega168/sensor.hex", "-C firmware examples", "atmega168", true},
		{"arduino", "firmware/build/arduino/Sensor.elf",
			"firmware/build/arduino/Sensor.hex", "-C firmware arduino", "atmega328p", true},
		{"arduino-atmega168", "firmware/build/arduino/nano168/Sensor.elf",
			"firmware/build/arduino/nano168/Sensor.hex", "-C firmware arduino", "atmega168", true},
	} {
		t.Run(ex.name, func(t *testing.T) {
			elf := testenv.Artifact(t, ex.elf, ex.make)
			hex := testenv.Artifact(t, ex.hex, ex.make)
			dir := t.TempDir()
			p := func(name string) string { return filepath.Join(dir, name) }
			mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
			mustRun(t, "keygen", "device", "-o", p("dev.key"), "--id", "0x2a")
			mustRun(t, "esp", "sa", "new", "-o", p("host.sa"), "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
			prov := []string{"--quiet", "provision", "-d", p("dev.key"), "--ip", simDevA, "--sa", p("host.sa"),
				"--issuer", p("owner.pem"), "--firmware", hex, "-o", p("dev.hex")}
			if ex.sealOnly {
				prov = append(prov, "--mssl-seal-only")
			}
			mustRun(t, prov...)
			sign := func(name, tasks string) {
				mustRun(t, "--task-map", taskMap, "grant", "sign", "--key", p("owner.pem"), "--device", p("dev.key"),
					"--host-ip", simHost, "--tasks", tasks, "--serial", "5", "--valid-for", "720h", "-o", p(name))
			}
			sign("reader", "temperature,id")
			sign("other", "id,uptime")
			eep, _, err := sim.PrepareEEPROM(p("dev.hex"), ex.mcu)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: eep, MCU: ex.mcu})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dev.Stop() })

			// The result decodes by the map: an i16 in hundredths of a
			// degree; mssim's sensor reads 314 mV, 25 C by the datasheet's
			// line (24.69 after the 10-bit ADC).
			checkTemp := func(what, out string) {
				t.Helper()
				var r struct {
					Task   string         `json:"task"`
					Status string         `json:"status"`
					Result map[string]any `json:"result"`
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != "ok" {
					t.Fatalf("%s: %v\n%s", what, err, out)
				}
				c, ok := r.Result["centi_celsius"].(float64)
				if !ok || c < 2400 || c > 2600 {
					t.Fatalf("%s: result %v, want centi_celsius 2400..2600\n%s", what, r.Result, out)
				}
				t.Logf("%s: %v", what, r.Result)
			}

			out := mustRun(t, "--json", "--task-map", taskMap, "esp", "exec", "-p", dev.Port, "--sa", p("host.sa"), "temperature")
			checkTemp("esp exec temperature", out)
			if out := mustRun(t, "--json", "esp", "exec", "-p", dev.Port, "--sa", p("host.sa"), "id"); !strings.Contains(out, ex.mcu) {
				t.Errorf("esp exec id:\n%s", out)
			}

			mssl := func(grant string, args ...string) (string, string, int) {
				return mstoolRun(t, append([]string{"--json", "--task-map", taskMap, "mssl", "exec", "--port", dev.Port,
					"--device-ip", simDevA, "--timeout", "5s", "--grant", p(grant + ".grant")}, args...)...)
			}
			out, errs, code := mssl("reader", "temperature")
			if code != 0 {
				t.Fatalf("mssl exec temperature with a grant for it: exit %d\n%s%s", code, out, errs)
			}
			checkTemp("mssl exec temperature", out)
			if want := map[bool]string{true: "taken on its seal", false: "RSA signature verified"}[ex.sealOnly]; !strings.Contains(errs, want) {
				t.Errorf("mssl exec: the session's line does not say %q:\n%s", want, errs)
			}
			// A grant without the task: denied by the device, exit 4.
			if out, errs, code = mssl("other", "temperature"); code != 4 || !strings.Contains(out+errs, "denied") {
				t.Fatalf("mssl exec temperature outside the grant: exit %d, want 4 (denied)\n%s%s", code, out, errs)
			}
		})
	}
}
