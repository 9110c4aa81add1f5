package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// bootstrapScriptCmds run the Go reference device (pkg/bootstrap) inside
// the test process, so that testscripts drive enrol → serve → join
// against it over UDP loopback.
func bootstrapScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	// Scripts run in parallel: a device's name is per script ($WORK).
	var mu sync.Mutex
	devices := map[string]*bootstrap.Device{}
	key := func(ts *testscript.TestScript, name string) string { return ts.Getenv("WORK") + "\x00" + name }
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// freeport VAR: set VAR to a UDP port on 127.0.0.1 that was free.
		"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 1 {
				ts.Fatalf("usage: freeport VAR")
			}
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			ts.Check(err)
			ts.Setenv(args[0], strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
			c.Close()
		},
		// refdevice NAME DEVICEFILE VAR: boot the reference device from an
		// enrolled device file and serve its bootstrap endpoint on UDP
		// loopback until the script ends; VAR gets its port.
		"refdevice": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 {
				ts.Fatalf("usage: refdevice NAME DEVICEFILE VAR")
			}
			data, err := os.ReadFile(ts.MkAbs(args[1]))
			ts.Check(err)
			e, err := bootstrap.ParseEnrolled(data)
			ts.Check(err)
			d := bootstrap.NewDevice(e.Device, e.IK, e.RNi)
			conn, err := net.ListenPacket("udp", "127.0.0.1:0")
			ts.Check(err)
			ctx, cancel := context.WithCancel(context.Background())
			ts.Defer(cancel)
			go bootstrap.ServeDevice(ctx, conn, d)
			mu.Lock()
			devices[key(ts, args[0])] = d
			mu.Unlock()
			ts.Setenv(args[2], strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port))
		},
		// refdevicekey NAME IDENTITY: the reference device's key is the
		// master key of the identity file (negated: it is not).
		// derivesas IDENTITY SAFILE: the SA file's SPIs and keys are the
		// ones the device derives from the identity's master key
		// (bootstrap.DeriveSAs, the device's KDF).
		"derivesas": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: derivesas IDENTITY SAFILE")
			}
			data, err := os.ReadFile(ts.MkAbs(args[0]))
			ts.Check(err)
			ident, err := devkey.Parse(data)
			ts.Check(err)
			f, err := safile.ReadFile(ts.MkAbs(args[1]))
			ts.Check(err)
			want, err := bootstrap.DeriveSAs(ident.MasterKey, safile.Options{Suite: esp.SuiteAES128CCM8})
			ts.Check(err)
			same := func(a, b *esp.SA) bool {
				return a.SPI == b.SPI && bytes.Equal(a.EncKey, b.EncKey) && bytes.Equal(a.AuthKey, b.AuthKey)
			}
			ok := len(f.Inbound) == 1 && len(f.Outbound) == 1 && same(f.Inbound[0], want.Inbound[0]) && same(f.Outbound[0], want.Outbound[0])
			if ok == neg {
				ts.Fatalf("%s derived from %s: %v", args[1], args[0], ok)
			}
		},
		"refdevicekey": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: refdevicekey NAME IDENTITY")
			}
			mu.Lock()
			d := devices[key(ts, args[0])]
			mu.Unlock()
			if d == nil {
				ts.Fatalf("no reference device %s", args[0])
			}
			data, err := os.ReadFile(ts.MkAbs(args[1]))
			ts.Check(err)
			ident, err := devkey.Parse(data)
			ts.Check(err)
			k, _ := d.Key()
			if (k == ident.MasterKey && ident.ID == d.ID()) == neg {
				ts.Fatalf("reference device %s: key matches %s: %v", args[0], args[1], !neg)
			}
		},
	}
}
