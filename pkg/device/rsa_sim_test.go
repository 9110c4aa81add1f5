package device_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/device"
)

// RSA_STACK_NEED in firmware/lib/mgmt_rsa.c: the free stack the device
// requires before a verification (else ErrRSANoRAM), and the most an
// interrupt handler of this firmware pushes (UART/timer ISRs: return
// address, SREG, r0, r1 and the call-clobbered registers they use).
const (
	rsaStackNeed = 192
	rsaIRQFrame  = 32
)

// Targets of the RSA issue (docs/PERFORMANCE.md, "RSA verification"),
// logged next to the measured figures; the test does not judge speed.
var rsaTargets = map[int]uint32{1024: 3_000_000, 2048: 12_000_000}

// rsaCase is one verification on the device and what crypto/rsa says.
type rsaCase struct {
	name string
	hash []byte
	sig  []byte
}

func rsaSign(t *testing.T, key *rsa.PrivateKey, msg []byte) ([]byte, []byte) {
	t.Helper()
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return h[:], sig
}

// rawSign signs an arbitrary k-byte encoding with the private key.
func rawSign(key *rsa.PrivateKey, em []byte) []byte {
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), key.D, key.N)
	return s.FillBytes(make([]byte, key.Size()))
}

func rsaCases(t *testing.T, key, other *rsa.PrivateKey) []rsaCase {
	t.Helper()
	k := key.Size()
	msg := make([]byte, 79)
	rand.Read(msg)
	h, sig := rsaSign(t, key, msg)
	flip := func(v []byte, bit int) []byte {
		c := bytes.Clone(v)
		c[bit/8] ^= 0x80 >> (bit % 8)
		return c
	}
	rbit := func(n int) int { b, _ := rand.Int(rand.Reader, big.NewInt(int64(n))); return int(b.Int64()) }
	_, otherSig := rsaSign(t, other, msg)
	n := key.N.FillBytes(make([]byte, k))
	sPlusN := new(big.Int).Add(new(big.Int).SetBytes(sig), key.N)
	big1 := bytes.Repeat([]byte{0xff}, k)
	if sPlusN.BitLen() <= 8*k {
		big1 = sPlusN.FillBytes(make([]byte, k))
	}
	// A correct encoding except for the block type (00 02): parsing
	// verifiers have accepted worse.
	em := bytes.Repeat([]byte{0xff}, k)
	em[0], em[1] = 0, 2
	t19 := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	em[k-52] = 0
	copy(em[k-51:], t19)
	copy(em[k-32:], h)
	badPad := rawSign(key, em)
	em[1] = 1
	copy(em[k-48:], h) // the hash moved 16 bytes left, garbage after it
	garbage := rawSign(key, em)
	msg2 := append(bytes.Clone(msg), 0)
	h2 := sha256.Sum256(msg2)
	_, sig2 := rsaSign(t, key, []byte("another message"))
	return []rsaCase{
		{"valid", h, sig},
		{"valid-2", sha256Of("another message"), sig2},
		{"sig-random-bit-flipped", h, flip(sig, rbit(8*k))},
		{"sig-last-bit-flipped", h, flip(sig, 8*k-1)},
		{"wrong-hash", h2[:], sig},
		{"wrong-key", h, otherSig},
		{"s-equals-n", h, n},
		{"s-greater-than-n", h, big1},
		{"bad-padding-block-type-2", h, badPad},
		{"garbage-after-hash", h, garbage},
	}
}

func sha256Of(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// TestRSAVerifyMatchesGo runs RSA verification on the simulated device
// for random 1024- and 2048-bit keys and messages, valid and invalid
// signatures, and requires the device's verdict to be crypto/rsa's.
func TestRSAVerifyMatchesGo(t *testing.T) {
	d, _ := startDevice(t)
	for _, bits := range []int{1024, 2048} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) { rsaMatchesGo(t, d, bits) })
	}
}

func rsaMatchesGo(t *testing.T, d *device.Device, bits int) {
	ctx := context.Background()
	{
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		other, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.RSALoadKey(ctx, key.N.FillBytes(make([]byte, key.Size()))); err != nil {
			t.Fatal(err)
		}
		for _, c := range rsaCases(t, key, other) {
			want := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, c.hash, c.sig) == nil
			res, err := d.RSAVerify(ctx, c.hash, c.sig)
			if err != nil && !errors.Is(err, device.ErrBadSignature) {
				// ErrRSANoRAM included: the default ATmega328P image
				// must have the RAM for RSA-2048 (docs/PERFORMANCE.md).
				t.Fatalf("rsa-%d %s: %v", bits, c.name, err)
			}
			if err != nil && !errors.Is(err, device.ErrBadSignature) {
				t.Fatalf("rsa-%d %s: %v", bits, c.name, err)
			}
			if res.Valid != want {
				t.Errorf("rsa-%d %s: device says valid=%v, crypto/rsa %v", bits, c.name, res.Valid, want)
			}
			if (err == nil) != res.Valid {
				t.Errorf("rsa-%d %s: error %v with valid=%v", bits, c.name, err, res.Valid)
			}
			if c.name == "valid" {
				t.Logf("rsa-%d verify: %d cycles given R^2 (target %d), R^2 mod n %d cycles, total %d; stack %d B below a %d B work area, %d B of RAM left",
					bits, res.VerifyCycles, rsaTargets[bits], res.R2Cycles, res.TotalCycles(), res.StackBytes, res.WorkBytes, res.FreeBytes)
				if res.WorkBytes != 2*key.Size()+5 || res.StackBytes <= 0 {
					t.Errorf("rsa-%d: implausible RAM report: work %d, stack %d", bits, res.WorkBytes, res.StackBytes)
				}
				// The device's guard reserves rsaStackNeed bytes before a
				// verification: the measured frames plus an interrupt's
				// must fit in it, or the guard would let the stack run
				// into the static data on a build with less to spare.
				if res.StackBytes+rsaIRQFrame > rsaStackNeed {
					t.Errorf("rsa-%d: the verification used %d B of stack; with an interrupt (%d B) that exceeds the %d B the firmware reserves (RSA_STACK_NEED)",
						bits, res.StackBytes, rsaIRQFrame, rsaStackNeed)
				}
				if res.FreeBytes < rsaIRQFrame {
					t.Errorf("rsa-%d: %d B of RAM left at the deepest point, less than an interrupt frame (%d B)", bits, res.FreeBytes, rsaIRQFrame)
				}
			}
		}
	}
}

// TestRSAVectorsOnDevice runs the shared vectors/rsa.txt records on the
// simulated device.
func TestRSAVectorsOnDevice(t *testing.T) {
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := vectors.Load(filepath.Join(dir, "rsa.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startDevice(t)
	ctx := context.Background()
	var loaded []byte
	sizes := map[int]int{}
	for _, r := range recs {
		n, sig := r.Hex("n"), r.Hex("sig")
		hash := r.Hex("hash")
		if !r.Has("hash") {
			h := sha256.Sum256(r.Hex("msg"))
			hash = h[:]
		}
		if !bytes.Equal(n, loaded) {
			if err := d.RSALoadKey(ctx, n); err != nil {
				t.Fatalf("%s: %v", r.Pos(), err)
			}
			loaded = n
		}
		res, err := d.RSAVerify(ctx, hash, sig)
		if err != nil && !errors.Is(err, device.ErrBadSignature) {
			t.Fatalf("%s: %v", r.Pos(), err)
		}
		if res.Valid == r.ExpectFail() {
			t.Errorf("%s (%s): device says valid=%v", r.Pos(), r.Text("name"), res.Valid)
		}
		sizes[len(n)]++
	}
	// Both key sizes must have run on the device, none skipped.
	if sizes[device.RSA1024Bytes] == 0 || sizes[device.RSA2048Bytes] == 0 {
		t.Errorf("records run per modulus size: %v, want both 128 and 256 bytes", sizes)
	}
}

// TestRSARefusedWithoutRAM runs the image built with too little free RAM
// for a verification (make's lowram image: 256-byte UART rings, so the
// static data leave under RSA_STACK_NEED of stack): the device must
// refuse VERIFY (ErrRSANoRAM) for both key sizes instead of letting its
// stack run into the static data, and keep answering afterwards.
func TestRSARefusedWithoutRAM(t *testing.T) {
	d := startImage(t, "firmware/build/lowram/atmega328p/mstool.elf")
	ctx := context.Background()
	for _, bits := range []int{1024, 2048} {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.RSALoadKey(ctx, key.N.FillBytes(make([]byte, key.Size()))); err != nil {
			t.Fatalf("rsa-%d: loading the key: %v", bits, err)
		}
		h, sig := rsaSign(t, key, []byte("refused"))
		if _, err := d.RSAVerify(ctx, h, sig); !errors.Is(err, device.ErrRSANoRAM) {
			t.Errorf("rsa-%d on the low-RAM image: %v, want ErrRSANoRAM", bits, err)
		}
	}
	if _, err := d.Identify(ctx); err != nil {
		t.Errorf("identify after the refusals: %v", err)
	}
}

// TestRSAKeyRefused: moduli the device cannot use are refused, and a
// verification without a key is refused too.
func TestRSAKeyRefused(t *testing.T) {
	d, _ := startDevice(t)
	ctx := context.Background()
	var re *device.RemoteError
	if _, err := d.RSAVerify(ctx, make([]byte, 32), make([]byte, 128)); !errors.As(err, &re) || re.Code != device.ErrCodeParam {
		t.Errorf("verify without a key: %v, want a parameter error", err)
	}
	even := bytes.Repeat([]byte{0xff}, 128)
	even[127] = 0xfe
	short := bytes.Repeat([]byte{0xff}, 128)
	short[0] = 0x7f
	for name, n := range map[string][]byte{"even": even, "1023-bit": short} {
		if err := d.RSALoadKey(ctx, n); !errors.As(err, &re) || re.Code != device.ErrCodeParam {
			t.Errorf("%s modulus: %v, want a parameter error", name, err)
		}
	}
	if _, err := d.RSAVerify(ctx, make([]byte, 32), make([]byte, 128)); !errors.As(err, &re) || re.Code != device.ErrCodeParam {
		t.Errorf("verify after a refused key: %v, want a parameter error", err)
	}
}
