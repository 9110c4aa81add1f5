package grant_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/grant"
)

// FuzzParse feeds arbitrary bytes to Parse and Verify. Neither may panic;
// whatever Parse accepts must encode back to exactly the same bytes (one
// encoding per grant), and every rejection must carry a reason. The seed
// corpus (testdata/fuzz/FuzzParse, plus the grants of vectors/grant.txt
// added here) starts from valid grants so the fuzzer reaches the checks
// behind the length and magic.
//
//	go test ./pkg/grant -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	if p, err := vectors.Path("grant.txt"); err == nil {
		if recs, err := vectors.Load(p); err == nil {
			for _, r := range recs {
				f.Add(r.Hex("grant"))
			}
		}
	}
	k1024, k2048 := testKey(f, 1024), testKey(f, 2048)
	dev := testDevice()
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		g, err := grant.Parse(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			if g != nil || !errors.Is(err, grant.ErrMalformed) {
				t.Fatalf("Parse: %v, %v", g, err)
			}
			return
		}
		if out := g.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("Marshal(Parse(b)) differs:\n%x\n%x", out, b)
		}
		_ = g.Tasks.String()
		for _, k := range []*struct{ opts grant.VerifyOptions }{
			{grant.VerifyOptions{Issuer: &k1024.PublicKey, Device: dev}},
			{grant.VerifyOptions{Issuer: &k2048.PublicKey, Device: dev}},
		} {
			res, err := grant.Verify(b, k.opts)
			if err != nil && grant.ReasonOf(err) == "" {
				t.Fatalf("Verify error without a reason: %v", err)
			}
			if err == nil && res == nil {
				t.Fatal("Verify: no result and no error")
			}
		}
	})
}
