// Package ccm implements the CCM mode of operation (Counter with CBC-MAC) of
// RFC 3610 as a [cipher.AEAD], as used by ESP in RFC 4309 (AES-CCM with a
// 16-, 12- or 8-byte ICV and an 11-byte nonce: 3-byte salt ‖ 8-byte IV).
//
// The implementation works on any [cipher.Block] with a 16-byte block size;
// in this project it is always [crypto/aes]. Seal and Open follow the rules of
// [cipher.AEAD]: they append to dst, dst may alias the input exactly (in
// place) but must not overlap it otherwise, and they do not allocate beyond
// growing dst when its capacity is too small. Open verifies the tag in
// constant time before it returns any plaintext and zeroes its output on
// failure; every failure is reported as the single error [ErrOpen].
package ccm

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math"
	"sync"

	"github.com/mstool/mstool/internal/aesmode"
)

// Sizes, in bytes.
const (
	// BlockSize is the block size of the underlying cipher CCM requires.
	BlockSize = 16
	// MinNonceSize and MaxNonceSize bound the nonce length N (RFC 3610 §2:
	// N = 15 - L with 2 <= L <= 8).
	MinNonceSize = 7
	MaxNonceSize = 13
	// MinTagSize and MaxTagSize bound the tag length M (RFC 3610 §2: M is
	// one of 4, 6, 8, 10, 12, 14 or 16).
	MinTagSize = 4
	MaxTagSize = 16
)

// ErrOpen is the one error Open returns when a message does not
// authenticate, whatever the reason (wrong tag, wrong key, nonce or
// additional data, modified or truncated ciphertext).
var ErrOpen = errors.New("ccm: message authentication failed")

// ccm is a CCM instance for one key, tag size and nonce size. It holds no
// per-message state and is safe for concurrent use.
type ccm struct {
	b      cipher.Block
	k      *aesmode.Key // NewAES: both passes several blocks at a time
	m      int          // tag size M
	n      int          // nonce size N
	l      int          // length-field size L = 15 - N
	maxLen uint64       // largest payload length expressible in L bytes
}

// scratch holds the per-call working blocks. Passing slices of stack arrays
// to the cipher.Block interface would make them escape to the heap, so they
// come from a pool instead; they are wiped before being returned.
type scratch struct {
	x   [BlockSize]byte // CBC-MAC state
	ctr [BlockSize]byte // counter block A_i
	ks  [BlockSize]byte // key stream block S_i
	tag [MaxTagSize]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	clear(s.x[:])
	clear(s.ctr[:])
	clear(s.ks[:])
	clear(s.tag[:])
	scratchPool.Put(s)
}

// New returns a CCM [cipher.AEAD] on block with a tagSize-byte
// authentication value (M in RFC 3610: 4, 6, 8, 10, 12, 14 or 16) and a
// nonceSize-byte nonce (N = 15-L: 7 to 13). block must have a 16-byte block
// size. RFC 4309 ESP uses tagSize 8, 12 or 16 with nonceSize 11.
func New(block cipher.Block, tagSize, nonceSize int) (cipher.AEAD, error) {
	if block == nil || block.BlockSize() != BlockSize {
		return nil, errors.New("ccm: block cipher must have a 16-byte block size")
	}
	if tagSize < MinTagSize || tagSize > MaxTagSize || tagSize%2 != 0 {
		return nil, errors.New("ccm: invalid tag size (want 4, 6, 8, 10, 12, 14 or 16)")
	}
	if nonceSize < MinNonceSize || nonceSize > MaxNonceSize {
		return nil, errors.New("ccm: invalid nonce size (want 7 to 13)")
	}
	l := 15 - nonceSize
	maxLen := uint64(math.MaxUint64)
	if l < 8 {
		maxLen = 1<<(8*uint(l)) - 1
	}
	return &ccm{b: block, m: tagSize, n: nonceSize, l: l, maxLen: maxLen}, nil
}

// NewAES is New on AES with key (16, 24 or 32 bytes). It computes the same,
// faster: with AES-NI, the counter-mode pass runs eight blocks at a time
// and the CBC-MAC pass chains its blocks without a call per block
// (internal/aesmode). Without AES-NI it is New.
func NewAES(key []byte, tagSize, nonceSize int) (cipher.AEAD, error) {
	k, err := aesmode.New(key)
	if err != nil {
		return nil, err
	}
	a, err := New(k.Block(), tagSize, nonceSize)
	if err != nil {
		return nil, err
	}
	if aesmode.Accelerated() {
		a.(*ccm).k = k
	}
	return a, nil
}

// NonceSize returns the nonce length N the instance was created with.
func (c *ccm) NonceSize() int { return c.n }

// Overhead returns the tag length M: a sealed message is that much longer
// than its plaintext.
func (c *ccm) Overhead() int { return c.m }

// tooLong reports whether a payload of n bytes cannot be encoded in L bytes.
func (c *ccm) tooLong(n int) bool { return uint64(n) > c.maxLen }

// Seal encrypts and authenticates plaintext, authenticates additionalData
// and appends the ciphertext followed by the tag to dst. It panics if nonce
// is not NonceSize bytes, if plaintext is too long for the length field
// (2^(8L)-1 bytes), or if the output overlaps plaintext other than exactly.
func (c *ccm) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != c.n {
		panic("ccm: incorrect nonce length given to CCM")
	}
	if c.tooLong(len(plaintext)) {
		panic("ccm: message too large for the nonce size")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.m)
	if inexactOverlap(out, plaintext) {
		panic("ccm: invalid buffer overlap of output and input")
	}
	s := getScratch()
	defer putScratch(s)

	c.macStart(s, nonce, len(plaintext), additionalData)
	// MAC the plaintext before it may be overwritten (in-place use).
	c.macFinish(s, c.macUpdate(s, 0, plaintext))
	c.crypt(s, nonce, out[:len(plaintext)], plaintext)
	c.tagOut(s, nonce, out[len(plaintext):])
	return ret
}

// Open authenticates ciphertext (the encrypted payload followed by the tag)
// and additionalData and, if they verify, decrypts and appends the plaintext
// to dst. The tag is compared in constant time before the plaintext is
// returned; on failure the output bytes are zeroed and Open returns ErrOpen.
// It panics if nonce is not NonceSize bytes or if the output overlaps
// ciphertext other than exactly.
func (c *ccm) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != c.n {
		panic("ccm: incorrect nonce length given to CCM")
	}
	if len(ciphertext) < c.m || c.tooLong(len(ciphertext)-c.m) {
		return nil, ErrOpen
	}
	ptLen := len(ciphertext) - c.m
	tag := ciphertext[ptLen:]
	ret, out := sliceForAppend(dst, ptLen)
	if inexactOverlap(out, ciphertext) {
		panic("ccm: invalid buffer overlap of output and input")
	}
	s := getScratch()
	defer putScratch(s)

	// The received tag lies just past out when Open works in place; it is
	// never written, but is copied so the comparison reads private bytes.
	want := s.tag[:c.m]
	copy(want, tag)

	c.macStart(s, nonce, ptLen, additionalData)
	c.crypt(s, nonce, out, ciphertext[:ptLen])
	c.macFinish(s, c.macUpdate(s, 0, out))
	got := s.x[:c.m]
	c.ctrBlock(s, nonce, 0)
	c.b.Encrypt(s.ks[:], s.ctr[:])
	subtle.XORBytes(got, got, s.ks[:c.m])
	if subtle.ConstantTimeCompare(got, want) != 1 {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// macStart loads B_0 and the encoded additional data into the CBC-MAC state
// (RFC 3610 §2.2).
func (c *ccm) macStart(s *scratch, nonce []byte, msgLen int, aad []byte) {
	b0 := s.x[:]
	flags := byte((c.m-2)/2)<<3 | byte(c.l-1)
	if len(aad) > 0 {
		flags |= 1 << 6
	}
	b0[0] = flags
	copy(b0[1:], nonce)
	putLen(b0[1+c.n:], uint64(msgLen))
	c.b.Encrypt(b0, b0)
	if len(aad) == 0 {
		return
	}
	// l(a) encodings of RFC 3610 §2.2.
	var pos int
	switch la := uint64(len(aad)); {
	case la < 1<<16-1<<8:
		pos = c.macUpdate(s, 0, binary.BigEndian.AppendUint16(s.ks[:0], uint16(la)))
	case la <= math.MaxUint32:
		hdr := append(s.ks[:0], 0xff, 0xfe)
		pos = c.macUpdate(s, 0, binary.BigEndian.AppendUint32(hdr, uint32(la)))
	default:
		hdr := append(s.ks[:0], 0xff, 0xff)
		pos = c.macUpdate(s, 0, binary.BigEndian.AppendUint64(hdr, la))
	}
	pos = c.macUpdate(s, pos, aad)
	if pos != 0 {
		c.b.Encrypt(s.x[:], s.x[:]) // zero padding to a block boundary
	}
}

// macUpdate XORs data into the CBC-MAC state starting at byte pos of the
// current block, encrypting each completed block, and returns the new
// position. Callers must pad (encrypt a partial block) at the end of each
// of the two sections, additional data and payload.
func (c *ccm) macUpdate(s *scratch, pos int, data []byte) int {
	for len(data) > 0 {
		if pos == 0 && c.k != nil && len(data) >= BlockSize {
			n := len(data) &^ (BlockSize - 1)
			c.k.MAC(&s.x, data[:n])
			data = data[n:]
			continue
		}
		n := subtle.XORBytes(s.x[pos:], s.x[pos:], data)
		data = data[n:]
		pos += n
		if pos == BlockSize {
			c.b.Encrypt(s.x[:], s.x[:])
			pos = 0
		}
	}
	return pos
}

// macFinish pads the payload section of the CBC-MAC with zeros: pos is what
// macUpdate returned, non-zero when a partial block is pending.
func (c *ccm) macFinish(s *scratch, pos int) {
	if pos != 0 {
		c.b.Encrypt(s.x[:], s.x[:])
	}
}

// ctrBlock sets s.ctr to A_i = flags ‖ nonce ‖ i (RFC 3610 §2.3).
func (c *ccm) ctrBlock(s *scratch, nonce []byte, i uint64) {
	s.ctr[0] = byte(c.l - 1)
	copy(s.ctr[1:], nonce)
	putLen(s.ctr[1+c.n:], i)
}

// crypt XORs src with the key stream S_1, S_2, ... into dst.
func (c *ccm) crypt(s *scratch, nonce, dst, src []byte) {
	c.ctrBlock(s, nonce, 1)
	if c.k != nil {
		// The counter is L <= 8 bytes; XORCTR carries beyond its last
		// four only when they wrap, which a message short enough for L
		// bytes of length never makes happen for L < 4.
		c.k.XORCTR(dst, src, &s.ctr)
		return
	}
	ctr := s.ctr[1+c.n:]
	for len(src) > 0 {
		c.b.Encrypt(s.ks[:], s.ctr[:])
		n := subtle.XORBytes(dst, src, s.ks[:])
		dst, src = dst[n:], src[n:]
		increment(ctr)
	}
}

// tagOut writes U = T xor first-M-bytes(S_0) to out, T being the first M
// bytes of the final CBC-MAC state.
func (c *ccm) tagOut(s *scratch, nonce, out []byte) {
	c.ctrBlock(s, nonce, 0)
	c.b.Encrypt(s.ks[:], s.ctr[:])
	subtle.XORBytes(out, s.x[:c.m], s.ks[:c.m])
}

// putLen writes v big-endian into all of b (len(b) = L <= 8).
func putLen(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// increment adds one to the big-endian counter b.
func increment(b []byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}
