//go:build amd64 && !purego

package aesmode

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAES && cpu.X86.HasSSE41

// decryptCBC decrypts n blocks of src into dst in CBC mode with the
// decryption round keys at xk (rounds+1 of them); iv holds the IV and is
// left holding the last ciphertext block. Eight blocks at a time are
// decrypted interleaved, so that AESDEC's latency is hidden.
//
//go:noescape
func decryptCBC(rounds int, xk, dst, src *byte, n int, iv *byte)

// cbcMAC chains the CBC-MAC state x through n blocks of src with the
// encryption round keys at xk.
//
//go:noescape
func cbcMAC(rounds int, xk, x, src *byte, n int)

// ctrXOR XORs n blocks of src with the key stream of the counter block
// ctr into dst, eight blocks at a time, incrementing the big-endian 32-bit
// counter in ctr's last four bytes (without carry: the caller splits at
// wraps) and leaving ctr at the next unused value.
//
//go:noescape
func ctrXOR(rounds int, xk, ctr, dst, src *byte, n int)
