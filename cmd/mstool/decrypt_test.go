package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/capture/capturetest"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// TestDecryptScripts runs testdata/decrypt/*.txtar against the real mstool
// with captures made fresh for each script: esp.pcap and esp.pcapng (one
// session under dev.sa: 4 good packets, a replay, a forgery, a plain
// packet), foreign.pcap (under other.sa), wrong.sa (dev.sa's SPIs with
// other keys) and dev.esp_sa (the Wireshark export of dev.sa).
func TestDecryptScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/decrypt",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			return writeDecryptInputs(env.WorkDir)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// perm MODE FILE: the file's permission bits are exactly MODE.
			"perm": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: perm MODE FILE")
				}
				fi, err := os.Stat(ts.MkAbs(args[1]))
				ts.Check(err)
				mode, err := strconv.ParseUint(args[0], 8, 32)
				ts.Check(err)
				if (fi.Mode().Perm() == os.FileMode(mode)) == neg {
					ts.Fatalf("%s has mode %04o", args[1], fi.Mode().Perm())
				}
			},
			// chmod MODE FILE
			"chmod": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: chmod MODE FILE")
				}
				mode, err := strconv.ParseUint(args[0], 8, 32)
				ts.Check(err)
				ts.Check(os.Chmod(ts.MkAbs(args[1]), os.FileMode(mode)))
			},
			// exits CODE PROG ARGS...: run PROG, require exactly this status.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE PROG [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("%s: %v", args[1], err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
				}
			},
		},
	})
}

func writeDecryptInputs(dir string) error {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	f, err := safile.New(rand.Reader, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA256, Local: a, Remote: b})
	if err != nil {
		return err
	}
	other, err := safile.New(rand.Reader, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA256, Local: a, Remote: b})
	if err != nil {
		return err
	}
	if err := safile.WriteFile(filepath.Join(dir, "dev.sa"), f); err != nil {
		return err
	}
	if err := safile.WriteFile(filepath.Join(dir, "other.sa"), other); err != nil {
		return err
	}
	// wrong.sa: dev.sa's SPIs with other keys.
	wrong := other.Mirror().Mirror()
	wrong.Inbound[0].SPI, wrong.Outbound[0].SPI = f.Inbound[0].SPI, f.Outbound[0].SPI
	if err := safile.WriteFile(filepath.Join(dir, "wrong.sa"), wrong); err != nil {
		return err
	}
	ws, _ := safile.ExportWireshark(f.All())
	if err := os.WriteFile(filepath.Join(dir, "dev.esp_sa"), ws, 0o600); err != nil {
		return err
	}
	mk := func(sas *safile.File, ng bool, name string) error {
		out, err := esp.NewOutbound(sas.Outbound[0])
		if err != nil {
			return err
		}
		back, err := esp.NewOutbound(sas.Inbound[0])
		if err != nil {
			return err
		}
		var frames [][]byte
		for i := range 4 {
			var p []byte
			if i%2 == 0 {
				p, err = out.SealPacket(nil, capturetest.ICMPEcho(a, b, 1, uint16(i+1), []byte("ping")))
			} else {
				p, err = back.SealPacket(nil, capturetest.UDP(b, a, 40001, 40002, []byte("reading 21.5C")))
			}
			if err != nil {
				return err
			}
			frames = append(frames, capturetest.Frame(capture.LinkTypeEthernet, p))
		}
		forged := bytes.Clone(frames[0])
		forged[len(forged)-1] ^= 1
		frames = append(frames, frames[1], forged, capturetest.Frame(capture.LinkTypeEthernet, capturetest.UDP(a, b, 53, 53, []byte("plain"))))
		var buf bytes.Buffer
		w, err := capturetest.NewWriter(&buf, capture.LinkTypeEthernet, ng)
		if err != nil {
			return err
		}
		for _, fr := range frames {
			if err := w.Write(fr); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	if err := mk(f, false, "esp.pcap"); err != nil {
		return err
	}
	if err := mk(f, true, "esp.pcapng"); err != nil {
		return err
	}
	return mk(other, false, "foreign.pcap")
}
