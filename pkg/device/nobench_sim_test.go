package device_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mstool/mstool/pkg/device"
)

// TestEngineeringCommandsLeftOut runs make's nobench image
// (CONFIG_MGMT_CRYPTO=0, the configuration for a device in service): it
// has no BENCH, COMPUTE or RSA (answered as unknown commands, which the
// client reports as ErrNoEngineering), says so in IDENTIFY's options,
// and keeps IDENTIFY, STATS, STATUS and PROV. The default image has them.
func TestEngineeringCommandsLeftOut(t *testing.T) {
	t.Parallel()
	d := startImage(t, "firmware/build/nobench/atmega328p/mstool.elf")
	ctx := context.Background()
	info, err := d.Identify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Options&device.OptEngineering != 0 || slices.Contains(info.OptionNames, "engineering") {
		t.Errorf("nobench image: options %#x %v claim the engineering commands", info.Options, info.OptionNames)
	}
	if _, err := d.Bench(ctx, device.AESEncrypt, 16, 1); !errors.Is(err, device.ErrNoEngineering) {
		t.Errorf("bench: %v, want ErrNoEngineering", err)
	}
	if _, err := d.SHA256(ctx, []byte("abc"), 1); !errors.Is(err, device.ErrNoEngineering) {
		t.Errorf("compute: %v, want ErrNoEngineering", err)
	}
	n := make([]byte, device.RSA2048Bytes)
	n[0], n[len(n)-1] = 0xC1, 0x01
	if err := d.RSALoadKey(ctx, n); !errors.Is(err, device.ErrNoEngineering) {
		t.Errorf("rsa key: %v, want ErrNoEngineering", err)
	}
	if _, err := d.Request(ctx, 0x20, append([]byte{0x02}, make([]byte, 32+256)...)); !errors.Is(err, device.ErrNoEngineering) {
		t.Errorf("rsa verify: %v, want ErrNoEngineering", err)
	}
	// What stays.
	if _, err := d.Stats(ctx); err != nil {
		t.Errorf("stats: %v", err)
	}
	if _, err := d.Status(ctx); err != nil {
		t.Errorf("status: %v", err)
	}
	if _, err := d.ProvisionInfo(ctx); err != nil {
		t.Errorf("provision info: %v", err)
	}

	def, _ := startDevice(t)
	if info, err := def.Identify(ctx); err != nil || info.Options&device.OptEngineering == 0 || !slices.Contains(info.OptionNames, "engineering") {
		t.Errorf("default image: %+v, %v: want the engineering option", info, err)
	}
}
