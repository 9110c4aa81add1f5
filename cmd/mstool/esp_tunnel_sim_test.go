//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/tasks"
)

// buildMstool builds the real binary into dir, for tests that run it in
// another network namespace or with fewer capabilities.
func buildMstool(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "mstool")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// needRoot skips outside CI when not root, and fails in CI (tests run as
// root there).
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", why)
	}
}

// Without CAP_NET_ADMIN (root with the capability dropped from its
// bounding set, through setpriv) the tunnel fails before touching the
// device: exit 3 and an error naming the capability.
func TestESPTunnelNoCapability(t *testing.T) {
	needRoot(t, "the test drops CAP_NET_ADMIN with setpriv")
	setpriv := testenv.Tool(t, "setpriv", "util-linux")
	dir := t.TempDir()
	bin := buildMstool(t, dir)
	sa := filepath.Join(dir, "host.sa")
	mustRun(t, "-q", "esp", "sa", "new", "-o", sa, "--src", simHost, "--dst", simDevA)
	cmd := exec.Command(setpriv, "--bounding-set=-net_admin", "--inh-caps=-net_admin",
		bin, "esp", "tunnel", "--sa", sa, "--port", filepath.Join(dir, "no-such-port"))
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitLink {
		t.Fatalf("esp tunnel without CAP_NET_ADMIN: %v, want exit %d\n%s", err, exitLink, out)
	}
	if !strings.Contains(string(out), "CAP_NET_ADMIN") || !strings.Contains(string(out), "setcap") {
		t.Fatalf("no error naming CAP_NET_ADMIN with the setcap hint:\n%s", out)
	}
	if _, err := os.Stat(sa + ".state"); err == nil {
		t.Errorf("the sequence state was touched before the interface was made")
	}
}

// tunnelRun is 'mstool esp tunnel' on a simulated device, running in a
// network namespace the test made, the interface addressed.
type tunnelRun struct {
	ns             string
	ip             string // ip(8)
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	exited         chan struct{} // closed once the process has been waited for
	waitErr        error
}

// startTunnel starts the tunnel for s's SA in a new network namespace and
// waits until the interface carries the host address with the device as
// its peer.
func startTunnel(t *testing.T, s *simDevice) *tunnelRun {
	t.Helper()
	needRoot(t, "the test makes a network namespace and a TUN interface")
	tr := &tunnelRun{ip: testenv.Tool(t, "ip", "iproute2"), exited: make(chan struct{})}
	bin := buildMstool(t, s.dir)
	tr.ns = fmt.Sprintf("mstun-test-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	if out, err := exec.Command(tr.ip, "netns", "add", tr.ns).CombinedOutput(); err != nil {
		testenv.Missing(t, "network namespaces", fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command(tr.ip, "netns", "del", tr.ns).Run() })
	tr.cmd = tr.inNS(bin, "-v", "--json", "esp", "tunnel", "--sa", s.sa, "--port", s.port(), "--name", "mstun0")
	tr.cmd.Stdout, tr.cmd.Stderr = &tr.stdout, &tr.stderr
	tr.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The body and the cleanup may both wait on exited.
	go func() { tr.waitErr = tr.cmd.Wait(); close(tr.exited) }()
	t.Cleanup(func() {
		tr.cmd.Process.Kill()
		select { // bounded: a hung child must fail this test, not the package
		case <-tr.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("esp tunnel still running 20 s after SIGKILL:\n%s", tr.stderr.String())
		}
	})
	// Wait until the session is up (it logs the interface once ready; the
	// bound is generous: CI runs the packages' tests in parallel on 2 cores).
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(tr.stderr.String(), "ip addr add") {
		select {
		case <-tr.exited:
			t.Fatalf("esp tunnel ended early: %v\n%s", tr.waitErr, tr.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("esp tunnel not ready after 60 s:\n%s", tr.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command(tr.ip, "-n", tr.ns, "addr", "add", simHost, "peer", simDevA, "dev", "mstun0").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v\n%s", err, out)
	}
	return tr
}

// inNS is a command that runs name in the tunnel's namespace.
func (tr *tunnelRun) inNS(name string, args ...string) *exec.Cmd {
	return exec.Command(tr.ip, append([]string{"netns", "exec", tr.ns, name}, args...)...)
}

// stop ends the tunnel with SIGINT, as a user does, and checks it exits 0
// and removes its interface.
func (tr *tunnelRun) stop(t *testing.T) {
	t.Helper()
	if err := tr.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tr.exited:
		if tr.waitErr != nil {
			t.Fatalf("esp tunnel after SIGINT: %v\n%s", tr.waitErr, tr.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("esp tunnel did not stop after SIGINT:\n%s", tr.stderr.String())
	}
	if out, err := exec.Command(tr.ip, "-n", tr.ns, "link", "show", "mstun0").CombinedOutput(); err == nil {
		t.Errorf("the interface is still there after SIGINT:\n%s", out)
	}
}

// ping(8) reaches the simulated device through 'mstool esp tunnel' in a
// network namespace the test makes: the device answers ICMP echo inside
// ESP; SIGINT removes the interface and saves the sequence state.
func TestESPTunnelSimPing(t *testing.T) {
	needRoot(t, "the test makes a network namespace and a TUN interface")
	pingTool := testenv.Tool(t, "ping", "iputils-ping")
	s := provisionedSim(t, "aes128-ccm8")
	tr := startTunnel(t, s)

	out, err := tr.inNS(pingTool, "-c", "2", "-W", "5", simDevA).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s through the tunnel: %v\n%s\nmstool:\n%s", simDevA, err, out, tr.stderr.String())
	}
	if !strings.Contains(string(out), "2 received") {
		t.Fatalf("ping: not 2 replies:\n%s", out)
	}
	t.Logf("%s", out)

	// The device's task service over UDP, from a Go socket in the namespace.
	res := taskInNetns(t, tr.ns, netip.AddrPortFrom(netip.MustParseAddr(simDevA), tasks.Port), tasks.TaskID)
	if res.Status != tasks.StatusOK || len(res.Result) == 0 {
		t.Fatalf("task id through the tunnel: %+v", res)
	}

	tr.stop(t)
	if !strings.Contains(tr.stdout.String(), `"to_device": 3`) {
		t.Errorf("counters: want 3 packets to the device (2 echoes, 1 task):\n%s", tr.stdout.String())
	}
	if _, err := os.Stat(s.sa + ".state"); err != nil {
		t.Errorf("no sequence state after the tunnel: %v", err)
	}
	t.Logf("mstool:\n%s%s", tr.stdout.String(), tr.stderr.String())
}

// coap-client (libcoap, a client no one here wrote) reads and writes the
// device's own CoAP resources (firmware/lib/coap.c, the esp-coap image)
// through 'mstool esp tunnel': CoAP over UDP over ESP end to end, with
// Confirmable and Non-confirmable requests, GET and PUT, and the error
// codes of an unknown task and of arguments a task refuses.
func TestESPTunnelSimCoAP(t *testing.T) {
	for _, mcu := range []string{"atmega328p", "atmega168"} {
		t.Run(mcu, func(t *testing.T) { testTunnelCoAP(t, mcu) })
	}
}

func testTunnelCoAP(t *testing.T, mcu string) {
	needRoot(t, "the test makes a network namespace and a TUN interface")
	coap := testenv.Tool(t, "coap-client-openssl", "libcoap3-bin")
	elf := testenv.Artifact(t, "firmware/build/profile/esp-coap/"+mcu+"/mstool.elf", "firmware")
	s := provisionedSimImage(t, mcu, elf, "aes128-ccm8")
	tr := startTunnel(t, s)

	// client runs coap-client in the namespace; the payload goes to a file
	// (it is binary), the rest (-v 6: the response's code) to stderr.
	client := func(args ...string) (payload []byte, log string) {
		t.Helper()
		out := filepath.Join(s.dir, "payload")
		os.Remove(out)
		cmd := tr.inNS(coap, append([]string{"-B", "20", "-v", "6", "-o", out}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("coap-client %s: %v\n%s\nmstool:\n%s", strings.Join(args, " "), err, b, tr.stderr.String())
		}
		payload, _ = os.ReadFile(out)
		return payload, string(b)
	}
	dev := "coap://" + simDevA

	// adc channel 3 (the simulator's ADC reads 0): 2.05 with two bytes,
	// piggy-backed in the Acknowledgement of a Confirmable request, a
	// Non-confirmable response to a Non-confirmable one (-v 6 logs each
	// message as "v:1 t:ACK c:2.05 i:... {token} [options] :: payload").
	for _, mode := range []struct{ flag, resp string }{{"", "t:ACK c:2.05"}, {"-N", "t:NON c:2.05"}} {
		args := []string{"-m", "get", dev + "/4?3"}
		if mode.flag != "" {
			args = append([]string{mode.flag}, args...)
		}
		p, log := client(args...)
		if len(p) != 2 || !strings.Contains(log, mode.resp) || !strings.Contains(log, "Content-Format:application/octet-stream") {
			t.Fatalf("GET /4?3 %s: payload %x, want 2 bytes in %q, application/octet-stream:\n%s", mode.flag, p, mode.resp, log)
		}
	}
	// id: the device id and the firmware version, as the task service gives.
	if p, log := client("-m", "get", dev+"/0"); len(p) != 8 || !strings.Contains(log, "c:2.05") {
		t.Fatalf("GET /0: payload %x, want the 8-byte id:\n%s", p, log)
	}
	// led on, then read it back: PUT carries the argument as its payload.
	if p, log := client("-m", "put", "-e", "%01", dev+"/3"); !bytes.Equal(p, []byte{1}) || !strings.Contains(log, "c:2.04") {
		t.Fatalf("PUT /3 01: payload %x, want 01 and 2.04:\n%s", p, log)
	}
	if p, _ := client("-m", "put", "-e", "%03", dev+"/3"); !bytes.Equal(p, []byte{1}) {
		t.Fatalf("PUT /3 03 (read): payload %x, want the led on", p)
	}
	// no task 9; adc has no channel 8
	if _, log := client("-m", "get", dev+"/9"); !strings.Contains(log, "c:4.04") {
		t.Fatalf("GET /9: want 4.04:\n%s", log)
	}
	if _, log := client("-m", "get", dev+"/4?8"); !strings.Contains(log, "c:4.00") {
		t.Fatalf("GET /4?8: want 4.00:\n%s", log)
	}
	tr.stop(t)
	t.Logf("mstool:\n%s%s", tr.stdout.String(), tr.stderr.String())
}

// taskInNetns runs one task on the device at dst from a UDP socket made in
// the network namespace ns (its thread joins the namespace and is dropped
// afterwards).
func taskInNetns(t *testing.T, ns string, dst netip.AddrPort, task tasks.Task) tasks.Reply {
	t.Helper()
	type result struct {
		r   tasks.Reply
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		r, err := func() (tasks.Reply, error) {
			f, err := os.Open(filepath.Join("/run/netns", ns))
			if err != nil {
				return tasks.Reply{}, err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return tasks.Reply{}, fmt.Errorf("setns: %w", err)
			}
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
			if err != nil {
				return tasks.Reply{}, err
			}
			defer c.Close()
			for attempt := 0; attempt < 3; attempt++ {
				if _, err := c.Write(tasks.AppendRequest(nil, task, uint16(0x4000+attempt), nil)); err != nil {
					return tasks.Reply{}, err
				}
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				buf := make([]byte, 1500)
				n, err := c.Read(buf)
				if err != nil {
					continue
				}
				r, err := tasks.ParseReply(buf[:n])
				if err != nil {
					return tasks.Reply{}, err
				}
				r.Result = append([]byte(nil), r.Result...)
				return r, nil
			}
			return tasks.Reply{}, fmt.Errorf("no reply from %s", dst)
		}()
		ch <- result{r, err}
	}()
	res := <-ch
	if res.err != nil {
		t.Fatalf("task %s through the tunnel: %v", task, res.err)
	}
	return res.r
}
