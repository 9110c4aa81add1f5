package device_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/device"
)

// TestVectorsOnDevice runs every record of the crypto vector files on the
// simulated device through COMPUTE: the same files the Go and host C tests
// read.
func TestVectorsOnDevice(t *testing.T) {
	t.Parallel()
	d, _ := startDevice(t)
	info, err := d.Identify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		run  func(context.Context, *device.Device, vectors.Record) error
	}{
		{"aes.txt", runAES},
		{"md5.txt", runHash},
		{"sha256.txt", runHash},
		{"hmac-md5.txt", runHMAC},
		{"hmac-sha256.txt", runHMAC},
		{"aes-cbc.txt", runCBC},
		{"aes-ctr.txt", runCTR},
		{"aes-ccm.txt", runCCM},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			path, err := vectors.Path(f.name)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := vectors.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				t.Fatalf("%s has no records", f.name)
			}
			for _, r := range recs {
				if isLong(r) {
					continue // over the work cap: TestLongHashOnDevice
				}
				t.Run(fmt.Sprintf("line%d", r.Line), func(t *testing.T) {
					err := f.run(context.Background(), d, r)
					if errors.Is(err, device.ErrTooLarge) && info.FrameMax < 296 {
						t.Skipf("%s: does not fit the %d-byte frame of %s", r.Pos(), info.FrameMax, info.MCU)
					}
					if err != nil {
						t.Errorf("%s (%s): %v", r.Pos(), r.Source, err)
					}
				})
			}
		})
	}
}

var errLong = errors.New("long message")

// TestLongHashOnDevice: the long-message hash records (FIPS 180-4's one
// million 'a') are over the device's per-frame work cap (HashMax): the
// client refuses them without sending, with ErrOverCap. (The host tests
// check them on the same C sources; TestComputeRepeatIsCapped hashes a
// message of HashMax bytes on the device.)
func TestLongHashOnDevice(t *testing.T) {
	t.Parallel()
	var long []vectors.Record
	for _, name := range []string{"md5.txt", "sha256.txt"} {
		path, err := vectors.Path(name)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := vectors.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if isLong(r) {
				long = append(long, r)
			}
		}
	}
	if len(long) == 0 {
		t.Fatal("no long-message hash records found in vectors/")
	}
	d, _ := startDevice(t)
	before, err := d.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range long {
		rep := uint32(r.Int("repeat"))
		var err error
		if r.Alg == "md5" {
			_, err = d.MD5(context.Background(), r.Hex("msg"), rep)
		} else {
			_, err = d.SHA256(context.Background(), r.Hex("msg"), rep)
		}
		if !errors.Is(err, device.ErrOverCap) {
			t.Errorf("%s: %v, want ErrOverCap", r.Pos(), err)
		}
	}
	after, err := d.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.FramesOK != before.FramesOK+1 { // the second STATS only
		t.Errorf("frames_ok %d -> %d: the client sent requests over the cap", before.FramesOK, after.FramesOK)
	}
}

func check(r vectors.Record, field string, got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s = %x, want %x", field, got, want)
	}
	return nil
}

func runAES(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("key", "pt", "ct"); err != nil {
		return err
	}
	ct, err := d.AESEncryptBlocks(ctx, r.Hex("key"), r.Hex("pt"))
	if err != nil {
		return err
	}
	if err := check(r, "ct", ct, r.Hex("ct")); err != nil {
		return err
	}
	pt, err := d.AESDecryptBlocks(ctx, r.Hex("key"), r.Hex("ct"))
	if errors.Is(err, &device.RemoteError{}) {
		return err
	}
	if err != nil {
		var re *device.RemoteError
		if errors.As(err, &re) && re.Code == device.ErrCodeUnsupported {
			return nil // firmware built without CONFIG_AES_DECRYPT
		}
		return err
	}
	return check(r, "decrypted pt", pt, r.Hex("pt"))
}

// isLong: a hash record over the device's per-frame cap, for
// TestLongHashOnDevice.
func isLong(r vectors.Record) bool {
	return r.Has("repeat") && len(r.Hex("msg"))*r.Int("repeat") > device.HashMax
}

func runHash(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("msg", "digest"); err != nil {
		return err
	}
	if isLong(r) {
		return errLong
	}
	rep := uint32(1)
	if r.Has("repeat") {
		rep = uint32(r.Int("repeat"))
	}
	var got []byte
	var err error
	switch r.Alg {
	case "md5":
		got, err = d.MD5(ctx, r.Hex("msg"), rep)
	case "sha-256":
		got, err = d.SHA256(ctx, r.Hex("msg"), rep)
	default:
		return fmt.Errorf("unexpected alg %q", r.Alg)
	}
	if err != nil {
		return err
	}
	return check(r, "digest", got, r.Hex("digest"))
}

func runHMAC(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("key", "msg", "mac"); err != nil {
		return err
	}
	var got []byte
	var err error
	switch r.Alg {
	case "hmac-md5":
		got, err = d.HMACMD5(ctx, r.Hex("key"), r.Hex("msg"))
	case "hmac-sha-256":
		got, err = d.HMACSHA256(ctx, r.Hex("key"), r.Hex("msg"))
	default:
		return fmt.Errorf("unexpected alg %q", r.Alg)
	}
	if err != nil {
		return err
	}
	want := r.Hex("mac") // may be truncated: compare the leading bytes
	if len(got) < len(want) {
		return fmt.Errorf("mac has %d bytes, want at least %d", len(got), len(want))
	}
	match := bytes.Equal(got[:len(want)], want)
	if r.ExpectFail() {
		if match {
			return fmt.Errorf("negative vector matched")
		}
		return nil
	}
	return check(r, "mac", got[:len(want)], want)
}

func runCBC(ctx context.Context, d *device.Device, r vectors.Record) error {
	if r.Alg == "esp-aes-128-cbc" {
		return runESPCBC(ctx, d, r)
	}
	if err := r.Require("key", "iv", "pt", "ct"); err != nil {
		return err
	}
	ct, err := d.CBC(ctx, false, r.Hex("key"), r.Hex("iv"), r.Hex("pt"))
	if err != nil {
		return err
	}
	if err := check(r, "ct", ct, r.Hex("ct")); err != nil {
		return err
	}
	pt, err := d.CBC(ctx, true, r.Hex("key"), r.Hex("iv"), r.Hex("ct"))
	if err != nil {
		return err
	}
	return check(r, "decrypted pt", pt, r.Hex("pt"))
}

// runESPCBC checks RFC 3602's ESP cases: the packet is SPI || seq || IV
// || ciphertext; the device's CBC decryption of the ciphertext must start
// with pt (then the ESP padding and trailer), and re-encrypting that
// plaintext must give the published ciphertext back.
func runESPCBC(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("key", "iv", "spi", "seq", "pt", "packet"); err != nil {
		return err
	}
	pkt := r.Hex("packet")
	hdr := append(append(r.Hex("spi"), r.Hex("seq")...), r.Hex("iv")...)
	if len(pkt) < len(hdr)+16 || !bytes.Equal(pkt[:len(hdr)], hdr) {
		return fmt.Errorf("packet does not start with spi || seq || iv")
	}
	ct := pkt[len(hdr):]
	plain, err := d.CBC(ctx, true, r.Hex("key"), r.Hex("iv"), ct)
	if err != nil {
		return err
	}
	pt := r.Hex("pt")
	if len(plain) < len(pt)+2 || !bytes.Equal(plain[:len(pt)], pt) {
		return fmt.Errorf("decrypted payload %x does not start with pt %x", plain, pt)
	}
	padLen := int(plain[len(plain)-2])
	if len(pt)+padLen+2 != len(plain) {
		return fmt.Errorf("ESP trailer: pad length %d does not fit %d payload bytes in %d", padLen, len(pt), len(plain))
	}
	again, err := d.CBC(ctx, false, r.Hex("key"), r.Hex("iv"), plain)
	if err != nil {
		return err
	}
	return check(r, "re-encrypted ciphertext", again, ct)
}

func runCTR(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("key", "nonce", "iv", "ctr_block", "pt", "ct"); err != nil {
		return err
	}
	// The record's ctr_block must be nonce || iv || 00000001 (RFC 3686).
	blk := append(append(r.Hex("nonce"), r.Hex("iv")...), 0, 0, 0, 1)
	if err := check(r, "ctr_block", r.Hex("ctr_block"), blk); err != nil {
		return err
	}
	ct, err := d.CTR(ctx, r.Hex("key"), blk, r.Hex("pt"))
	if err != nil {
		return err
	}
	if err := check(r, "ct", ct, r.Hex("ct")); err != nil {
		return err
	}
	pt, err := d.CTR(ctx, r.Hex("key"), blk, r.Hex("ct"))
	if err != nil {
		return err
	}
	return check(r, "decrypted pt", pt, r.Hex("pt"))
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i%len(c)] ^= 0x01
	return c
}

func runCCM(ctx context.Context, d *device.Device, r vectors.Record) error {
	if err := r.Require("key", "nonce", "aad", "pt", "ct", "tag"); err != nil {
		return err
	}
	key, nonce, aad, pt, ct, tag := r.Hex("key"), r.Hex("nonce"), r.Hex("aad"), r.Hex("pt"), r.Hex("ct"), r.Hex("tag")
	if r.ExpectFail() {
		if _, err := d.CCMOpen(ctx, key, nonce, aad, ct, tag); !errors.Is(err, device.ErrAuth) {
			return fmt.Errorf("negative vector: open returned %v, want authentication failure", err)
		}
		return nil
	}
	gotCT, gotTag, err := d.CCMSeal(ctx, key, nonce, aad, pt, len(tag))
	if err != nil {
		return err
	}
	if err := check(r, "ct", gotCT, ct); err != nil {
		return err
	}
	if err := check(r, "tag", gotTag, tag); err != nil {
		return err
	}
	got, err := d.CCMOpen(ctx, key, nonce, aad, ct, tag)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if err := check(r, "opened pt", got, pt); err != nil {
		return err
	}
	// Negatives derived from the record: a flipped bit in the tag, the
	// ciphertext, the AAD or the nonce must fail authentication.
	type bad struct {
		what                string
		nonce, aad, ct, tag []byte
	}
	cases := []bad{
		{"tag", nonce, aad, ct, flip(tag, len(tag)-1)},
		{"nonce", flip(nonce, 0), aad, ct, tag},
	}
	if len(ct) > 0 {
		cases = append(cases, bad{"ct", nonce, aad, flip(ct, len(ct)/2), tag})
	}
	if len(aad) > 0 {
		cases = append(cases, bad{"aad", nonce, flip(aad, 0), ct, tag})
	}
	for _, c := range cases {
		if _, err := d.CCMOpen(ctx, key, c.nonce, c.aad, c.ct, c.tag); !errors.Is(err, device.ErrAuth) {
			return fmt.Errorf("open with a flipped %s bit returned %v, want authentication failure", c.what, err)
		}
	}
	return nil
}
