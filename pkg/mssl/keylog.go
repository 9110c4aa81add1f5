package mssl

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// KeyLogLabel starts every key log line.
const KeyLogLabel = "MSSL1"

// KeyLogLine is one session's line of an MSSL key log (the MSSLKEYLOGFILE
// of `mstool mssl`, like TLS's SSLKEYLOGFILE):
//
//	MSSL1 <Nd> <Nh> <client key> <client salt> <server key> <server salt>
//
// all lowercase hex. Nd names the session (it is unique per device).
// Whoever has the line can decrypt the session's records: keep it as
// secret as the host key.
func KeyLogLine(nh, nd [NonceSize]byte, k Keys) string {
	return fmt.Sprintf("%s %x %x %x %x %x %x\n", KeyLogLabel, nd, nh, k.ClientKey, k.ClientSalt, k.ServerKey, k.ServerSalt)
}

// KeyLogEntry is one parsed key log line.
type KeyLogEntry struct {
	Nd, Nh [NonceSize]byte
	Keys   Keys
}

// ParseKeyLog reads a key log. Blank lines and lines starting with '#' are
// skipped; lines with another label are skipped too (a file may mix
// logs); an MSSL1 line that does not parse is an error naming its line.
func ParseKeyLog(r io.Reader) ([]KeyLogEntry, error) {
	var out []KeyLogEntry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || f[0] != KeyLogLabel {
			continue
		}
		if len(f) != 7 {
			return nil, fmt.Errorf("mssl: key log line %d: %d fields, want 7", n, len(f))
		}
		var e KeyLogEntry
		dsts := [][]byte{e.Nd[:], e.Nh[:], e.Keys.ClientKey[:], e.Keys.ClientSalt[:], e.Keys.ServerKey[:], e.Keys.ServerSalt[:]}
		for i, d := range dsts {
			v, err := hex.DecodeString(f[i+1])
			if err != nil || len(v) != len(d) {
				return nil, fmt.Errorf("mssl: key log line %d: field %d: want %d bytes of hex", n, i+2, len(d))
			}
			copy(d, v)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mssl: key log: %w", err)
	}
	return out, nil
}

// DecryptResult says what Decrypter.Open did with one datagram.
type DecryptResult uint8

// Decrypter results.
const (
	NotMSSL       DecryptResult = iota // not an MSSL record (or a handshake message): leave it
	Decrypted                          // a record that opened: its plaintext is returned
	Undecryptable                      // an MSSL record no logged session opens
	Replayed                           // a record that opened but repeats an earlier sequence number
)

type flow struct{ host, device netip.AddrPort }

type decSession struct {
	c2s, s2c         *direction
	lastC2S          uint32
	lastS2C          uint32
	seenC2S, seenS2C bool
}

// Decrypter decrypts the MSSL records of captured sessions whose keys are
// in a key log, for `mstool decrypt`. Feed it every UDP datagram of a
// capture in capture order (it follows the handshakes to bind a flow to
// its session); it is not safe for concurrent use.
type Decrypter struct {
	byNd  map[[NonceSize]byte]*decSession
	all   []*decSession
	flows map[flow]*decSession
}

// NewDecrypter returns a Decrypter for the sessions of a key log.
func NewDecrypter(entries []KeyLogEntry) *Decrypter {
	d := &Decrypter{byNd: map[[NonceSize]byte]*decSession{}, flows: map[flow]*decSession{}}
	for _, e := range entries {
		s := &decSession{
			c2s: newDirection(e.Keys.ClientKey, e.Keys.ClientSalt, dirC2S),
			s2c: newDirection(e.Keys.ServerKey, e.Keys.ServerSalt, dirS2C),
		}
		d.byNd[e.Nd] = s
		d.all = append(d.all, s)
	}
	return d
}

// maxTrial bounds the sessions tried on a record whose flow is not known
// (its ServerHello is not in the capture).
const maxTrial = 256

// Open looks at one UDP datagram from src to dst. For an MSSL data, alert
// or floor record of a logged session it appends the record's plaintext to
// out and returns Decrypted; Finished records and handshake messages are
// NotMSSL (left as they are).
func (d *Decrypter) Open(out []byte, src, dst netip.AddrPort, payload []byte) ([]byte, DecryptResult) {
	var fl flow
	var toDevice bool
	switch {
	case dst.Port() == Port:
		fl, toDevice = flow{host: src, device: dst}, true
	case src.Port() == Port:
		fl = flow{host: dst, device: src}
	default:
		return out, NotMSSL
	}
	if len(payload) == 0 {
		return out, NotMSSL
	}
	if payload[0] == TypeServerHello && !toDevice {
		if sh, err := ParseServerHello(payload); err == nil {
			if s, ok := d.byNd[sh.Nd]; ok {
				d.flows[fl] = s
			}
		}
		return out, NotMSSL
	}
	if payload[0] == RecordFinished || !IsRecordType(payload[0]) {
		return out, NotMSSL
	}
	r, err := ParseRecord(payload)
	if err != nil {
		return out, NotMSSL
	}
	try := func(s *decSession) ([]byte, bool) {
		dir := s.s2c
		if toDevice {
			dir = s.c2s
		}
		pt, err := dir.open(out, payload, r, nil)
		return pt, err == nil
	}
	s := d.flows[fl]
	pt, ok := []byte(nil), false
	if s != nil {
		pt, ok = try(s)
	}
	if !ok && len(d.all) <= maxTrial {
		for _, c := range d.all {
			if c == s {
				continue
			}
			if pt, ok = try(c); ok {
				s = c
				d.flows[fl] = c
				break
			}
		}
	}
	if !ok {
		return out, Undecryptable
	}
	last, seen := &s.lastS2C, &s.seenS2C
	if toDevice {
		last, seen = &s.lastC2S, &s.seenC2S
	}
	if *seen && r.Seq <= *last {
		return out, Replayed
	}
	*last, *seen = r.Seq, true
	return pt, Decrypted
}
