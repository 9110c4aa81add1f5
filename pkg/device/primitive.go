package device

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Primitive identifies a crypto primitive on the device (BENCH and
// COMPUTE use the same ids; firmware/lib/mgmt.h PRIM_*).
type Primitive byte

// Primitives.
const (
	AESKeyExp  Primitive = 0x01 // AES-128 key expansion
	AESEncrypt Primitive = 0x02 // AES-128 block encryption (ECB over whole blocks)
	AESDecrypt Primitive = 0x03 // AES-128 block decryption
	CBCEncrypt Primitive = 0x04 // AES-128-CBC encryption, no padding
	CBCDecrypt Primitive = 0x05 // AES-128-CBC decryption
	CTR        Primitive = 0x06 // AES-128-CTR (32-bit big-endian counter)
	CCMSeal    Primitive = 0x07 // AES-128-CCM encryption and tag
	CCMOpen    Primitive = 0x08 // AES-128-CCM verification and decryption
	MD5        Primitive = 0x09
	SHA256     Primitive = 0x0A
	HMACMD5    Primitive = 0x0B
	HMACSHA256 Primitive = 0x0C
)

var primNames = map[Primitive]string{
	AESKeyExp: "aes128-keyexp", AESEncrypt: "aes128-enc", AESDecrypt: "aes128-dec",
	CBCEncrypt: "aes128-cbc-enc", CBCDecrypt: "aes128-cbc-dec", CTR: "aes128-ctr",
	CCMSeal: "aes128-ccm-seal", CCMOpen: "aes128-ccm-open", MD5: "md5", SHA256: "sha256",
	HMACMD5: "hmac-md5", HMACSHA256: "hmac-sha256",
}

// Primitives lists every primitive in id order.
func Primitives() []Primitive {
	out := make([]Primitive, 0, len(primNames))
	for p := AESKeyExp; p <= HMACSHA256; p++ {
		out = append(out, p)
	}
	return out
}

func (p Primitive) String() string {
	if s, ok := primNames[p]; ok {
		return s
	}
	return fmt.Sprintf("primitive-0x%02x", byte(p))
}

// ParsePrimitive returns the primitive with the given String name.
func ParsePrimitive(s string) (Primitive, error) {
	for p, n := range primNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("device: unknown primitive %q", s)
}

// Per-frame work caps of the device (firmware/lib/mgmt.h, docs/management.md
// "Work caps").
const (
	// HashMax is the most bytes one COMPUTE hash (the message times its
	// repeat count) and one BENCH run of a hash or HMAC may take: about
	// half a second of SHA-256 on a 16 MHz ATmega328P.
	HashMax = 16384
)

// isHash reports whether BENCH feeds p from its buffer in chunks (any n
// up to HashMax) rather than over the buffer once.
func isHash(p Primitive) bool {
	return p == MD5 || p == SHA256 || p == HMACMD5 || p == HMACSHA256
}

// BenchResult is one BENCH answer: Reps runs over Bytes bytes, each timed
// alone with Timer1 (CPU cycles), the timer's own overhead (Overhead
// cycles, measured on the device) already subtracted.
type BenchResult struct {
	Primitive Primitive `json:"-"`
	Name      string    `json:"primitive"`
	Bytes     int       `json:"bytes"`
	Reps      int       `json:"reps"`
	Total     uint64    `json:"cycles_total"`
	Min       uint32    `json:"cycles_min"`
	Max       uint32    `json:"cycles_max"`
	Overhead  int       `json:"timer_overhead"`
	CtxRAM    int       `json:"context_ram"`
}

// Cycles is the mean cycle count of one run.
func (b *BenchResult) Cycles() float64 { return float64(b.Total) / float64(b.Reps) }

// Bench times reps runs of p over n bytes on the device (n is ignored
// for key expansion). The device holds the line while it measures. It
// makes at most half a second's worth of runs per request (BENCH's
// budget, docs/management.md "Work caps"), so Bench asks again for the
// rest until reps runs are measured and returns them together. A hash
// or HMAC over more than HashMax bytes is ErrOverCap.
func (d *Device) Bench(ctx context.Context, p Primitive, n, reps int) (*BenchResult, error) {
	if n < 0 || n > 0xFFFF || reps < 1 || reps > 1000 {
		return nil, fmt.Errorf("device: bench: n %d or reps %d out of range", n, reps)
	}
	if isHash(p) && n > HashMax {
		return nil, fmt.Errorf("%w: bench: %s over %d bytes, the device takes at most %d a run", ErrOverCap, p, n, HashMax)
	}
	var res *BenchResult
	for done := 0; done < reps; {
		r, err := d.benchOnce(ctx, p, n, reps-done)
		if err != nil {
			return nil, err
		}
		if res == nil {
			res = r
		} else {
			res.Reps += r.Reps
			res.Total += r.Total
			res.Min = min(res.Min, r.Min)
			res.Max = max(res.Max, r.Max)
		}
		done += r.Reps
	}
	return res, nil
}

// benchOnce is one BENCH request: up to reps runs, as many as the device's
// budget allows (at least one).
func (d *Device) benchOnce(ctx context.Context, p Primitive, n, reps int) (*BenchResult, error) {
	req := []byte{byte(p)}
	req = binary.BigEndian.AppendUint16(req, uint16(n))
	req = binary.BigEndian.AppendUint16(req, uint16(reps))
	// The budget (half a second) plus one run and its set-up: about a
	// second on a board; generous for a loaded simulator.
	r, err := d.request(ctx, cmdBench, req, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := cursor{b: r, ok: true}
	res := &BenchResult{Primitive: Primitive(c.u8()), Bytes: int(c.u16()), Reps: int(c.u16()),
		Total: uint64(c.u32()), Min: c.u32(), Max: c.u32(), Overhead: int(c.u16()), CtxRAM: int(c.u16())}
	if !c.ok || len(c.b) != 0 || res.Primitive != p || res.Reps < 1 || res.Reps > reps {
		return nil, fmt.Errorf("device: malformed bench reply %x", r)
	}
	res.Name = p.String()
	return res, nil
}

// Compute runs primitive p on the device with the given input fields (in
// the order docs/management.md lists for p) and returns the output
// fields. A failed authentication (CCM open) returns ErrAuth.
func (d *Device) Compute(ctx context.Context, p Primitive, in ...[]byte) ([][]byte, error) {
	return d.compute(ctx, p, 0, in...)
}

func (d *Device) compute(ctx context.Context, p Primitive, extra time.Duration, in ...[]byte) ([][]byte, error) {
	req := []byte{byte(p)}
	for _, f := range in {
		if len(f) > 0xFFFF {
			return nil, ErrTooLarge
		}
		req = appendField(req, f)
	}
	r, err := d.request(ctx, cmdCompute, req, extra)
	if err != nil {
		return nil, err
	}
	c := cursor{b: r, ok: true}
	rp, status := Primitive(c.u8()), c.u8()
	var out [][]byte
	for c.ok && len(c.b) > 0 {
		out = append(out, c.field())
	}
	if !c.ok || rp != p {
		return nil, fmt.Errorf("device: malformed compute reply %x", r)
	}
	if status == 1 {
		return nil, ErrAuth
	}
	if status != 0 {
		return nil, fmt.Errorf("device: compute status %d", status)
	}
	return out, nil
}

func one(out [][]byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("device: %d output fields, want 1", len(out))
	}
	return out[0], nil
}

// AESKeySchedule returns the 176-byte expanded key (FIPS-197 §5.2).
func (d *Device) AESKeySchedule(ctx context.Context, key []byte) ([]byte, error) {
	return one(d.Compute(ctx, AESKeyExp, key))
}

// AESEncryptBlocks encrypts whole 16-byte blocks with AES-128 (ECB).
func (d *Device) AESEncryptBlocks(ctx context.Context, key, pt []byte) ([]byte, error) {
	return one(d.Compute(ctx, AESEncrypt, key, pt))
}

// AESDecryptBlocks decrypts whole 16-byte blocks with AES-128 (ECB).
func (d *Device) AESDecryptBlocks(ctx context.Context, key, ct []byte) ([]byte, error) {
	return one(d.Compute(ctx, AESDecrypt, key, ct))
}

// CBC encrypts (or decrypts) whole blocks with AES-128-CBC.
func (d *Device) CBC(ctx context.Context, decrypt bool, key, iv, data []byte) ([]byte, error) {
	p := CBCEncrypt
	if decrypt {
		p = CBCDecrypt
	}
	return one(d.Compute(ctx, p, key, iv, data))
}

// CTR XORs data with the AES-128-CTR keystream from counter block ctr.
func (d *Device) CTR(ctx context.Context, key, ctr, data []byte) ([]byte, error) {
	return one(d.Compute(ctx, CTR, key, ctr, data))
}

// CCMSeal encrypts pt and returns the ciphertext and a tagLen-byte tag.
func (d *Device) CCMSeal(ctx context.Context, key, nonce, aad, pt []byte, tagLen int) (ct, tag []byte, err error) {
	if tagLen < 0 || tagLen > 255 {
		return nil, nil, fmt.Errorf("device: tag length %d", tagLen)
	}
	out, err := d.Compute(ctx, CCMSeal, key, nonce, aad, pt, []byte{byte(tagLen)})
	if err != nil {
		return nil, nil, err
	}
	if len(out) != 2 {
		return nil, nil, fmt.Errorf("device: %d output fields, want 2", len(out))
	}
	return out[0], out[1], nil
}

// CCMOpen verifies the tag and decrypts ct; ErrAuth if the tag is wrong.
func (d *Device) CCMOpen(ctx context.Context, key, nonce, aad, ct, tag []byte) ([]byte, error) {
	return one(d.Compute(ctx, CCMOpen, key, nonce, aad, ct, tag))
}

// hashTime estimates the device time for n bytes of hashing.
func hashTime(n uint64) time.Duration {
	return time.Duration(n) * 200 * time.Microsecond
}

// hash runs COMPUTE md5 or sha256 on msg repeated repeat times; at most
// HashMax bytes in all (else ErrOverCap, nothing sent).
func (d *Device) hash(ctx context.Context, p Primitive, msg []byte, repeat uint32) ([]byte, error) {
	total := uint64(len(msg)) * uint64(repeat)
	if total > HashMax {
		return nil, fmt.Errorf("%w: %s of %d bytes, the device hashes at most %d bytes a request", ErrOverCap, p, total, HashMax)
	}
	return one(d.compute(ctx, p, hashTime(total), msg, binary.BigEndian.AppendUint32(nil, repeat)))
}

// MD5 hashes msg repeated repeat times (repeat 1: msg itself), at most
// HashMax bytes in all.
func (d *Device) MD5(ctx context.Context, msg []byte, repeat uint32) ([]byte, error) {
	return d.hash(ctx, MD5, msg, repeat)
}

// SHA256 hashes msg repeated repeat times (repeat 1: msg itself), at
// most HashMax bytes in all.
func (d *Device) SHA256(ctx context.Context, msg []byte, repeat uint32) ([]byte, error) {
	return d.hash(ctx, SHA256, msg, repeat)
}

// HMACMD5 returns the full 16-byte HMAC-MD5 of msg.
func (d *Device) HMACMD5(ctx context.Context, key, msg []byte) ([]byte, error) {
	return one(d.Compute(ctx, HMACMD5, key, msg))
}

// HMACSHA256 returns the full 32-byte HMAC-SHA-256 of msg.
func (d *Device) HMACSHA256(ctx context.Context, key, msg []byte) ([]byte, error) {
	return one(d.Compute(ctx, HMACSHA256, key, msg))
}
