// Package bench measures the crypto primitives: on a device through its
// management channel (Timer1 cycle counts), and on the host in Go for
// comparison. It also attributes the firmware's flash to modules from the
// ELF's symbols and debug information. Figures are informational: nothing
// here judges them.
package bench

import (
	"context"
	"fmt"

	"github.com/mstool/mstool/pkg/device"
)

// Item is one measurement to make: a primitive over Bytes bytes.
type Item struct {
	Prim  device.Primitive
	Bytes int
}

// DefaultReps is how many times each item runs on the device. Simulated
// cycle counts are deterministic; on a board the minimum is reported.
const DefaultReps = 3

// Plan lists what to measure on a device described by info: single
// blocks for the block cipher, the largest whole-block message that fits
// the device's frame buffer (up to 256 bytes) for the modes, 1 KiB for
// the hashes and HMACs (fed in frame-sized updates).
func Plan(info *device.Info) []Item {
	long := 256
	if max := (info.FrameMax / 16) * 16; max < long {
		long = max
	}
	items := []Item{{device.AESKeyExp, 16}, {device.AESEncrypt, 16}}
	if info.Options&device.OptAESDecrypt != 0 {
		items = append(items, Item{device.AESDecrypt, 16}, Item{device.CBCDecrypt, long})
	}
	// CCM twice: the difference between the two sizes is its cost per byte
	// on long messages, without the per-message blocks (B0, S0, AAD).
	items = append(items, Item{device.CBCEncrypt, long}, Item{device.CTR, long},
		Item{device.CCMSeal, long / 2}, Item{device.CCMSeal, long}, Item{device.CCMOpen, long})
	if info.Options&device.OptMD5 != 0 {
		items = append(items, Item{device.MD5, 1024}, Item{device.HMACMD5, 1024})
	}
	if info.Options&device.OptSHA256 != 0 {
		items = append(items, Item{device.SHA256, 1024}, Item{device.HMACSHA256, 1024})
	}
	return items
}

// Row is one measured primitive on the device.
type Row struct {
	Primitive     string  `json:"primitive"`
	Bytes         int     `json:"bytes"`
	Cycles        uint32  `json:"cycles"` // one run, minimum over reps, timer overhead subtracted
	CyclesPerByte float64 `json:"cycles_per_byte"`
	Micros        float64 `json:"us"`
	KBps          float64 `json:"kb_per_s"` // 1 KB = 1000 bytes
	Module        string  `json:"module,omitempty"`
	FlashBytes    int     `json:"flash_bytes,omitempty"` // the module's own code and tables, 0 if unknown
	ContextRAM    int     `json:"context_ram"`
	Reps          int     `json:"reps"`
	TimerOverhead int     `json:"timer_overhead"`
}

// Modules names the firmware module (object file without .o, as the
// firmware's size report names them) that implements each primitive.
var Modules = map[device.Primitive]string{
	device.AESKeyExp: "crypto/aes", device.AESEncrypt: "crypto/aes", device.AESDecrypt: "crypto/aes",
	device.CBCEncrypt: "crypto/cbc", device.CBCDecrypt: "crypto/cbc", device.CTR: "crypto/ctr",
	device.CCMSeal: "crypto/ccm", device.CCMOpen: "crypto/ccm", device.MD5: "crypto/md5",
	device.SHA256: "crypto/sha256", device.HMACMD5: "crypto/hmac", device.HMACSHA256: "crypto/hmac",
}

// Progress is told before each item runs (i counts from 0).
type Progress func(i, n int, it Item)

// RunDevice measures plan on d. fcpu converts cycles to time; sizes (may
// be nil) gives each module's flash.
func RunDevice(ctx context.Context, d *device.Device, fcpu uint32, plan []Item, reps int, sizes map[string]Size, progress Progress) ([]Row, error) {
	if reps <= 0 {
		reps = DefaultReps
	}
	rows := make([]Row, 0, len(plan))
	for i, it := range plan {
		if progress != nil {
			progress(i, len(plan), it)
		}
		r, err := d.Bench(ctx, it.Prim, it.Bytes, reps)
		if err != nil {
			return rows, fmt.Errorf("bench: %s over %d bytes: %w", it.Prim, it.Bytes, err)
		}
		row := Row{Primitive: it.Prim.String(), Bytes: r.Bytes, Cycles: r.Min, ContextRAM: r.CtxRAM,
			Reps: r.Reps, TimerOverhead: r.Overhead, Module: Modules[it.Prim]}
		if r.Bytes > 0 {
			row.CyclesPerByte = float64(r.Min) / float64(r.Bytes)
		}
		row.Micros = float64(r.Min) / float64(fcpu) * 1e6
		if row.Micros > 0 {
			row.KBps = float64(r.Bytes) / row.Micros * 1e6 / 1000
		}
		// The assembly variant of a module (crypto/aes_avr) counts with it.
		row.FlashBytes = sizes[row.Module].Flash + sizes[row.Module+"_avr"].Flash
		rows = append(rows, row)
	}
	return rows, nil
}
