package main

import (
	"context"
	"net"
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/devkey"
)

// bootstrapScriptCmds run the Go reference device (pkg/bootstrap) inside
// the test process, so that testscripts drive enrol → serve → join
// against it over UDP loopback.
func bootstrapScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	devices := map[string]*bootstrap.Device{}
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
			d, err := bootstrap.NewDevice(e.Device, bootstrap.EnrolArea(e.IK, e.RNi))
			ts.Check(err)
			conn, err := net.ListenPacket("udp", "127.0.0.1:0")
			ts.Check(err)
			ctx, cancel := context.WithCancel(context.Background())
			ts.Defer(cancel)
			go bootstrap.ServeDevice(ctx, conn, d)
			devices[args[0]] = d
			ts.Setenv(args[2], strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port))
		},
		// refdevicekey NAME IDENTITY: the reference device's key is the
		// master key of the identity file (negated: it is not).
		"refdevicekey": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: refdevicekey NAME IDENTITY")
			}
			d := devices[args[0]]
			if d == nil {
				ts.Fatalf("no reference device %s", args[0])
			}
			data, err := os.ReadFile(ts.MkAbs(args[1]))
			ts.Check(err)
			ident, err := devkey.Parse(data)
			ts.Check(err)
			k, _, ok := d.Key()
			if (ok && k == ident.MasterKey && ident.ID == d.ID()) == neg {
				ts.Fatalf("reference device %s: key matches %s: %v", args[0], args[1], !neg)
			}
		},
	}
}
