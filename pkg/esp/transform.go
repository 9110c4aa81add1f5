package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"io"
	"sync"

	"github.com/mstool/mstool/internal/aesmode"
	"github.com/mstool/mstool/pkg/ccm"
)

// Wire layout of an ESP packet (RFC 4303 §2):
//
//	SPI (4) | Sequence Number (4) | IV (IVLen) | ciphertext of
//	[ payload | padding | pad length (1) | next header (1) ] | ICV (ICVLen)
const (
	espHeaderLen = 8 // SPI + sequence number
	trailerLen   = 2 // pad length + next header
	maxPayload   = 0xffff
)

// kind is how a suite encrypts and authenticates.
type kind uint8

const (
	kindAEAD kind = iota + 1 // GCM, CCM: combined mode
	kindCBC                  // AES-CBC + HMAC
	kindCTR                  // AES-CTR + HMAC
	kindNULL                 // no encryption + HMAC
)

// transform is the keyed crypto of one SA direction. It holds no
// per-packet state: per-packet scratch space (HMAC state, CBC mode, nonce
// and AAD buffers) comes from a pool, so a transform may be used from many
// goroutines at once.
type transform struct {
	suite   Suite
	kind    kind
	spi     uint32
	esn     bool
	ivLen   int
	icvLen  int
	align   int          // the ciphertext (payload+padding+trailer) is a multiple of this
	block   cipher.Block // CBC, CTR
	cbcDec  *aesmode.Key // inbound CBC: eight blocks at a time
	aead    cipher.AEAD  // GCM, CCM
	ctrGCM  cipher.AEAD  // CTR: GCM on the same key, used for its counter mode
	salt    [4]byte      // GCM/CCM salt or CTR nonce
	saltLen int
	newHash func() hash.Hash
	authKey []byte
	encrypt bool // outbound: CBC scratch holds an encrypter; inbound CBC uses cbcDec

	// Outbound CBC IVs: from rand if set, else AES_ivKey(seq).
	rand  io.Reader
	ivGen cipher.Block

	pool sync.Pool // of *scratch
}

type ivSetter interface{ SetIV([]byte) }

type scratch struct {
	mac   hash.Hash
	cbc   cipher.BlockMode
	nonce [16]byte
	aad   [12]byte
	sum   [sha256.Size]byte
	iv    [16]byte
	ks    [aes.BlockSize]byte
}

func newTransform(sa *SA, encrypt bool) (*transform, error) {
	if err := sa.Validate(); err != nil {
		return nil, err
	}
	s := sa.Suite
	t := &transform{
		suite:   s,
		spi:     sa.SPI,
		esn:     sa.ESN,
		ivLen:   s.IVLen(),
		icvLen:  s.ICVLen(),
		align:   4,
		encrypt: encrypt,
		authKey: append([]byte(nil), sa.AuthKey...),
	}
	var err error
	switch s {
	case SuiteAES128CCM8, SuiteAES128CCM16:
		t.kind, t.saltLen = kindAEAD, ccmSaltLen
		// RFC 4309 §4: 11-byte nonce = salt (3) || IV (8).
		t.aead, err = ccm.NewAES(sa.EncKey[:aesKeyLen], s.ICVLen(), ccmSaltLen+8)
	case SuiteAES128GCM16:
		t.kind, t.saltLen = kindAEAD, gcmSaltLen
		b, _ := aes.NewCipher(sa.EncKey[:aesKeyLen])
		// RFC 4106 §4: 12-byte nonce = salt (4) || IV (8).
		t.aead, err = cipher.NewGCM(b)
	case SuiteAES128CTRHMACSHA256:
		t.kind, t.saltLen = kindCTR, ctrNonceLen
		t.block, _ = aes.NewCipher(sa.EncKey[:aesKeyLen])
		t.ctrGCM, err = cipher.NewGCM(t.block) // its keystream, see xorCTR
	case SuiteAES128CBCHMACMD5, SuiteAES128CBCHMACSHA1, SuiteAES128CBCHMACSHA256:
		t.kind, t.align = kindCBC, aes.BlockSize
		t.block, _ = aes.NewCipher(sa.EncKey)
		if !encrypt {
			t.cbcDec, err = aesmode.New(sa.EncKey)
		}
	case SuiteNULLHMACSHA256:
		t.kind = kindNULL
	}
	if err != nil {
		return nil, err
	}
	copy(t.salt[:], sa.EncKey[len(sa.EncKey)-t.saltLen:])
	switch s {
	case SuiteAES128CBCHMACMD5:
		t.newHash = md5.New
	case SuiteAES128CBCHMACSHA1:
		t.newHash = sha1.New
	case SuiteAES128CTRHMACSHA256, SuiteAES128CBCHMACSHA256, SuiteNULLHMACSHA256:
		t.newHash = sha256.New
	}
	t.pool.New = func() any { return t.newScratch() }
	return t, nil
}

func (t *transform) newScratch() *scratch {
	s := new(scratch)
	if t.newHash != nil {
		s.mac = hmac.New(t.newHash, t.authKey)
	}
	if t.kind == kindCBC && t.encrypt {
		s.cbc = cipher.NewCBCEncrypter(t.block, s.iv[:])
	}
	return s
}

// setCBC points the scratch CBC encrypter at iv.
func (t *transform) setCBC(s *scratch, iv []byte) {
	if m, ok := s.cbc.(ivSetter); ok {
		m.SetIV(iv)
		return
	}
	// Not reached with crypto/aes, whose CBC modes have SetIV.
	s.cbc = cipher.NewCBCEncrypter(t.block, iv)
}

func (t *transform) getScratch() *scratch  { return t.pool.Get().(*scratch) }
func (t *transform) putScratch(s *scratch) { t.pool.Put(s) }

// sealedLen returns the ESP length for a payload of n bytes.
func (t *transform) sealedLen(n int) int {
	ct := (n + trailerLen + t.align - 1) / t.align * t.align
	return espHeaderLen + t.ivLen + ct + t.icvLen
}

// aeadParams fills the nonce (salt || IV) and AAD (SPI || [seq hi] || seq
// lo; RFC 4106 §5, RFC 4309 §5) for an AEAD suite.
func (t *transform) aeadParams(s *scratch, iv []byte, seq uint64) (nonce, aad []byte) {
	n := copy(s.nonce[:], t.salt[:t.saltLen])
	n += copy(s.nonce[n:], iv)
	binary.BigEndian.PutUint32(s.aad[0:], t.spi)
	if t.esn {
		binary.BigEndian.PutUint64(s.aad[4:], seq)
		return s.nonce[:n], s.aad[:12]
	}
	binary.BigEndian.PutUint32(s.aad[4:], uint32(seq))
	return s.nonce[:n], s.aad[:8]
}

// icv computes the HMAC over the authenticated part of an ESP packet plus,
// with ESN, the high-order sequence bits (RFC 4303 §2.2.1), into s.sum.
func (t *transform) icv(s *scratch, authed []byte, seq uint64) []byte {
	s.mac.Reset()
	s.mac.Write(authed)
	if t.esn {
		binary.BigEndian.PutUint32(s.aad[:4], uint32(seq>>32))
		s.mac.Write(s.aad[:4])
	}
	return s.mac.Sum(s.sum[:0])[:t.icvLen]
}

// xorCTR XORs src with the RFC 3686 keystream for iv into dst: counter
// blocks are nonce (4) || IV (8) || counter (4), the counter starting at 1.
//
// GCM's encryption is exactly this counter mode (NIST SP 800-38D §6.5,
// GCTR) on the 12-byte nonce nonce || IV, starting at counter 2 and with a
// 32-bit counter, as RFC 3686's. So block 1 is encrypted here and the rest
// is the ciphertext of a GCM Seal with no additional data, whose 16-byte tag
// is written just past dst[len(src)] (dst must have the capacity) and then
// cleared. This reuses the standard library's fast, allocation-free AES-CTR;
// TestRFC3686 and TestReferenceConstruction check it against RFC 3686 and
// crypto/cipher.NewCTR. dst and src must be equal or not overlap.
func (t *transform) xorCTR(s *scratch, dst, src, iv []byte) {
	if len(src) == 0 {
		return
	}
	blk := s.ks[:aes.BlockSize]
	copy(blk, t.salt[:ctrNonceLen])
	copy(blk[ctrNonceLen:], iv)
	binary.BigEndian.PutUint32(blk[12:], 1)
	nonce := s.nonce[:12]
	copy(nonce, blk[:12])
	t.block.Encrypt(blk, blk)
	if len(src) > aes.BlockSize {
		rest := dst[aes.BlockSize:len(src)]
		out := t.ctrGCM.Seal(rest[:0], nonce, src[aes.BlockSize:], nil)
		clear(out[len(rest):]) // the tag, written into dst's spare capacity
	}
	n := min(len(src), aes.BlockSize)
	subtle.XORBytes(dst[:n], src[:n], blk[:n])
}

// seal appends to dst the ESP packet carrying payload with sequence number
// seq. payload must not overlap the bytes appended to dst.
func (t *transform) seal(dst, payload []byte, nextHeader uint8, seq uint64) ([]byte, error) {
	if len(payload) > maxPayload {
		return nil, errTooLong
	}
	total := t.sealedLen(len(payload))
	out, b := grow(dst, total)
	binary.BigEndian.PutUint32(b[0:], t.spi)
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	iv := b[espHeaderLen : espHeaderLen+t.ivLen]
	ctEnd := total - t.icvLen
	ct := b[espHeaderLen+t.ivLen : ctEnd]
	n := copy(ct, payload)
	pad := len(ct) - n - trailerLen
	for i := 0; i < pad; i++ {
		ct[n+i] = byte(i + 1) // RFC 4303 §2.4 default padding 1, 2, 3, ...
	}
	ct[len(ct)-2] = byte(pad)
	ct[len(ct)-1] = nextHeader

	s := t.getScratch()
	defer t.putScratch(s)
	switch t.kind {
	case kindAEAD:
		// The IV is the 64-bit sequence number: unique per key (sequence
		// numbers are never reused), which is all GCM and CCM require.
		binary.BigEndian.PutUint64(iv, seq)
		nonce, aad := t.aeadParams(s, iv, seq)
		t.aead.Seal(ct[:0], nonce, ct, aad) // in place; the tag fills the ICV
		return out, nil
	case kindCTR:
		// RFC 3686 §3: the IV must be unique per key; the sequence number is.
		binary.BigEndian.PutUint64(iv, seq)
		t.xorCTR(s, ct, ct, iv)
	case kindCBC:
		// RFC 3602 §2.3: the IV must be unpredictable.
		if err := t.cbcIV(iv, seq); err != nil {
			clear(b)
			return nil, err
		}
		t.setCBC(s, iv)
		s.cbc.CryptBlocks(ct, ct)
	}
	copy(b[ctEnd:], t.icv(s, b[:ctEnd], seq))
	return out, nil
}

// cbcIV fills iv for sequence number seq: from the caller's random source if
// one was given, otherwise AES_K'(seq || 0) under a random key K' drawn from
// crypto/rand when the SA was set up. Sequence numbers are unique, so these
// IVs are distinct, and without K' they are unpredictable.
func (t *transform) cbcIV(iv []byte, seq uint64) error {
	if t.rand != nil {
		if _, err := io.ReadFull(t.rand, iv); err != nil {
			return errRandom
		}
		return nil
	}
	binary.BigEndian.PutUint64(iv[0:8], seq)
	clear(iv[8:16])
	t.ivGen.Encrypt(iv, iv)
	return nil
}

// minLen is the shortest ESP packet the suite can have produced.
func (t *transform) minLen() int {
	ct := trailerLen
	if t.kind == kindCBC {
		ct = aes.BlockSize
	}
	return espHeaderLen + t.ivLen + ct + t.icvLen
}

// open authenticates and decrypts the ESP packet esp, whose full sequence
// number is seq, appending the payload (without padding and trailer) to dst.
// The ICV is verified, in constant time, before anything is decrypted.
// The caller has checked the SPI.
func (t *transform) open(dst, esp []byte, seq uint64) ([]byte, uint8, error) {
	if len(esp) < t.minLen() {
		return nil, 0, errShort
	}
	ctStart, ctEnd := espHeaderLen+t.ivLen, len(esp)-t.icvLen
	iv, ct := esp[espHeaderLen:ctStart], esp[ctStart:ctEnd]
	if t.kind == kindCBC && len(ct)%aes.BlockSize != 0 {
		return nil, 0, errBlockAlign
	}
	s := t.getScratch()
	defer t.putScratch(s)
	// 16 bytes of spare capacity for xorCTR; esp's header and ICV are longer.
	out, p := grow(dst, len(ct)+aes.BlockSize)
	out, p = out[:len(out)-aes.BlockSize], p[:len(ct)]
	switch t.kind {
	case kindAEAD:
		nonce, aad := t.aeadParams(s, iv, seq)
		if _, err := t.aead.Open(p[:0], nonce, esp[ctStart:], aad); err != nil {
			return nil, 0, ErrAuth
		}
	default:
		if subtle.ConstantTimeCompare(t.icv(s, esp[:ctEnd], seq), esp[ctEnd:]) != 1 {
			return nil, 0, ErrAuth
		}
		switch t.kind {
		case kindCBC:
			t.cbcDec.DecryptCBC(p, ct, iv)
		case kindCTR:
			t.xorCTR(s, p, ct, iv)
		case kindNULL:
			copy(p, ct)
		}
	}
	// RFC 4303 §2.4-2.6: ... | padding | pad length | next header.
	pad, nh := int(p[len(p)-2]), p[len(p)-1]
	if pad+trailerLen > len(p) {
		clear(p)
		return nil, 0, errPadLen
	}
	n := len(p) - trailerLen - pad
	for i := 0; i < pad; i++ {
		if p[n+i] != byte(i+1) {
			clear(p)
			return nil, 0, errPadBytes
		}
	}
	clear(p[n:])
	return out[:len(dst)+n], nh, nil
}

// grow extends b by n bytes, reusing its array when the capacity allows,
// and returns the whole slice and the n new bytes.
func grow(b []byte, n int) (whole, tail []byte) {
	if total := len(b) + n; cap(b) >= total {
		whole = b[:total]
	} else {
		whole = make([]byte, total, total+total/4)
		copy(whole, b)
	}
	return whole, whole[len(b):]
}
