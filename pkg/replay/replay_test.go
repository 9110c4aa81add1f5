package replay

import (
	"math/rand/v2"
	"testing"
)

// op is one step of a scenario: offer seq to CheckAndUpdate and expect ok.
type op struct {
	seq uint64
	ok  bool
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name string
		size int
		ops  []op
	}{
		{"zero is never valid", 64, []op{{0, false}, {1, true}, {0, false}}},
		{"in order", 64, []op{{1, true}, {2, true}, {3, true}}},
		{"duplicate", 64, []op{{1, true}, {1, false}, {2, true}, {1, false}, {2, false}}},
		{"reorder within window", 64, []op{{10, true}, {5, true}, {9, true}, {5, false}, {1, true}}},
		// RFC 4303 §3.4.3: the window covers T-W+1..T; T-W is too old.
		{"left edge", 64, []op{{100, true}, {37, true}, {36, false}, {37, false}}},
		{"jump clears old bits", 64, []op{{1, true}, {2, true}, {1000, true}, {937, true}, {936, false}, {999, true}, {1000, false}}},
		{"huge jump", 64, []op{{5, true}, {1 << 40, true}, {1<<40 - 63, true}, {1<<40 - 64, false}, {5, false}}},
		{"block boundary", 64, []op{{63, true}, {64, true}, {65, true}, {127, true}, {128, true}, {64, false}, {65, false}, {66, true}}},
		{"size 1", 1, []op{{5, true}, {4, false}, {5, false}, {6, true}}},
		{"size 100", 100, []op{{200, true}, {101, true}, {100, false}, {150, true}, {150, false}, {300, true}, {201, true}, {200, false}}},
		{"default size", 0, []op{{65, true}, {2, true}, {1, false}}},
		{"slide by one block reuses ring slot", 64, []op{{64, true}, {1, true}, {128, true}, {65, true}, {64, false}, {129, true}, {65, false}}},
		{"max uint64", 64, []op{{^uint64(0), true}, {^uint64(0), false}, {^uint64(0) - 63, true}, {^uint64(0) - 64, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(tt.size)
			for i, o := range tt.ops {
				if got := w.Check(o.seq); got != o.ok {
					t.Fatalf("step %d: Check(%d) = %v, want %v", i, o.seq, got, o.ok)
				}
				if got := w.CheckAndUpdate(o.seq); got != o.ok {
					t.Fatalf("step %d: CheckAndUpdate(%d) = %v, want %v", i, o.seq, got, o.ok)
				}
			}
		})
	}
}

// TestWindowModel compares the window against a set-based model of the
// RFC 4303 §3.4.3 rule over random sequences with many reorderings and
// duplicates.
func TestWindowModel(t *testing.T) {
	for _, size := range []int{1, 32, 63, 64, 65, 128, 1000} {
		w := New(size)
		seen := map[uint64]bool{}
		var top uint64
		r := rand.New(rand.NewPCG(uint64(size), 7))
		next := uint64(1)
		for i := 0; i < 20000; i++ {
			var seq uint64
			switch r.IntN(4) {
			case 0: // fresh, with occasional gaps
				next += uint64(r.IntN(3)) + 1
				if r.IntN(100) == 0 {
					next += uint64(r.IntN(5000))
				}
				seq = next
			default: // somewhere recent: duplicates and reordering
				back := uint64(r.IntN(2*size + 2))
				if back >= next {
					back = next - 1
				}
				seq = next - back
			}
			want := seq != 0 && !seen[seq] && (seq > top || top-seq < uint64(size))
			if got := w.CheckAndUpdate(seq); got != want {
				t.Fatalf("size %d step %d: seq %d (top %d) got %v want %v", size, i, seq, top, got, want)
			}
			if want {
				seen[seq] = true
				if seq > top {
					top = seq
				}
			}
		}
	}
}

func TestInferESN(t *testing.T) {
	const W = 64
	tests := []struct {
		name string
		top  uint64
		low  uint32
		want uint64
	}{
		// RFC 4303 Appendix A2.2, Case A: Tl >= W-1.
		{"case A same subspace ahead", 5<<32 | 1000, 2000, 5<<32 | 2000},
		{"case A same subspace in window", 5<<32 | 1000, 990, 5<<32 | 990},
		{"case A at bottom", 5<<32 | 1000, 1000 - W + 1, 5<<32 | (1000 - W + 1)},
		{"case A below bottom wraps forward", 5<<32 | 1000, 1000 - W, 6<<32 | (1000 - W)},
		{"case A low wrap", 5<<32 | 0xfffffff0, 3, 6<<32 | 3},
		// Case B: Tl < W-1, the window straddles the boundary.
		{"case B older subspace", 5<<32 | 10, 0xfffffff0, 4<<32 | 0xfffffff0},
		{"case B current subspace", 5<<32 | 10, 5, 5<<32 | 5},
		{"case B current subspace ahead", 5<<32 | 10, 100000, 5<<32 | 100000},
		{"case B no subspace below zero", 10, 0xfffffff0, 0xfffffff0},
		{"empty window", 0, 1, 1},
		{"empty window, top of space", 0, 0xffffffff, 0xffffffff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(W)
			if tt.top != 0 {
				w.Update(tt.top)
			}
			if got := w.InferESN(tt.low); got != tt.want {
				t.Errorf("InferESN(%#x) with top %#x = %#x, want %#x", tt.low, tt.top, got, tt.want)
			}
		})
	}
}

func TestInitPanics(t *testing.T) {
	for _, size := range []int{-1, MaxSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", size)
				}
			}()
			New(size)
		}()
	}
}

func BenchmarkCheckAndUpdate(b *testing.B) {
	w := New(DefaultSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.CheckAndUpdate(uint64(i + 1))
	}
}
