package grant_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
)

// TestDocExample keeps the example body in docs/grant.md equal to the
// device-rsa2048 vector.
func TestDocExample(t *testing.T) {
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "..", "docs", "grant.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "Example (the `device-rsa2048` vector, body only):\n\n```\n")
	if !ok {
		t.Fatal("docs/grant.md: example not found")
	}
	block, _, _ := strings.Cut(rest, "```")
	got, err := hex.DecodeString(strings.Join(strings.Fields(block), ""))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := vectors.Load(vectorFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Text("name") == "device-rsa2048" {
			if !bytes.Equal(got, r.Hex("body")) {
				t.Fatalf("docs/grant.md example\n%x\nvector body\n%x", got, r.Hex("body"))
			}
			return
		}
	}
	t.Fatal("no device-rsa2048 vector")
}
