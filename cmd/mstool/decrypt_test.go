package main

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/pkg/floorbook"
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
			env.Setenv(floorbook.EnvDir, filepath.Join(env.WorkDir, ".state"))
			return writeDecryptInputs(env.WorkDir)
		},
		Cmds: scriptCmds(),
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
