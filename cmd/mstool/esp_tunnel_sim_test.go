//go:build linux

package main

import (
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

// ping(8) reaches the simulated device through 'mstool esp tunnel' in a
// network namespace the test makes: the device answers ICMP echo inside
// ESP; SIGINT removes the interface and saves the sequence state.
func TestESPTunnelSimPing(t *testing.T) {
	needRoot(t, "the test makes a network namespace and a TUN interface")
	ipTool := testenv.Tool(t, "ip", "iproute2")
	pingTool := testenv.Tool(t, "ping", "iputils-ping")
	s := provisionedSim(t, "aes128-ccm8")
	bin := buildMstool(t, s.dir)

	ns := fmt.Sprintf("mstun-test-%d", os.Getpid())
	if out, err := exec.Command(ipTool, "netns", "add", ns).CombinedOutput(); err != nil {
		testenv.Missing(t, "network namespaces", fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command(ipTool, "netns", "del", ns).Run() })
	inNS := func(name string, args ...string) *exec.Cmd {
		return exec.Command(ipTool, append([]string{"netns", "exec", ns, name}, args...)...)
	}

	var stderr lockedBuffer
	tun := inNS(bin, "-v", "--json", "esp", "tunnel", "--sa", s.sa, "--port", s.port(), "--name", "mstun0")
	var stdout lockedBuffer
	tun.Stdout, tun.Stderr = &stdout, &stderr
	tun.Env = append(os.Environ(), "NO_COLOR=1")
	if err := tun.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the process has been waited for (waitErr is
	// then its status): the body and the cleanup may both wait on it.
	exited, waitErr := make(chan struct{}), error(nil)
	go func() { waitErr = tun.Wait(); close(exited) }()
	t.Cleanup(func() {
		tun.Process.Kill()
		select { // bounded: a hung child must fail this test, not the package
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("esp tunnel still running 20 s after SIGKILL:\n%s", stderr.String())
		}
	})

	// Wait until the session is up (it logs the interface once ready; the
	// bound is generous: CI runs the packages' tests in parallel on 2 cores).
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "ip addr add") {
		select {
		case <-exited:
			t.Fatalf("esp tunnel ended early: %v\n%s", waitErr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("esp tunnel not ready after 60 s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command(ipTool, "-n", ns, "addr", "add", simHost, "peer", simDevA, "dev", "mstun0").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v\n%s", err, out)
	}
	out, err := inNS(pingTool, "-c", "2", "-W", "5", simDevA).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s through the tunnel: %v\n%s\nmstool:\n%s", simDevA, err, out, stderr.String())
	}
	if !strings.Contains(string(out), "2 received") {
		t.Fatalf("ping: not 2 replies:\n%s", out)
	}
	t.Logf("%s", out)

	// The device's task service over UDP, from a Go socket in the namespace.
	res := taskInNetns(t, ns, netip.AddrPortFrom(netip.MustParseAddr(simDevA), tasks.Port), tasks.TaskID)
	if res.Status != tasks.StatusOK || len(res.Result) == 0 {
		t.Fatalf("task id through the tunnel: %+v", res)
	}

	if err := tun.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("esp tunnel after SIGINT: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("esp tunnel did not stop after SIGINT:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), `"to_device": 3`) {
		t.Errorf("counters: want 3 packets to the device (2 echoes, 1 task):\n%s", stdout.String())
	}
	if _, err := os.Stat(s.sa + ".state"); err != nil {
		t.Errorf("no sequence state after the tunnel: %v", err)
	}
	if out, err := exec.Command(ipTool, "-n", ns, "link", "show", "mstun0").CombinedOutput(); err == nil {
		t.Errorf("the interface is still there after SIGINT:\n%s", out)
	}
	t.Logf("mstool:\n%s%s", stdout.String(), stderr.String())
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
