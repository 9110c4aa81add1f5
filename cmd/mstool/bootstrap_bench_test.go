package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEnrol is the fleet claim of issue 12: 'mstool bootstrap enrol
// --count 10000' (the CLI in process: random ids, IK and RN_i, a 256-pixel
// QR label PNG and a 0600 device file per device, one repository write)
// in under a minute. A benchmark, not a test; docs/PERFORMANCE.md
// ("Host: bootstrap") has the figures and how to reproduce them:
//
//	go test ./cmd/mstool -run '^$' -bench Enrol -benchtime 1x
func BenchmarkEnrol(b *testing.B) {
	const count = 10000
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		start := time.Now()
		if rc := run([]string{"mstool", "bootstrap", "enrol", "--repo", filepath.Join(dir, "devices.repo"), "--count", strconv.Itoa(count), "-o", filepath.Join(dir, "labels")}, nil, io.Discard, &stderr); rc != 0 {
			b.Fatalf("enrol: exit %d: %s", rc, stderr.String())
		}
		b.ReportMetric(float64(count)/time.Since(start).Seconds(), "labels/s")
		b.StopTimer()
		if pngs, _ := filepath.Glob(filepath.Join(dir, "labels", "*.png")); len(pngs) != count {
			b.Fatalf("%d labels, want %d", len(pngs), count)
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
