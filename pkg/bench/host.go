package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"time"

	"github.com/mstool/mstool/pkg/ccm"
	"github.com/mstool/mstool/pkg/device"
)

// HostRow is one primitive measured in Go on this machine.
type HostRow struct {
	Primitive string  `json:"primitive"`
	Bytes     int     `json:"bytes"`
	NsPerOp   float64 `json:"ns_per_op"`
	MBps      float64 `json:"mb_per_s"` // 1 MB = 10^6 bytes
}

// Host measures the same plan with the Go standard library (and pkg/ccm),
// each item for about d of wall-clock time.
func Host(plan []Item, d time.Duration) []HostRow {
	if d <= 0 {
		d = 50 * time.Millisecond
	}
	key := []byte("0123456789abcdef")
	block, _ := aes.NewCipher(key)
	aead, _ := ccm.New(block, 16, 11)
	rows := make([]HostRow, 0, len(plan))
	for _, it := range plan {
		buf := make([]byte, it.Bytes)
		iv := make([]byte, 16)
		var op func()
		switch it.Prim {
		case device.AESKeyExp:
			op = func() { aes.NewCipher(key) }
		case device.AESEncrypt:
			op = func() { block.Encrypt(buf, buf) }
		case device.AESDecrypt:
			op = func() { block.Decrypt(buf, buf) }
		case device.CBCEncrypt:
			op = func() { cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf) }
		case device.CBCDecrypt:
			op = func() { cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf) }
		case device.CTR:
			op = func() { cipher.NewCTR(block, iv).XORKeyStream(buf, buf) }
		case device.CCMSeal:
			dst := make([]byte, 0, len(buf)+16)
			op = func() { aead.Seal(dst[:0], iv[:11], buf, key[:8]) }
		case device.CCMOpen:
			sealed := aead.Seal(nil, iv[:11], buf, key[:8])
			dst := make([]byte, 0, len(buf))
			op = func() { aead.Open(dst[:0], iv[:11], sealed, key[:8]) }
		case device.MD5:
			op = func() { md5.Sum(buf) }
		case device.SHA256:
			op = func() { sha256.Sum256(buf) }
		case device.HMACMD5:
			op = func() { m := hmac.New(md5.New, key); m.Write(buf); m.Sum(nil) }
		case device.HMACSHA256:
			op = func() { m := hmac.New(sha256.New, key); m.Write(buf); m.Sum(nil) }
		default:
			continue
		}
		n, start := 0, time.Now()
		for time.Since(start) < d {
			for range 64 {
				op()
			}
			n += 64
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(n)
		r := HostRow{Primitive: it.Prim.String(), Bytes: it.Bytes, NsPerOp: ns}
		if ns > 0 {
			r.MBps = float64(it.Bytes) / ns * 1e3
		}
		rows = append(rows, r)
	}
	return rows
}
