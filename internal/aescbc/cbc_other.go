//go:build !amd64 || purego

package aescbc

const useAsm = false

func decryptBlocks(rounds int, xk, dst, src *byte, n int, iv *byte) {
	panic("aescbc: no assembly on this platform")
}
