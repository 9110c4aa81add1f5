package main

// End-to-end tests of ESP sessions against the simulated device running
// the real firmware (firmware/build/atmega328p/mstool.elf on mssim): the
// acceptance list of the device-link issue. They need 'make firmware'
// (testenv: fail in CI, skip elsewhere).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/link/linktest"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
	"github.com/mstool/mstool/pkg/sim"
	"github.com/mstool/mstool/pkg/slip"
	"github.com/mstool/mstool/pkg/tasks"
)

const (
	simHost = "10.0.0.1"
	simDevA = "10.0.0.2"
)

// mstoolRun runs the CLI in-process and returns stdout, stderr and the
// exit status.
func mstoolRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"mstool"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := mstoolRun(t, args...)
	if code != 0 {
		t.Fatalf("mstool %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// simDevice is a provisioned simulated device and the host's files.
type simDevice struct {
	dir, key, sa, hex, eep string
	mcu                    string
	elf, harness           string
	link                   string // a stable symlink to the port (sim.Options.Link), when set
	dev                    *sim.Device
}

func (s *simDevice) port() string { return s.dev.Port }

// provisionedSim makes a device identity and an SA pair for suite,
// provisions an image and starts the simulated device with it.
func provisionedSim(t *testing.T, suite string, extra ...string) *simDevice {
	t.Helper()
	return provisionedSimMCU(t, "atmega328p", suite, extra...)
}

// provisionedSimMCU is provisionedSim for the firmware image of mcu.
func provisionedSimMCU(t *testing.T, mcu, suite string, extra ...string) *simDevice {
	t.Helper()
	return provisionedSimImage(t, mcu, testenv.Artifact(t, "firmware/build/"+mcu+"/mstool.elf", "firmware"), suite, extra...)
}

// provisionedSimImage is provisionedSimMCU running the image elf (a
// profile's, e.g. firmware/build/profile/esp-coap/atmega328p/mstool.elf).
func provisionedSimImage(t *testing.T, mcu, elf, suite string, extra ...string) *simDevice {
	t.Helper()
	s := &simDevice{
		mcu:     mcu,
		elf:     elf,
		harness: testenv.Artifact(t, "firmware/build/mssim", "firmware"),
		dir:     t.TempDir(),
	}
	s.key = filepath.Join(s.dir, "dev.key")
	s.sa = filepath.Join(s.dir, "host.sa")
	s.hex = filepath.Join(s.dir, "dev.hex")
	mustRun(t, "keygen", "device", "-o", s.key)
	mustRun(t, append([]string{"esp", "sa", "new", "-o", s.sa, "--suite", suite, "--src", simHost, "--dst", simDevA}, extra...)...)
	mustRun(t, "--quiet", "provision", "-d", s.key, "--ip", simDevA, "--sa", s.sa, "--mcu", mcu, "-o", s.hex)
	var err error
	if s.eep, _, err = sim.PrepareEEPROM(s.hex, mcu); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	return s
}

func (s *simDevice) start(t *testing.T) {
	t.Helper()
	d, err := sim.Start(context.Background(), sim.Options{Harness: s.harness, Firmware: s.elf, EEPROM: s.eep, MCU: s.mcu, Link: s.link})
	if err != nil {
		t.Fatal(err)
	}
	s.dev = d
	t.Cleanup(func() { d.Stop() })
}

func (s *simDevice) stop(t *testing.T) {
	t.Helper()
	if err := s.dev.Stop(); err != nil {
		t.Fatalf("stopping the simulator: %v", err)
	}
}

// session opens a Go-level session on the device's port (with the state
// file, as mstool does) and returns it with its serial link.
func (s *simDevice) session(t *testing.T, rec *link.Recorder) (*espsession.Session, *link.Serial, func()) {
	t.Helper()
	sas, err := safile.ReadFile(s.sa)
	if err != nil {
		t.Fatal(err)
	}
	st, err := seqstate.Open(s.sa)
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.OpenSerial(s.port(), &link.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := espsession.New(espsession.Config{SAs: sas, State: st, Link: l, Management: l.Management(), Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sess, l, func() {
		sess.Close()
		l.Close()
		st.Close()
	}
}

func deviceCounters(t *testing.T, sess *espsession.Session) []uint64 {
	t.Helper()
	res, err := sess.Task(context.Background(), tasks.TaskCounters, nil)
	if err != nil {
		t.Fatalf("counters: %v", err)
	}
	return tasks.Counters(res.Result)
}

// Ping and every task through ESP for each suite the firmware builds; the
// --pcap capture decrypts with 'mstool decrypt', and for CBC and CTR
// tshark decrypts it with the exported esp_sa table.
func TestESPSimSuites(t *testing.T) {
	for _, suite := range []string{"aes128-ccm8", "aes128-cbc-hmac-md5-96", "aes128-ctr-hmac-sha256-128"} {
		t.Run(suite, func(t *testing.T) {
			s := provisionedSim(t, suite)
			pcap := filepath.Join(s.dir, "ping.pcap")
			out := mustRun(t, "--json", "esp", "ping", "-p", s.port(), "--sa", s.sa, "-c", "3", "--interval", "0", "--pcap", pcap, "--cycles")
			var rep pingReport
			if err := json.Unmarshal([]byte(lastLine(out)), &rep); err != nil {
				t.Fatalf("ping --json: %v\n%s", err, out)
			}
			if rep.Transmitted != 3 || rep.Received != 3 || rep.RTT == nil || rep.Session.AuthFailed != 0 {
				t.Fatalf("ping: %+v", rep)
			}
			if rep.Cycles == nil || rep.Cycles.Min == 0 {
				t.Errorf("no device cycle count: %+v", rep.Cycles)
			} else {
				t.Logf("%s: device cycles for one ESP echo (64 bytes): min %d max %d", suite, rep.Cycles.Min, rep.Cycles.Max)
			}

			for _, tc := range []struct {
				args []string
				key  string
				want any
			}{
				{[]string{"id"}, "mcu", "atmega328p"},
				{[]string{"led", "on"}, "led", true},
				{[]string{"led", "read"}, "led", true},
				{[]string{"led", "toggle"}, "led", false},
				{[]string{"settings-write", "1", "4660"}, "value", float64(4660)},
				{[]string{"settings-read", "1"}, "value", float64(4660)},
				{[]string{"uptime"}, "", nil},
				{[]string{"adc", "3"}, "", nil},
			} {
				out := mustRun(t, append([]string{"--json", "esp", "exec", "-p", s.port(), "--sa", s.sa}, tc.args...)...)
				var r struct {
					Status string         `json:"status"`
					Result map[string]any `json:"result"`
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatalf("exec %v: %v\n%s", tc.args, err, out)
				}
				if r.Status != "ok" || (tc.key != "" && r.Result[tc.key] != tc.want) {
					t.Errorf("exec %v: %s", tc.args, out)
				}
			}
			// A refused task: exit 1 and the status.
			if _, errs, code := mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "30"); code != exitFailure || !strings.Contains(errs, "unknown task") {
				t.Errorf("unknown task: exit %d\n%s", code, errs)
			}
			// The counters are visible and add up.
			out = mustRun(t, "--json", "esp", "exec", "-p", s.port(), "--sa", s.sa, "counters")
			var cr struct {
				Result map[string]float64 `json:"result"`
			}
			json.Unmarshal([]byte(out), &cr)
			if cr.Result["icmp_echo_answered"] != 3 || cr.Result["tasks_served"] < 9 || cr.Result["esp_auth_failed"] != 0 {
				t.Errorf("counters: %s", out)
			}

			// The capture decrypts: 3 requests, 3 replies.
			dec := filepath.Join(s.dir, "ping.dec.pcap")
			out = mustRun(t, "--json", "decrypt", pcap, "-o", dec, "--sa", s.sa)
			var ds struct{ Packets, Decrypted int }
			json.Unmarshal([]byte(out), &ds)
			if ds.Packets != 6 || ds.Decrypted != 6 {
				t.Fatalf("decrypt: %s", out)
			}
			if suite == "aes128-ccm8" {
				return // Wireshark cannot decrypt AES-CCM
			}
			tshark := testenv.Tool(t, "tshark", "tshark")
			table := mustRun(t, "esp", "sa", "export", "--wireshark", s.sa)
			conf := t.TempDir()
			os.MkdirAll(filepath.Join(conf, "wireshark"), 0o700)
			os.WriteFile(filepath.Join(conf, "wireshark", "esp_sa"), []byte(table), 0o600)
			cmd := exec.Command(tshark, "-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
				"-o", "esp.enable_authentication_check:TRUE", "-T", "fields", "-e", "icmp.type", "-e", "esp.icv_good")
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+conf, "HOME="+conf)
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), "True", "1")), "\n")
			want := []string{"8\t1", "0\t1", "8\t1", "0\t1", "8\t1", "0\t1"}
			if strings.Join(lines, "|") != strings.Join(want, "|") {
				t.Errorf("tshark with the exported esp_sa:\n%s\nwant echo request/reply with good ICVs", b)
			}
		})
	}
}

// Replayed, tampered, truncated, wrong-SPI and cleartext packets are
// dropped and counted by the device, which still answers afterwards.
func TestESPSimDrops(t *testing.T) {
	s := provisionedSim(t, "aes128-ctr-hmac-sha256-128")
	var buf bytes.Buffer
	rec, _ := link.NewRecorder(&buf)
	sess, l, done := s.session(t, rec)
	defer done()
	ctx := context.Background()
	if _, err := sess.Ping(ctx, 1, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	before := deviceCounters(t, sess)
	// The first packet we sent: the echo request.
	pr, _ := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
	first, _, err := pr.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	h, err := esp.ParsePacket(first)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := sess.SAs()
	// Altered packets carry fresh sequence numbers: a known one is a
	// replay, checked (and counted) before the ICV.
	mut := func(f func(b []byte) []byte) []byte {
		inner, _ := ipv4.AppendEcho(nil, &ipv4.Header{Src: sa.Src, Dst: sa.Dst}, ipv4.ICMPEchoRequest, 9, 9, make([]byte, 64))
		p, err := sess.SealPacket(inner)
		if err != nil {
			t.Fatal(err)
		}
		return f(p)
	}
	fixIP := func(b []byte) []byte {
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		b[10], b[11] = 0, 0
		c := ipv4.Checksum(b[:20])
		b[10], b[11] = byte(c>>8), byte(c)
		return b
	}
	clearUDP, _ := ipv4.AppendUDP(nil, &ipv4.Header{Src: sa.Src, Dst: sa.Dst}, 40000, tasks.Port, tasks.AppendRequest(nil, tasks.TaskID, 1, nil))
	clearEcho, _ := ipv4.AppendEcho(nil, &ipv4.Header{Src: sa.Src, Dst: sa.Dst}, ipv4.ICMPEchoRequest, 1, 1, []byte("clear"))
	sends := []struct {
		name    string
		pkt     []byte
		counter []int // one of these goes up by one
	}{
		{"replayed", first, []int{tasks.CounterESPReplayed}},
		{"tampered", mut(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), []int{tasks.CounterESPAuthFailed}},
		{"truncated", mut(func(b []byte) []byte { return fixIP(b[:len(b)-10]) }), []int{tasks.CounterESPAuthFailed, tasks.CounterESPMalformed}},
		{"wrong spi", mut(func(b []byte) []byte { b[h.Offset] ^= 0x80; return b }), []int{tasks.CounterESPUnknownSPI}},
		{"clear udp", clearUDP, []int{tasks.CounterNotESP}},
		{"clear echo", clearEcho, []int{tasks.CounterNotESP}},
	}
	for _, tc := range sends {
		if err := l.WritePacket(tc.pkt); err != nil {
			t.Fatal(err)
		}
	}
	after := deviceCounters(t, sess)
	want := append([]uint64(nil), before...)
	for _, tc := range sends {
		// Credit the drop to the first listed counter that rose.
		credited := false
		for _, c := range tc.counter {
			if after[c] > want[c] {
				want[c]++
				credited = true
				break
			}
		}
		if !credited {
			t.Errorf("%s: not counted (counters %v)", tc.name, tc.counter)
		}
	}
	want[tasks.CounterSLIPFrames] += uint64(len(sends)) + 1 // + the counters request
	want[tasks.CounterIPv4Received] += uint64(len(sends)) + 1
	want[tasks.CounterTasksServed]++
	want[tasks.CounterPacketsSent]++
	for i := range tasks.CounterNames {
		if after[i] != want[i] {
			t.Errorf("counter %s: %d, want %d", tasks.CounterNames[i], after[i], want[i])
		}
	}
	// Still answering, and the host dropped nothing of its own.
	if _, err := sess.Ping(ctx, 2, make([]byte, 64)); err != nil {
		t.Fatalf("after the bad packets: %v", err)
	}
	if c := sess.Counters(); c.AuthFailed+c.Replayed+c.UnknownSPI+c.NotESP != 0 {
		t.Errorf("host session counters %+v", c)
	}
}

// A storm of 10,000 random SLIP frames does not hang the device.
func TestESPSimStorm(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	sess, l, done := s.session(t, nil)
	defer done()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var storm []byte
	const frames = 10000
	for i := range frames {
		n := 1 + r.IntN(48)
		f := make([]byte, n)
		for j := range f {
			f[j] = byte(r.Uint32())
		}
		switch i % 4 {
		case 0:
			f[0] = 0x45 // looks like IPv4
		case 1:
			f[0] = 0x00 // looks like management
		}
		storm = slip.AppendEncode(storm, f)
		if len(storm) > 16384 || i == frames-1 {
			if err := l.WriteRaw(storm); err != nil {
				t.Fatal(err)
			}
			storm = storm[:0]
		}
	}
	// The device answers afterwards, through ESP and management.
	if _, err := sess.Ping(ctx, 1, make([]byte, 64)); err != nil {
		t.Fatalf("after the storm: %v", err)
	}
	c := deviceCounters(t, sess)
	if c[tasks.CounterSLIPFrames]+c[tasks.CounterSLIPDropped] < frames/2 {
		t.Errorf("the device saw %d frames and dropped %d of %d sent", c[tasks.CounterSLIPFrames], c[tasks.CounterSLIPDropped], frames)
	}
	d, err := device.New(l.Management(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Identify(ctx); err != nil {
		t.Fatalf("identify after the storm: %v", err)
	}
}

// Restart the device (EEPROM kept, SIGTERM) many times: 20 times between
// host sessions (every other time with a request in flight), then 10 times
// under one running host session. Across all captures no (SPI, sequence
// number) pair is used twice in either direction, and every packet
// authenticates, so no nonce or IV repeats.
func TestESPSimRestarts(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	sas, _ := safile.ReadFile(s.sa)
	var captures [][]byte
	const restarts = 20
	for i := range restarts {
		var buf bytes.Buffer
		rec, _ := link.NewRecorder(&buf)
		sess, l, done := s.session(t, rec)
		ctx := context.Background()
		if _, err := sess.Task(ctx, tasks.TaskUptime, nil); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		if _, err := sess.Ping(ctx, uint16(i), make([]byte, 64)); err != nil {
			t.Fatalf("restart %d: ping: %v", i, err)
		}
		if i%2 == 1 {
			// Mid-exchange: a request in flight when the device stops.
			sess.Send(tasks.Port, tasks.AppendRequest(nil, tasks.TaskID, 7, nil))
		}
		s.stop(t)
		time.Sleep(20 * time.Millisecond)
		done()
		_ = l
		captures = append(captures, bytes.Clone(buf.Bytes()))
		s.start(t)
	}
	// Then one host session that lives through further device restarts:
	// after each, the device's stored inbound floor may be ahead of the
	// session's next number (the first attempt is dropped as a replay) and
	// the retry skips one block ahead.
	{
		var buf bytes.Buffer
		rec, _ := link.NewRecorder(&buf)
		st, err := seqstate.Open(s.sa)
		if err != nil {
			t.Fatal(err)
		}
		first, err := link.OpenSerial(s.port(), &link.Options{Recorder: rec})
		if err != nil {
			t.Fatal(err)
		}
		sw := newSwapLink(first)
		sess, err := espsession.New(espsession.Config{SAs: sas, State: st, Link: sw, Timeout: time.Second, Retries: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := range restarts / 2 {
			if _, err := sess.Task(context.Background(), tasks.TaskUptime, nil); err != nil {
				t.Fatalf("mid-session restart %d: %v", i, err)
			}
			s.stop(t)
			s.start(t)
			l, err := link.OpenSerial(s.port(), &link.Options{Recorder: rec})
			if err != nil {
				t.Fatal(err)
			}
			sw.swap(l)
		}
		if _, err := sess.Task(context.Background(), tasks.TaskID, nil); err != nil {
			t.Fatalf("after the mid-session restarts: %v", err)
		}
		t.Logf("one session through %d restarts: %+v", restarts/2, sess.Counters())
		sess.Close()
		sw.Close()
		st.Close()
		captures = append(captures, bytes.Clone(buf.Bytes()))
	}

	// The device after all this: still answering.
	sess, _, done := s.session(t, nil)
	if _, err := sess.Task(context.Background(), tasks.TaskID, nil); err != nil {
		t.Fatal(err)
	}
	done()

	seen := map[[2]uint64]int{}
	total := 0
	for i, c := range captures {
		pr, err := pcapgo.NewReader(bytes.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, _, err := pr.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			h, err := esp.ParsePacket(data)
			if err != nil {
				t.Fatalf("capture %d: %v", i, err)
			}
			k := [2]uint64{uint64(h.SPI), uint64(h.Seq)}
			if prev, dup := seen[k]; dup {
				t.Fatalf("SPI 0x%08x sequence number %d used twice (sessions %d and %d)", h.SPI, h.Seq, prev, i)
			}
			seen[k] = i
			total++
		}
		var out bytes.Buffer
		st, err := capture.DecryptCapture(context.Background(), bytes.NewReader(c), &out, sas.All(), capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Decrypted != st.Packets || st.FailedICV != 0 {
			t.Fatalf("capture %d: %+v", i, st)
		}
	}
	if total < restarts*4+restarts {
		t.Fatalf("only %d packets captured", total)
	}
	t.Logf("%d packets over %d restarts, no (SPI, sequence number) twice", total, restarts+restarts/2)
}

// A blank, truncated or corrupted EEPROM gives the unprovisioned state:
// IDENTIFY says so, STATUS says why, ESP gets no answer and mstool says the
// device is unprovisioned (exit 4).
func TestESPSimUnprovisioned(t *testing.T) {
	base := provisionedSim(t, "aes128-ccm8")
	base.stop(t)
	img, _ := os.ReadFile(base.eep)
	for _, tc := range []struct {
		name   string
		eeprom func(dir string) string
		reason byte
	}{
		{"blank", func(dir string) string { return filepath.Join(dir, "none.eep") }, 1},
		{"truncated", func(dir string) string {
			// An image cut short: the config area ends early (erased after).
			var b bytes.Buffer
			ihex.Encode(&b, 0, img[:100])
			p := filepath.Join(dir, "cut.hex")
			os.WriteFile(p, b.Bytes(), 0o600)
			raw, _, err := sim.PrepareEEPROM(p, "atmega328p")
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}, 5},
		{"corrupted", func(dir string) string {
			c := bytes.Clone(img)
			c[30] ^= 0x01 // inside the master key
			p := filepath.Join(dir, "bad.eep")
			os.WriteFile(p, c, 0o600)
			return p
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *base
			s.eep = tc.eeprom(t.TempDir())
			s.start(t)
			l, err := link.OpenSerial(s.port(), nil)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := device.New(l.Management(), nil)
			info, err := d.Identify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.Options&device.OptProvisioned != 0 || info.Options&device.OptIPStack == 0 {
				t.Errorf("IDENTIFY options 0x%04x: want IP stack built, not provisioned", info.Options)
			}
			st, err := d.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Provisioned || st.Reason != tc.reason {
				t.Errorf("STATUS: provisioned %v reason %d (%s), want reason %d", st.Provisioned, st.Reason, st.ReasonText, tc.reason)
			}
			l.Close()
			_, errs, code := mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", base.sa, "--timeout", "500ms", "--retries", "0", "id")
			if code != exitAuth || !strings.Contains(errs, "unprovisioned") {
				t.Errorf("esp exec on an unprovisioned device: exit %d\n%s", code, errs)
			}
		})
	}
}

// The clear errors: a missing port, a busy port, a device holding other
// SAs, a device that does not answer.
func TestESPSimErrors(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	_, errs, code := mstoolRun(t, "esp", "ping", "-p", s.port()+"x", "--sa", s.sa)
	if code != exitLink || !strings.Contains(errs, "not found") || !strings.Contains(errs, "hint:") {
		t.Errorf("missing port: exit %d\n%s", code, errs)
	}
	l, err := link.OpenSerial(s.port(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code = mstoolRun(t, "esp", "ping", "-p", s.port(), "--sa", s.sa)
	if code != exitLink || !strings.Contains(errs, "busy") {
		t.Errorf("busy port: exit %d\n%s", code, errs)
	}
	l.Close()
	other := filepath.Join(s.dir, "other.sa")
	mustRun(t, "esp", "sa", "new", "-o", other, "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	_, errs, code = mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", other, "--timeout", "500ms", "--retries", "0", "id")
	if code != exitAuth || !strings.Contains(errs, "hint: provision") {
		t.Errorf("wrong SA: exit %d\n%s", code, errs)
	}
	_, errs, code = mstoolRun(t, "esp", "ping", "-p", s.port(), "--sa", other, "-c", "1", "--timeout", "500ms")
	if code != exitAuth {
		t.Errorf("ping with the wrong SA: exit %d\n%s", code, errs)
	}
	// A request longer than the device's frame (296 bytes): the device
	// drops it unread; mstool asks it why at the first timeout, says so and
	// does not retry (exit 1, not "other SAs").
	_, errs, code = mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "--timeout", "500ms", "--retries", "2",
		"bit20", strings.Repeat("ab", 300))
	if code != 1 || !strings.Contains(errs, "longer than the device's frame") || !strings.Contains(errs, "attempt 1)") {
		t.Errorf("request over the frame: exit %d\n%s", code, errs)
	}
	s.stop(t)
	// A UDP peer that never answers: no answer, exit 3.
	enc := filepath.Join(s.dir, "encap.sa")
	mustRun(t, "esp", "sa", "new", "-o", enc, "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA, "--udp-encap")
	_, errs, code = mstoolRun(t, "esp", "exec", "--udp", "127.0.0.1:9", "--sa", enc, "--timeout", "300ms", "--retries", "1", "id")
	if code != exitLink || !strings.Contains(errs, "no answer") {
		t.Errorf("silent UDP peer: exit %d\n%s", code, errs)
	}
}

// A stale FILE.state (restored from a backup, or the SA file used from
// another copy) starts the host below numbers the device has already seen:
// the device drops every packet as a replay. mstool names that cause (not
// "other SAs") with the device's highest number, and 'esp sa state
// --advance-to' moves the state past it so that the next session works.
// staleStateBackup runs one session and keeps a copy of the SA file's
// state then, and moves on with six more sessions: the copy is a state the
// device has left behind (the backup a user restores). The "other copy"
// moves on: each session starts two device blocks above the last one; a
// failed session with the stale copy moves it on too (one block per
// attempt: three for exec, two for ping), so six sessions leave it behind
// for both.
func staleStateBackup(t *testing.T, s *simDevice) (state string, backup []byte) {
	t.Helper()
	state = seqstate.PathFor(s.sa)
	mustRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "id")
	backup, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		mustRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "id")
	}
	return state, backup
}

func TestESPSimStaleState(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	state, backup := staleStateBackup(t, s)
	st, err := seqstate.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	sas, _ := safile.ReadFile(s.sa)
	outSPI := sas.Outbound[0].SPI
	// The last session used one number just below its reservation block.
	lastHi, lastLo := st.Reserved(outSPI)-1, st.Reserved(outSPI)-seqstate.Block
	if err := os.WriteFile(state, backup, 0o600); err != nil {
		t.Fatal(err)
	}

	seen := regexp.MustCompile(`the device has seen sequence numbers up to ([0-9]+) from this SA \(0x[0-9a-f]{8}\); the host's state file (\S+) is behind \(used from another copy\?\)`)
	check := func(what, errs string, code int) uint64 {
		t.Helper()
		m := seen.FindStringSubmatch(errs)
		if code != exitAuth || m == nil || strings.Contains(errs, "holds other SAs") {
			t.Fatalf("%s with a stale state file: exit %d, want %d and the stale-state diagnosis\n%s", what, code, exitAuth, errs)
		}
		if m[2] != state {
			t.Errorf("%s: names the state file %q, want %q", what, m[2], state)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		if n < lastLo || n > lastHi {
			t.Errorf("%s: device highest %d, want the last session's number (%d..%d)", what, n, lastLo, lastHi)
		}
		hint := "hint: run 'mstool esp sa state " + s.sa + " --advance-to " + m[1] + "'"
		if !strings.Contains(errs, hint) {
			t.Errorf("%s: no hint %q:\n%s", what, hint, errs)
		}
		return n
	}
	_, errs, code := mstoolRun(t, "esp", "exec", "-p", s.port(), "--sa", s.sa, "--timeout", "500ms", "id")
	n := check("esp exec", errs, code)
	_, errs, code = mstoolRun(t, "esp", "ping", "-p", s.port(), "--sa", s.sa, "-c", "1", "--timeout", "500ms")
	check("esp ping", errs, code)

	// The state command shows the stale reservation, moves it past what the
	// device has seen, and the next session works at once.
	out := mustRun(t, "--json", "esp", "sa", "state", s.sa)
	if !strings.Contains(out, fmt.Sprintf(`"spi": "0x%08x"`, outSPI)) {
		t.Fatalf("esp sa state --json: %s", out)
	}
	mustRun(t, "esp", "sa", "state", s.sa, "--advance-to", strconv.FormatUint(n, 10))
	if st, err = seqstate.Load(state); err != nil || st.Reserved(outSPI) != n+1 {
		t.Fatalf("after --advance-to %d: reserved %d, %v", n, st.Reserved(outSPI), err)
	}
	out = mustRun(t, "--json", "esp", "exec", "-p", s.port(), "--sa", s.sa, "--retries", "0", "id")
	if !strings.Contains(out, `"atmega328p"`) {
		t.Fatalf("id after advancing the state: %s", out)
	}
}

// ESP-in-UDP (RFC 3948): mstool talks UDP to a relay that carries the
// datagrams to the simulated device as IPv4/UDP/4500 over SLIP, so the
// real firmware answers ESP-in-UDP.
func TestESPSimUDPRelay(t *testing.T) {
	s := provisionedSim(t, "aes128-cbc-hmac-md5-96", "--udp-encap")
	l, err := link.OpenSerial(s.port(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	relay, err := linktest.NewRelay(l, link.Endpoints{
		Local:  netip.AddrPortFrom(netip.MustParseAddr(simHost), 4500),
		Remote: netip.AddrPortFrom(netip.MustParseAddr(simDevA), 4500)})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	pcap := filepath.Join(s.dir, "udp.pcap")
	out := mustRun(t, "--json", "esp", "ping", "--udp", relay.String(), "--sa", s.sa, "-c", "2", "--interval", "0", "--pcap", pcap)
	var rep pingReport
	json.Unmarshal([]byte(lastLine(out)), &rep)
	if rep.Received != 2 {
		t.Fatalf("ping over UDP: %s", out)
	}
	out = mustRun(t, "--json", "esp", "exec", "--udp", relay.String(), "--sa", s.sa, "id")
	if !strings.Contains(out, `"status": "ok"`) {
		t.Fatalf("exec over UDP: %s", out)
	}
	out = mustRun(t, "--json", "decrypt", pcap, "-o", pcap+".dec", "--sa", s.sa)
	var ds struct{ Packets, Decrypted int }
	json.Unmarshal([]byte(out), &ds)
	if ds.Packets != 4 || ds.Decrypted != 4 {
		t.Fatalf("decrypt: %s", out)
	}
}

// esp send/recv and the shell (with a script on standard input).
func TestESPSimSendShell(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	// A raw task request (id, request id 7) sent as a datagram; the reply
	// comes back as one.
	out := mustRun(t, "esp", "send", "-p", s.port(), "--sa", s.sa, "--hex", "--reply", "01000007")
	if !strings.Contains(out, simDevA+":7411 > "+simHost) || !strings.Contains(out, " 0100000700") {
		t.Errorf("send --reply: %q", out)
	}
	// Nothing arrives unsolicited: recv -c 1 ends with a link error.
	if _, errs, code := mstoolRun(t, "esp", "recv", "-p", s.port(), "--sa", s.sa, "-c", "1", "--wait", "300ms"); code != exitLink {
		t.Errorf("recv: exit %d\n%s", code, errs)
	}
	var o, e bytes.Buffer
	script := "help\nid\nled on\n\nping 2\nsession\nbogus\nadc 9\n20\nquit\nid\n"
	code := run([]string{"mstool", "esp", "shell", "-p", s.port(), "--sa", s.sa}, strings.NewReader(script), &o, &e)
	// The first failure ('bogus', a usage error) is the piped shell's status.
	if code != exitUsage {
		t.Fatalf("shell: exit %d\n%s", code, e.String())
	}
	for _, want := range []string{"settings-write", "atmega328p", "icmp_seq=2", "next_seq_out"} {
		if !strings.Contains(o.String(), want) {
			t.Errorf("shell output lacks %q:\n%s", want, o.String())
		}
	}
	if strings.Count(o.String(), "atmega328p") != 1 {
		t.Errorf("the shell ran past quit:\n%s", o.String())
	}
	for _, want := range []string{`unknown task "bogus"`, "bad channel", "task bit20: unknown task"} {
		if !strings.Contains(e.String(), want) {
			t.Errorf("shell errors lack %q:\n%s", want, e.String())
		}
	}
}

// swapLink is a link whose serial port can be replaced under a running
// session (the simulated device gets a new pty when it restarts): readers
// wait for the next port when the current one goes away.
type swapLink struct {
	mu      sync.Mutex
	cur     *link.Serial
	changed chan struct{}
}

func newSwapLink(l *link.Serial) *swapLink { return &swapLink{cur: l, changed: make(chan struct{})} }

func (w *swapLink) get() (*link.Serial, chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.changed
}

func (w *swapLink) swap(l *link.Serial) {
	w.mu.Lock()
	old := w.cur
	w.cur = l
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	old.Close()
}

func (w *swapLink) WritePacket(p []byte) error { l, _ := w.get(); return l.WritePacket(p) }

func (w *swapLink) ReadPacket(ctx context.Context) ([]byte, error) {
	for {
		l, ch := w.get()
		p, err := l.ReadPacket(ctx)
		if err == nil || ctx.Err() != nil {
			return p, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (w *swapLink) Stats() link.Stats { l, _ := w.get(); return l.Stats() }
func (w *swapLink) Close() error      { l, _ := w.get(); return l.Close() }
func (w *swapLink) String() string    { l, _ := w.get(); return l.String() }

// TestESPSimATmega168: the seed's 16 KB part runs its own image (CCM-8
// only, docs/firmware-net.md) and answers ESP pings and tasks.
func TestESPSimATmega168(t *testing.T) {
	s := provisionedSimMCU(t, "atmega168", "aes128-ccm8")
	out := mustRun(t, "--json", "esp", "ping", "-p", s.port(), "--sa", s.sa, "-c", "3", "--interval", "0.05")
	var rep struct {
		Transmitted, Received int
	}
	if err := json.Unmarshal([]byte(lastLine(out)), &rep); err != nil || rep.Transmitted != 3 || rep.Received != 3 {
		t.Fatalf("ping on the ATmega168: %v\n%s", err, out)
	}
	out = mustRun(t, "--json", "esp", "exec", "-p", s.port(), "--sa", s.sa, "id")
	if !strings.Contains(out, `"atmega168"`) {
		t.Fatalf("id on the ATmega168: %s", out)
	}
	out = mustRun(t, "--json", "esp", "exec", "-p", s.port(), "--sa", s.sa, "counters")
	if !strings.Contains(out, `"icmp_echo_answered": 3`) {
		t.Fatalf("counters on the ATmega168: %s", out)
	}
}
