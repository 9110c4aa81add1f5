//go:build amd64 && !purego

package aescbc

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAES && cpu.X86.HasSSE41

// decryptBlocks decrypts n blocks of src into dst in CBC mode with the
// decryption round keys at xk (rounds+1 of them); iv holds the IV and is
// left holding the last ciphertext block. Eight blocks at a time are
// decrypted interleaved, so that AESDEC's latency is hidden.
//
//go:noescape
func decryptBlocks(rounds int, xk, dst, src *byte, n int, iv *byte)
