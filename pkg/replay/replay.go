// Package replay implements the IPsec anti-replay window of RFC 4303
// §3.4.3 and Appendix A, for 32-bit and extended (64-bit) sequence numbers.
//
// A Window remembers the highest authenticated sequence number T and which of
// the W numbers T-W+1..T have been seen. A packet is accepted when its number
// is above T, or inside the window and not yet seen. As RFC 4303 §3.4.3
// requires, a receiver checks a packet against the window before verifying
// its integrity (Check), and updates the window only once the packet has
// authenticated (Update, or CheckAndUpdate).
//
// A Window is not safe for concurrent use.
package replay

// DefaultSize is the window size RFC 4303 §3.4.3 recommends as a default.
const DefaultSize = 64

// MaxSize is the largest window New accepts.
const MaxSize = 1 << 16

const blockBits = 64

// Window is an anti-replay window. The zero value is not usable; use New.
type Window struct {
	top    uint64   // highest sequence number accepted (0: none yet)
	size   uint64   // W
	blocks []uint64 // ring of bitmaps; bit n%64 of blocks[(n/64)&mask] marks n
	mask   uint64
}

// New returns an empty window of the given size in packets; 0 means
// DefaultSize. It panics if size is negative or above MaxSize.
func New(size int) *Window {
	w := new(Window)
	w.Init(size)
	return w
}

// Init (re)initialises w as an empty window of the given size (0 means
// DefaultSize). It panics if size is negative or above MaxSize.
func (w *Window) Init(size int) {
	if size == 0 {
		size = DefaultSize
	}
	if size < 0 || size > MaxSize {
		panic("replay: window size out of range")
	}
	// Enough 64-bit blocks that the window never shares a block with the
	// block about to be cleared: ceil(W/64)+1, rounded up to a power of two.
	n := 1
	for n < (size+blockBits-1)/blockBits+1 {
		n <<= 1
	}
	*w = Window{size: uint64(size), blocks: make([]uint64, n), mask: uint64(n - 1)}
}

// Size returns the window size W.
func (w *Window) Size() int { return int(w.size) }

// Top returns the highest sequence number accepted so far, 0 if none.
func (w *Window) Top() uint64 { return w.top }

// Check reports whether seq would be accepted: it is not 0, and either
// above the highest number seen or inside the window and not yet seen. It
// does not change the window.
func (w *Window) Check(seq uint64) bool {
	if seq == 0 {
		return false // RFC 4303 §3.3.3: the first packet sent has number 1
	}
	if seq > w.top {
		return true
	}
	if w.top-seq >= w.size {
		return false // left of the window: too old
	}
	return w.blocks[(seq/blockBits)&w.mask]&(1<<(seq%blockBits)) == 0
}

// Update marks seq as seen, sliding the window forward when seq is above
// the highest number seen. Call it only for packets that authenticated and
// passed Check.
func (w *Window) Update(seq uint64) {
	if seq == 0 {
		return
	}
	if seq > w.top {
		// Clear the blocks that the window slides over.
		cur, next := w.top/blockBits, seq/blockBits
		if next-cur > w.mask {
			cur = next - w.mask - 1
		}
		for i := cur + 1; i <= next; i++ {
			w.blocks[i&w.mask] = 0
		}
		w.top = seq
	} else if w.top-seq >= w.size {
		return
	}
	w.blocks[(seq/blockBits)&w.mask] |= 1 << (seq % blockBits)
}

// CheckAndUpdate checks seq and, if it is acceptable, marks it as seen.
// It reports whether seq was accepted.
func (w *Window) CheckAndUpdate(seq uint64) bool {
	if !w.Check(seq) {
		return false
	}
	w.Update(seq)
	return true
}

// InferESN returns the full 64-bit sequence number for a packet that
// carries only the low-order 32 bits seqLow, following RFC 4303 Appendix
// A2.2: the high-order half is the window's (Th), one more (the sender has
// wrapped past 2^32 ahead of the window), or one less (the window straddles
// a 2^32 boundary and the packet is from its older part).
//
// When the rule would call for a high-order half below zero (the window is
// near the very start of the sequence space, where no older subspace exists),
// the packet can only be ahead of the window and InferESN uses 0.
func (w *Window) InferESN(seqLow uint32) uint64 {
	th := uint32(w.top >> 32)
	tl := uint32(w.top)
	wm1 := uint32(w.size - 1) // W-1; W <= MaxSize fits
	bottom := tl - wm1        // Tl - W + 1, modulo 2^32
	var sh uint32
	if tl >= wm1 {
		// Case A: the window lies within one 2^32 subspace.
		if seqLow >= bottom {
			sh = th
		} else {
			sh = th + 1
		}
	} else {
		// Case B: the window spans two subspaces.
		if seqLow >= bottom {
			if th == 0 {
				sh = 0 // no subspace below the first: the packet is ahead
			} else {
				sh = th - 1
			}
		} else {
			sh = th
		}
	}
	return uint64(sh)<<32 | uint64(seqLow)
}
