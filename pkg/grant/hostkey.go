package grant

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// hostKeyHeader is the first line of a host key file.
const hostKeyHeader = "mstool-hostkey v1"

// MarshalHostKey encodes a host key as the secret file the host keeps next
// to its grant:
//
//	mstool-hostkey v1
//	# secret: ... (comment lines)
//	host-key: 000102030405060708090a0b0c0d0e0f
//
// comment, if not empty, is written as '#' lines after the header.
func MarshalHostKey(key [HostKeySize]byte, comment string) []byte {
	var b bytes.Buffer
	b.WriteString(hostKeyHeader + "\n")
	b.WriteString("# secret: the MSSL host key of one grant; only the grant's host may hold it (mode 0600)\n")
	for _, l := range strings.Split(comment, "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "host-key: %x\n", key[:])
	return b.Bytes()
}

// ParseHostKey decodes a host key file written by MarshalHostKey.
func ParseHostKey(data []byte) ([HostKeySize]byte, error) {
	var key [HostKeySize]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sawHeader, sawKey := false, false
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !sawHeader {
			if text != hostKeyHeader {
				return key, fmt.Errorf("grant: line %d: not a host key file (want %q first)", line, hostKeyHeader)
			}
			sawHeader = true
			continue
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok || strings.TrimSpace(name) != "host-key" {
			return key, fmt.Errorf("grant: line %d: want 'host-key: <32 hex digits>'", line)
		}
		if sawKey {
			return key, fmt.Errorf("grant: line %d: host-key given twice", line)
		}
		k, err := hex.DecodeString(strings.TrimSpace(value))
		if err != nil || len(k) != HostKeySize {
			return key, fmt.Errorf("grant: line %d: host-key: want %d bytes of hex", line, HostKeySize)
		}
		copy(key[:], k)
		clear(k)
		sawKey = true
	}
	if err := sc.Err(); err != nil {
		return key, fmt.Errorf("grant: %w", err)
	}
	if !sawHeader || !sawKey {
		return key, errors.New("grant: host key file has no host-key line")
	}
	return key, nil
}
