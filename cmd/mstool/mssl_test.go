package main

import (
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/mssl/mssltest"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
)

// TestMSSLScripts runs testdata/mssl/*.txtar against the real mstool and
// the reference MSSL server of pkg/mssl (what the firmware does), started
// by the script command msslserve on a UDP port of the loopback interface.
func TestMSSLScripts(t *testing.T) {
	cmds := scriptCmds()
	cmds["msslserve"] = msslServe
	cmds["udppayloads"] = udpPayloads
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/mssl",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			env.Setenv(floorbook.EnvDir, filepath.Join(env.WorkDir, ".state"))
			env.Setenv("MSSLKEYLOGFILE", "")
			return nil
		},
		Cmds: cmds,
	})
}

// msslserve DEVKEY ISSUER [PCAP]: serve MSSL as device DEVKEY trusting
// ISSUER (a public or private PEM key) on 127.0.0.1; $MSSL_ADDR is its
// HOST:PORT. With PCAP, every datagram both ways is recorded (raw IPv4).
// Settings-read of index 1 fails on this device (status failed).
func msslServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: msslserve DEVKEY ISSUER [PCAP]")
	}
	ident, err := devkey.Parse([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	issuer, err := signkey.ParsePublicPEM([]byte(ts.ReadFile(args[1])))
	ts.Check(err)
	dev := &mssltest.Tasks{DeviceID: ident.ID}
	run := func(t tasks.Task, a []byte) (tasks.Status, []byte) {
		if t == tasks.TaskSettingsRead && len(a) == 1 && a[0] == 1 {
			return tasks.StatusFailed, nil
		}
		return dev.Run(t, a)
	}
	srv, err := mssl.NewServer(mssl.ServerConfig{Device: ident, Issuer: issuer, Store: &mssl.MemStore{}, Tasks: run})
	ts.Check(err)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	ts.Check(err)
	var rec *link.Recorder
	if len(args) == 3 {
		f, err := os.Create(ts.MkAbs(args[2]))
		ts.Check(err)
		ts.Defer(func() { f.Close() })
		rec, err = link.NewRecorder(f)
		ts.Check(err)
	}
	local := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	if rec != nil {
		pc = &recordingConn{PacketConn: pc, rec: rec, local: local}
	}
	go srv.ServePacket(pc)
	ts.Defer(func() { pc.Close() })
	ts.Setenv("MSSL_ADDR", local.String())
}

// recordingConn records the datagrams a server sends and receives as
// IPv4/UDP packets. The server's port is shown as 7412 (the device's), so
// that decrypt finds MSSL as on a real link.
type recordingConn struct {
	net.PacketConn
	rec   *link.Recorder
	local netip.AddrPort
}

func (c *recordingConn) record(src, dst netip.AddrPort, p []byte) {
	h := ipv4.Header{Src: src.Addr(), Dst: dst.Addr()}
	if pkt, err := ipv4.AppendUDP(nil, &h, src.Port(), dst.Port(), p); err == nil {
		c.rec.Record(pkt)
	}
}

func (c *recordingConn) dev() netip.AddrPort { return netip.AddrPortFrom(c.local.Addr(), mssl.Port) }

func (c *recordingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	if err == nil {
		c.record(a.(*net.UDPAddr).AddrPort(), c.dev(), p[:n])
	}
	return n, a, err
}

func (c *recordingConn) WriteTo(p []byte, a net.Addr) (int, error) {
	c.record(c.dev(), a.(*net.UDPAddr).AddrPort(), p)
	return c.PacketConn.WriteTo(p, a)
}

// udppayloads PCAP: print the hex UDP payload of each packet to or from
// port 7412, one per line.
func udpPayloads(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: udppayloads PCAP")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	ts.Check(err)
	if r.LinkType() != layers.LinkTypeRaw && r.LinkType() != 101 {
		ts.Fatalf("link type %v", r.LinkType())
	}
	var out strings.Builder
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		d, err := ipv4.ParseUDP(data)
		if err != nil {
			out.WriteString("not-udp\n")
			continue
		}
		if d.SrcPort == mssl.Port || d.DstPort == mssl.Port {
			out.WriteString(hex.EncodeToString(d.Payload) + "\n")
		}
	}
	ts.Stdout().Write([]byte(out.String()))
}
