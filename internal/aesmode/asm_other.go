//go:build !amd64 || purego

package aesmode

const useAsm = false

func decryptCBC(rounds int, xk, dst, src *byte, n int, iv *byte) { panic("aesmode: no assembly") }
func cbcMAC(rounds int, xk, x, src *byte, n int)                 { panic("aesmode: no assembly") }
func ctrXOR(rounds int, xk, ctr, dst, src *byte, n int)          { panic("aesmode: no assembly") }
