package device_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/device"
)

// The per-frame work caps of docs/management.md ("Work caps"): no
// management frame, authenticated or not, may keep the device from its
// other work for more than about a second.
const (
	errCodeLimit = device.ErrCodeLimit
	hashCap      = device.HashMax
)

// hashRequest is a raw COMPUTE request for prim over msg repeated rep
// times (the client refuses to send one over the cap).
func hashRequest(prim device.Primitive, msg []byte, rep uint32) []byte {
	p := []byte{byte(prim)}
	p = binary.BigEndian.AppendUint16(p, uint16(len(msg)))
	p = append(p, msg...)
	p = binary.BigEndian.AppendUint16(p, 4)
	return binary.BigEndian.AppendUint32(p, rep)
}

// TestComputeRepeatIsCapped: a COMPUTE hash of msg repeated up to 2^32
// times (60 hours of SHA-256 at 16 MHz before the cap) is refused with
// MGMT_E_LIMIT at once, and the device answers the next request; a
// request at the cap is computed.
func TestComputeRepeatIsCapped(t *testing.T) {
	t.Parallel()
	// One try per request: a retry would only queue behind the first.
	d, _ := startImageWith(t, "firmware/build/atmega328p/mstool.elf", &device.Options{Timeout: 5 * time.Second, Retries: -1})
	ctx := context.Background()
	long := bytes.Repeat([]byte{0x61}, 200)
	for _, prim := range []device.Primitive{device.MD5, device.SHA256} {
		for _, c := range []struct {
			name string
			msg  []byte
			rep  uint32
		}{
			{"one byte 2^32-1 times", []byte{0x61}, 0xFFFFFFFF},
			{"200 bytes, 2^32 bytes in all", long, 0xFFFFFFFF / 200},
			{"one byte over the cap", []byte{0x61}, hashCap + 1},
			{"200 bytes, just over the cap", long, hashCap/200 + 1},
		} {
			_, err := d.Request(ctx, 0x04, hashRequest(prim, c.msg, c.rep))
			var re *device.RemoteError
			if !errors.As(err, &re) || re.Code != errCodeLimit || !errors.Is(err, device.ErrOverCap) {
				t.Errorf("%s, %s: %v, want error code %d (over the work cap)", prim, c.name, err, errCodeLimit)
			}
			if _, err := d.Identify(ctx); err != nil {
				t.Fatalf("%s, %s: the device does not answer afterwards: %v", prim, c.name, err)
			}
		}
	}
	// The client refuses what the device would (and sends nothing).
	if _, err := d.SHA256(ctx, []byte{0x61}, hashCap+1); !errors.Is(err, device.ErrOverCap) {
		t.Errorf("client sha256 over the cap: %v, want ErrOverCap", err)
	}
	if _, err := d.Bench(ctx, device.HMACMD5, hashCap+1, 1); !errors.Is(err, device.ErrOverCap) {
		t.Errorf("client bench over the cap: %v, want ErrOverCap", err)
	}
	// At the cap: computed, and right.
	msg := bytes.Repeat([]byte{0x61}, hashCap)
	got, err := d.SHA256(ctx, msg[:1], hashCap)
	if want := sha256.Sum256(msg); err != nil || !bytes.Equal(got, want[:]) {
		t.Errorf("sha256 of %d bytes: %x, %v; want %x", hashCap, got, err, want)
	}
	got, err = d.MD5(ctx, msg[:128], hashCap/128)
	if want := md5.Sum(msg); err != nil || !bytes.Equal(got, want[:]) {
		t.Errorf("md5 of %d bytes: %x, %v; want %x", hashCap, got, err, want)
	}
}

// benchReply is a raw BENCH reply (docs/management.md).
type benchReply struct {
	prim            byte
	n, reps         uint16
	total, min, max uint32
	overhead, ctx   uint16
}

func parseBench(t *testing.T, p []byte) benchReply {
	t.Helper()
	if len(p) != 21 {
		t.Fatalf("bench reply of %d bytes: %x", len(p), p)
	}
	be := binary.BigEndian
	return benchReply{p[0], be.Uint16(p[1:]), be.Uint16(p[3:]), be.Uint32(p[5:]), be.Uint32(p[9:]),
		be.Uint32(p[13:]), be.Uint16(p[17:]), be.Uint16(p[19:])}
}

// TestBenchIsCapped: a BENCH run over more than the hash cap is refused;
// a BENCH of many long runs stops at the device's per-frame budget of
// measured cycles (F_CPU/2: half a second) and reports how many runs it
// made. The bound is the device's own Timer1 count of simulated cycles.
func TestBenchIsCapped(t *testing.T) {
	t.Parallel()
	d, _ := startImageWith(t, "firmware/build/atmega328p/mstool.elf", &device.Options{Timeout: 5 * time.Second, Retries: -1})
	ctx := context.Background()
	info, err := d.Identify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	budget := info.FCPU / 2

	bench := func(prim device.Primitive, n, reps uint16) ([]byte, error) {
		p := []byte{byte(prim)}
		p = binary.BigEndian.AppendUint16(p, n)
		return d.Request(ctx, 0x03, binary.BigEndian.AppendUint16(p, reps))
	}
	for _, prim := range []device.Primitive{device.MD5, device.SHA256, device.HMACMD5, device.HMACSHA256} {
		var re *device.RemoteError
		if _, err := bench(prim, hashCap+1, 1); !errors.As(err, &re) || re.Code != errCodeLimit {
			t.Errorf("%s over %d bytes: %v, want error code %d (over the work cap)", prim, hashCap+1, err, errCodeLimit)
		}
	}
	for _, c := range []struct {
		prim    device.Primitive
		n, reps uint16
	}{
		{device.HMACSHA256, hashCap, 1000}, // 8.6 M cycles a run
		{device.HMACSHA256, 0, 65535},      // the HMAC's own blocks, many times
		{device.CCMOpen, 256, 65535},       // a seal (not timed) before each run
		{device.AESKeyExp, 16, 65535},
	} {
		p, err := bench(c.prim, c.n, c.reps)
		if err != nil {
			t.Fatalf("%s, %d bytes, %d runs: %v", c.prim, c.n, c.reps, err)
		}
		r := parseBench(t, p)
		t.Logf("%s, %d bytes: %d of %d runs, %d cycles in all (max %d)", c.prim, c.n, r.reps, c.reps, r.total, r.max)
		if r.reps < 1 || r.reps >= c.reps {
			t.Errorf("%s: %d runs of %d asked, want at least one and fewer than asked", c.prim, r.reps, c.reps)
		}
		if r.total > budget+r.max {
			t.Errorf("%s: %d cycles measured, over the budget %d plus one run (%d)", c.prim, r.total, budget, r.max)
		}
		if _, err := d.Identify(ctx); err != nil {
			t.Fatalf("%s: the device does not answer afterwards: %v", c.prim, err)
		}
	}
}
