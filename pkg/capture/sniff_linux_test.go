//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/capture/capturetest"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs f on an OS thread switched into the named network namespace.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is not unlocked: if switching back failed it must
		// die with the goroutine rather than serve others in ns.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			t.Error(err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
}

// TestSniffNetns: in two network namespaces joined by a veth pair, ESP
// packets are sent from one end while `mstool sniff` (the real binary)
// captures on the other; every good packet is decrypted on the fly, the
// bad ones are counted, and after SIGINT the pcapng file is whole.
func TestSniffNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (for network namespaces and AF_PACKET)", "run the tests as root, as CI does")
	}
	testenv.Tool(t, "ip", "iproute2")
	mstool := buildMstool(t)

	id := os.Getpid() % 100000
	nsA, nsB := fmt.Sprintf("mst%da", id), fmt.Sprintf("mst%db", id)
	vA, vB := fmt.Sprintf("mst%dA", id), fmt.Sprintf("mst%dB", id)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", nsA).Run()
		exec.Command("ip", "netns", "del", nsB).Run()
	})
	ipCmd(t, "netns", "add", nsA)
	ipCmd(t, "netns", "add", nsB)
	ipCmd(t, "link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB)
	for _, x := range [][2]string{{nsA, vA}, {nsB, vB}} {
		// No addresses and no IPv6 autoconfiguration: only our frames cross.
		ipCmd(t, "-n", x[0], "link", "set", x[1], "addrgenmode", "none")
		ipCmd(t, "-n", x[0], "link", "set", x[1], "up")
	}
	macB, err := net.ParseMAC(strings.TrimSpace(strings.Fields(ipCmd(t, "-n", nsB, "-br", "link", "show", vB))[2]))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	f, out, back := session(t, 77, safile.Options{Suite: esp.SuiteAES128CCM16, UDPEncap: true})
	saPath := filepath.Join(dir, "dev.sa")
	if err := safile.WriteFile(saPath, f); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var frames, inner [][]byte
	for i := range n {
		data := []byte(fmt.Sprintf("live %d", i))
		ip := capturetest.ICMPEcho(host, device, 3, uint16(i+1), data)
		o := out
		if i%2 == 1 {
			ip, o = capturetest.UDP(device, host, 5683, 5684, data), back
		}
		fr := capturetest.Frame(LinkTypeEthernet, seal(t, o, ip))
		copy(fr[0:6], macB)
		frames = append(frames, fr)
		in := capturetest.Frame(LinkTypeEthernet, ip)
		copy(in[0:6], macB)
		inner = append(inner, in)
	}
	tampered := bytes.Clone(frames[3])
	tampered[len(tampered)-2] ^= 1
	send := append(append([][]byte{}, frames...), frames[5], tampered) // + a replay and a forgery

	capPath := filepath.Join(dir, "live.pcapng")
	cmd := exec.Command("ip", "netns", "exec", nsB, mstool, "--json", "sniff", "-i", vB, "-w", capPath, "--sa", saPath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan string, 1)
	var errText strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "capturing on") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case _, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("mstool sniff ended before capturing:\n%s", errText.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mstool sniff did not start:\n%s", errText.String())
	}

	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"bad": sc.Text()}
			}
			lines <- m
		}
		close(lines)
	}()

	inNetns(t, nsA, func() {
		ifc, err := net.InterfaceByName(vA)
		if err != nil {
			t.Error(err)
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		for _, fr := range send {
			if err := unix.Sendto(fd, fr, 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}); err != nil {
				t.Error(err)
				return
			}
		}
	})

	var packets []map[string]any
	deadline := time.After(30 * time.Second)
	for len(packets) < len(send) {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("sniff output ended early:\n%s", errText.String())
			}
			if m["type"] == "packet" && strings.Contains(fmt.Sprint(m["summary"]), "192.0.2.") {
				packets = append(packets, m)
			}
		case <-deadline:
			t.Fatalf("saw %d of %d packets", len(packets), len(send))
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	for m := range lines {
		if m["type"] == "summary" {
			summary = m
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mstool sniff after SIGINT: %v\n%s", err, errText.String())
	}
	for i, p := range packets {
		want := "decrypted"
		switch i {
		case n:
			want = "replayed"
		case n + 1:
			want = "failed-icv"
		}
		if p["result"] != want {
			t.Errorf("packet %d: %v, want %s", i+1, p, want)
		}
	}
	if summary == nil || summary["decrypted"] != float64(n) || summary["replayed"] != 1.0 || summary["failed_icv"] != 1.0 {
		t.Errorf("summary %v", summary)
	}

	// The capture file is whole: every record reads back, and the
	// decrypted packets are the plaintext frames.
	data, err := os.ReadFile(capPath)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, data)
	var ours [][]byte
	for _, fr := range got {
		if bytes.Contains(fr, host.AsSlice()) {
			ours = append(ours, fr)
		}
	}
	if len(ours) != len(send) {
		t.Fatalf("capture holds %d of our %d packets (%d in all)", len(ours), len(send), len(got))
	}
	for i := range n {
		if !bytes.Equal(ours[i], inner[i]) {
			t.Errorf("captured packet %d is not the plaintext:\n got %x\nwant %x", i+1, ours[i], inner[i])
		}
	}
	if !bytes.Equal(ours[n], send[n]) || !bytes.Equal(ours[n+1], send[n+1]) {
		t.Error("the replayed or forged packet was altered in the capture")
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		if out, err := exec.Command(tshark, "-r", capPath).CombinedOutput(); err != nil {
			t.Errorf("tshark cannot read the capture: %v\n%s", err, out)
		}
	}
}

// TestSniffNeedsPrivilege: without CAP_NET_RAW, sniff says so, with a hint,
// and exits with the link status (3). As root, the test drops to nobody
// with setpriv(1).
func TestSniffNeedsPrivilege(t *testing.T) {
	mstool := buildMstool(t)
	args := []string{mstool, "sniff", "-i", "lo", "--count", "1"}
	if os.Geteuid() == 0 {
		setpriv := testenv.Tool(t, "setpriv", "util-linux")
		if err := os.Chmod(filepath.Dir(mstool), 0o755); err != nil {
			t.Fatal(err)
		}
		args = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, want := range []string{"no permission to capture on lo (needs root or CAP_NET_RAW)", "hint: run it as root"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
