package mssl

import (
	"net/netip"

	"github.com/mstool/mstool/pkg/capture"
)

// CaptureOpener returns d as a capture.UDPOpener, so that
// capture.DecryptCapture also decrypts the MSSL records of the sessions in
// d's key log (capture.Options.MSSL).
func (d *Decrypter) CaptureOpener() capture.UDPOpener { return captureOpener{d} }

// captureOpener maps Decrypter.Open's results to capture's.
type captureOpener struct{ d *Decrypter }

func (o captureOpener) OpenUDP(dst []byte, src, to netip.AddrPort, payload []byte) ([]byte, capture.Result) {
	out, r := o.d.Open(dst, src, to, payload)
	switch r {
	case Decrypted:
		return out, capture.MSSLDecrypted
	case Undecryptable:
		return dst, capture.MSSLFailed
	case Replayed:
		return dst, capture.Replayed
	}
	return dst, capture.Other
}
