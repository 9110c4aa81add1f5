package esp

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 512, 1400}

// BenchmarkOpen measures decapsulation of one IPv4 tunnel-mode packet of
// the given inner size: authentication, decryption, padding check and the
// anti-replay window update. The same sealed packet is opened every time
// (OpenPacketNoReplay) and a fresh sequence number is then passed to the
// window, which costs what an in-order stream costs.
func BenchmarkOpen(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				out, in := pair(b, testSA(b, suite, Tunnel, false, false, false))
				p := udp4(size-28, false)
				sealed, err := out.SealPacket(nil, p)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 0, 2048)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var seq uint64
				for b.Loop() {
					if _, _, err := in.OpenPacketNoReplay(buf[:0], sealed); err != nil {
						b.Fatal(err)
					}
					seq++
					if err := in.CheckAndUpdateReplay(seq); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSeal measures encapsulation of one IPv4 packet of the given
// size in tunnel mode.
func BenchmarkSeal(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				out, _ := pair(b, testSA(b, suite, Tunnel, true, false, false))
				p := udp4(size-28, false)
				buf := make([]byte, 0, 2048)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := out.SealPacket(buf[:0], p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
