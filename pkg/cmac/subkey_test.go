package cmac

import (
	"crypto/aes"
	"encoding/hex"
	"testing"
)

// TestSubkeys checks K1 and K2 against RFC 4493 section 4 (subkey
// generation for the example key).
func TestSubkeys(t *testing.T) {
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	b, _ := aes.NewCipher(key)
	m, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(m.k1[:]); got != "fbeed618357133667c85e08f7236a8de" {
		t.Errorf("K1 = %s", got)
	}
	if got := hex.EncodeToString(m.k2[:]); got != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("K2 = %s", got)
	}
}
