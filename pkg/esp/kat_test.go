package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/ccm"
)

func loadVectors(t *testing.T, file, alg string) []vectors.Record {
	t.Helper()
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := vectors.Load(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []vectors.Record
	for _, r := range rs {
		if r.Text("alg") == alg {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no %s records", file, alg)
	}
	return out
}

// TestRFC3602ESP runs the ESP cases of RFC 3602 §4 (#5-#8) through Seal
// and Open. The RFC's packets carry no ICV; the suite here adds HMAC-SHA-1-96,
// so Seal's output must equal the published packet followed by the HMAC of
// that packet, and Open must recover the payload from the published packet.
func TestRFC3602ESP(t *testing.T) {
	for _, r := range loadVectors(t, "aes-cbc.txt", "esp-aes-128-cbc") {
		t.Run(r.Text("source"), func(t *testing.T) {
			authKey := bytes.Repeat([]byte{0x5a}, 20)
			sa := &SA{
				SPI:     binary.BigEndian.Uint32(r.Hex("spi")),
				Suite:   SuiteAES128CBCHMACSHA1,
				EncKey:  r.Hex("key"),
				AuthKey: authKey,
				Mode:    Transport,
			}
			seq := uint64(binary.BigEndian.Uint32(r.Hex("seq")))
			out, err := NewOutbound(sa, WithRand(bytes.NewReader(r.Hex("iv"))), WithNextSeq(seq))
			if err != nil {
				t.Fatal(err)
			}
			packet := r.Hex("packet")
			mac := hmac.New(sha1.New, authKey)
			mac.Write(packet)
			want := append(bytes.Clone(packet), mac.Sum(nil)[:12]...)

			got, err := out.Seal(nil, r.Hex("pt"), r.Hex("next")[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: Seal\n got %x\nwant %x", r.Pos(), got, want)
			}
			in, err := NewInbound(sa)
			if err != nil {
				t.Fatal(err)
			}
			pt, nh, err := in.Open(nil, want)
			if err != nil {
				t.Fatalf("%s: Open: %v", r.Pos(), err)
			}
			if !bytes.Equal(pt, r.Hex("pt")) || nh != r.Hex("next")[0] {
				t.Fatalf("%s: Open = %x, %d", r.Pos(), pt, nh)
			}
		})
	}
}

// TestRFC3686 checks the CTR keystream (nonce || IV || counter from 1)
// against RFC 3686 §6.
func TestRFC3686(t *testing.T) {
	for _, r := range loadVectors(t, "aes-ctr.txt", "aes-128-ctr") {
		t.Run(r.Text("source"), func(t *testing.T) {
			sa := &SA{SPI: 0x100, Suite: SuiteAES128CTRHMACSHA256, Mode: Transport,
				EncKey: append(r.Hex("key"), r.Hex("nonce")...), AuthKey: make([]byte, 32)}
			tr, err := newTransform(sa, true)
			if err != nil {
				t.Fatal(err)
			}
			s := tr.getScratch()
			pt := r.Hex("pt")
			got := make([]byte, len(pt), len(pt)+16)
			tr.xorCTR(s, got, pt, r.Hex("iv"))
			if want := r.Hex("ct"); !bytes.Equal(got, want) {
				t.Fatalf("%s: got %x want %x", r.Pos(), got, want)
			}
		})
	}
}

// TestRFC3610 runs the RFC 3610 §8 packet vectors through the CCM
// implementation ESP uses, and checks that a flipped tag bit fails.
func TestRFC3610(t *testing.T) {
	for _, r := range loadVectors(t, "aes-ccm.txt", "aes-128-ccm") {
		if r.ExpectFail() {
			continue
		}
		b, _ := aes.NewCipher(r.Hex("key"))
		a, err := ccm.New(b, len(r.Hex("tag")), len(r.Hex("nonce")))
		if err != nil {
			t.Fatalf("%s: %v", r.Pos(), err)
		}
		want := append(r.Hex("ct"), r.Hex("tag")...)
		got := a.Seal(nil, r.Hex("nonce"), r.Hex("pt"), r.Hex("aad"))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: got %x want %x", r.Pos(), got, want)
		}
		got[len(got)-1] ^= 1
		if _, err := a.Open(nil, r.Hex("nonce"), got, r.Hex("aad")); err == nil {
			t.Fatalf("%s: flipped tag accepted", r.Pos())
		}
	}
}

// TestReferenceConstruction rebuilds each suite's ESP packet from the
// standard library's primitives, following the RFCs' layouts, and compares
// it with Seal: AEAD nonce = salt || IV and AAD = SPI || [seq hi] || seq
// (RFC 4106 §4-5, RFC 4309 §4-5); CTR counter block = nonce || IV || 1
// (RFC 3686 §4); HMAC over SPI..ciphertext || [seq hi] truncated
// (RFC 4303 §2.2.1, §3.3.2).
func TestReferenceConstruction(t *testing.T) {
	for _, suite := range Suites {
		for _, esn := range []bool{false, true} {
			t.Run(suite.String(), func(t *testing.T) {
				sa := testSA(t, suite, Transport, esn, false, false)
				const seq = 0x0000000700000009
				ivCBC := bytes.Repeat([]byte{0x3c}, 16)
				next := uint64(seq)
				if !esn {
					next = 9
				}
				out, err := NewOutbound(sa, WithNextSeq(next), WithRand(bytes.NewReader(ivCBC)))
				if err != nil {
					t.Fatal(err)
				}
				payload := []byte("the quick brown fox jumps over the lazy dog")
				got, err := out.Seal(nil, payload, 6)
				if err != nil {
					t.Fatal(err)
				}

				align := 4
				if suite.IVLen() == 16 {
					align = 16
				}
				body := bytes.Clone(payload)
				for i := 1; (len(body)+2)%align != 0; i++ {
					body = append(body, byte(i))
				}
				body = append(body, byte(len(body)-len(payload)), 6)
				hdr := make([]byte, 8)
				binary.BigEndian.PutUint32(hdr, sa.SPI)
				binary.BigEndian.PutUint32(hdr[4:], uint32(next))
				ivSeq := binary.BigEndian.AppendUint64(nil, next)
				hi := binary.BigEndian.AppendUint32(nil, uint32(next>>32))
				var want []byte
				key := sa.EncKey
				switch suite {
				case SuiteAES128GCM16, SuiteAES128CCM8, SuiteAES128CCM16:
					b, _ := aes.NewCipher(key[:16])
					var a cipher.AEAD
					if suite == SuiteAES128GCM16 {
						a, _ = cipher.NewGCM(b)
					} else {
						a, _ = ccm.New(b, suite.ICVLen(), 11)
					}
					aad := append([]byte{}, hdr[:4]...)
					if esn {
						aad = append(aad, hi...)
					}
					aad = append(aad, hdr[4:]...)
					nonce := append(bytes.Clone(key[16:]), ivSeq...)
					want = append(append(hdr, ivSeq...), a.Seal(nil, nonce, body, aad)...)
				default:
					var ct, iv []byte
					switch suite {
					case SuiteAES128CTRHMACSHA256:
						b, _ := aes.NewCipher(key[:16])
						ctr := append(append(bytes.Clone(key[16:]), ivSeq...), 0, 0, 0, 1)
						ct = make([]byte, len(body))
						cipher.NewCTR(b, ctr).XORKeyStream(ct, body)
						iv = ivSeq
					case SuiteNULLHMACSHA256:
						ct = body
					default:
						b, _ := aes.NewCipher(key)
						ct = make([]byte, len(body))
						cipher.NewCBCEncrypter(b, ivCBC).CryptBlocks(ct, body)
						iv = ivCBC
					}
					want = append(append(hdr, iv...), ct...)
					var h func() hash.Hash
					switch suite {
					case SuiteAES128CBCHMACMD5:
						h = md5.New
					case SuiteAES128CBCHMACSHA1:
						h = sha1.New
					default:
						h = sha256.New
					}
					m := hmac.New(h, sa.AuthKey)
					m.Write(want)
					if esn {
						m.Write(hi)
					}
					want = append(want, m.Sum(nil)[:suite.ICVLen()]...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("esn=%v\n got %x\nwant %x", esn, got, want)
				}
			})
		}
	}
}
