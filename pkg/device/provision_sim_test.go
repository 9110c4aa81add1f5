package device_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/ihex"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/sim"
)

var (
	provHost = netip.MustParseAddr("10.9.0.1")
	provDev  = netip.MustParseAddr("10.9.0.2")
)

// rawSim runs the harness directly (not through pkg/sim) so that the test
// can kill it with SIGKILL, as a power loss would stop a board.
type rawSim struct {
	cmd  *exec.Cmd
	port string
}

func startRawSim(t *testing.T, eep string) *rawSim {
	t.Helper()
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	cmd := exec.Command(harness, "-m", "atmega328p", "-e", eep, elf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &rawSim{cmd: cmd}
	t.Cleanup(func() { s.kill() })
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(20 * time.Second)
	for s.port == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("mssim exited before printing its port")
			}
			if p, found := strings.CutPrefix(l, "port="); found {
				s.port = p
			}
		case <-timeout:
			t.Fatal("mssim printed no port")
		}
	}
	return s
}

// kill stops the simulator with SIGKILL: no save at exit.
func (s *rawSim) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

func openProv(t *testing.T, port string) *device.Device {
	t.Helper()
	d, err := device.Open(port, &device.Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Identify(context.Background()); err != nil {
		d.Close()
		t.Fatalf("identify: %v", err)
	}
	return d
}

// provImage is one provisioning: identity, the host's SA file and the
// device's EEPROM image.
type provImage struct {
	ident *devkey.Identity
	sas   *safile.File
	img   []byte
}

func newProvImage(t *testing.T, id uint32, issuerBits int) *provImage {
	t.Helper()
	ident, err := devkey.Generate(rand.Reader, id)
	if err != nil {
		t.Fatal(err)
	}
	sas, err := safile.New(rand.Reader, safile.Options{Suite: esp.SuiteAES128CCM8, Local: provHost, Remote: provDev})
	if err != nil {
		t.Fatal(err)
	}
	dev := sas.Mirror()
	cfg := &provision.Config{
		DeviceID: ident.ID, Addr: provDev, Peer: provHost, MasterKey: ident.MasterKey,
		Inbound: dev.Inbound[0], Outbound: dev.Outbound[0], SerialFloor: 3,
	}
	if issuerBits != 0 {
		cfg.Issuer = testIssuerKey(t, issuerBits)
	}
	img, err := provision.Build(cfg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return &provImage{ident: ident, sas: sas, img: img}
}

func testIssuerKey(t *testing.T, bits int) *rsa.PublicKey {
	t.Helper()
	name := map[int]string{1024: "test-rsa1024.pub.pem", 2048: "test-rsa2048.pub.pem"}[bits]
	data, err := os.ReadFile(filepath.Join("..", "..", "vectors", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signkey.ParsePublicPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func (p *provImage) config() []byte {
	n := int(p.img[4])<<8 | int(p.img[5])
	return p.img[:n]
}

// ping opens an ESP session with the host's SA file and pings the device.
func ping(t *testing.T, port string, sas *safile.File) error {
	t.Helper()
	l, err := link.OpenSerial(port, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sess, err := espsession.New(espsession.Config{SAs: sas, Link: l, Timeout: 3 * time.Second, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	_, err = sess.Ping(context.Background(), 1, []byte("provisioned over serial"))
	return err
}

// TestProvisionSerialSim: the acceptance for serial provisioning,
// on the real firmware in the simulator.
func TestProvisionSerialSim(t *testing.T) {
	ctx := context.Background()
	eep := filepath.Join(t.TempDir(), "eeprom.bin") // absent: a blank chip
	s := startRawSim(t, eep)
	d := openProv(t, s.port)

	pi, err := d.ProvisionInfo(ctx)
	if err != nil || pi.State != device.ProvFactory {
		t.Fatalf("blank device: info %+v, %v", pi, err)
	}
	a, b, c := newProvImage(t, 0x1001, 1024), newProvImage(t, 0x1002, 1024), newProvImage(t, 0x1003, 0)

	// 1. factory state: the first provisioning, in clear, verified
	res, err := d.Provision(ctx, &device.ProvisionRequest{Image: a.img})
	if err != nil || res.Mode != "factory" || !res.Verified || res.ConfigLen != len(a.config()) {
		t.Fatalf("factory provisioning: %+v, %v", res, err)
	}
	d.Close()
	if err := ping(t, s.port, a.sas); err != nil {
		t.Fatalf("ESP ping after factory provisioning: %v", err)
	}
	d = openProv(t, s.port)
	defer func() { d.Close() }()

	// 2. a second unauthenticated provisioning is refused
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: b.img}); !errors.Is(err, device.ErrNotFactory) {
		t.Fatalf("second unauthenticated provisioning: %v, want ErrNotFactory", err)
	}
	// 3. so is one under a wrong key
	wrong := b.ident.MasterKey
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: b.img, CurrentMasterKey: &wrong}); !errors.Is(err, device.ErrAuth) {
		t.Fatalf("wrong current key: %v, want ErrAuth", err)
	}
	if err := d.VerifyConfig(ctx, a.config()); err != nil {
		t.Fatalf("after refused attempts: %v", err)
	}

	// 4. a tampered transfer is refused; the device stays on its config
	chunk, _ := d.ProvChunk(ctx)
	for _, where := range []string{"begin", "data", "tag"} {
		pi, _ = d.ProvisionInfo(ctx)
		tr := device.NewProvTranscript(a.ident.MasterKey, pi.DeviceID, pi.Challenge, b.config(), len(b.config()), device.ProvFloors{Serial: 3}, chunk)
		switch where {
		case "begin":
			tr.Begin[23] ^= 0x01 // the serial floor
		case "data":
			tr.Data[0][2+21] ^= 0x80 // a byte of the new master key
		case "tag":
			tr.End[15] ^= 0x01
		}
		if err := d.RunProvTranscript(ctx, tr); !errors.Is(err, device.ErrAuth) {
			t.Fatalf("tampered %s: %v, want ErrAuth", where, err)
		}
		if err := d.VerifyConfig(ctx, a.config()); err != nil {
			t.Fatalf("after tampered %s: %v", where, err)
		}
	}

	// 5. authenticated re-provisioning under the current master key (same
	// issuer key: only the fixed part travels)
	cur := a.ident.MasterKey
	res, err = d.Provision(ctx, &device.ProvisionRequest{Image: b.img, CurrentMasterKey: &cur})
	if err != nil || res.Mode != "reprovision" || !res.Verified || res.Staged != provision.ConfigFixedSize {
		t.Fatalf("re-provisioning: %+v, %v", res, err)
	}

	// 6. a recorded transcript cannot be replayed
	pi, _ = d.ProvisionInfo(ctx)
	tr := device.NewProvTranscript(b.ident.MasterKey, pi.DeviceID, pi.Challenge, c.config(), len(c.config()), device.ProvFloors{Serial: 3}, chunk)
	if err := d.RunProvTranscript(ctx, tr); err != nil {
		t.Fatalf("re-provisioning by transcript: %v", err)
	}
	if err := d.VerifyConfig(ctx, c.config()); err != nil {
		t.Fatal(err)
	}
	if err := d.RunProvTranscript(ctx, tr); !errors.Is(err, device.ErrStale) {
		t.Fatalf("replayed transcript: %v, want ErrStale", err)
	}
	if err := d.VerifyConfig(ctx, c.config()); err != nil {
		t.Fatalf("after the replay: %v", err)
	}
	st, err := d.Status(ctx)
	if err != nil || !st.Provisioned || st.DeviceID != 0x1003 || st.OutReserved != 0 || st.InFloor != 0 {
		t.Fatalf("status after re-provisioning with fresh SAs: %+v, %v", st, err)
	}
	d.Close()

	// 7. the device answers ESP with the new SAs
	if err := ping(t, s.port, c.sas); err != nil {
		t.Fatalf("ESP ping with the new SA: %v", err)
	}

	// 8. a power loss right after the commit: the write persisted
	s.kill()
	s = startRawSim(t, eep)
	d = openProv(t, s.port)
	if err := d.VerifyConfig(ctx, c.config()); err != nil {
		t.Fatalf("after SIGKILL and restart: %v", err)
	}
	pi, _ = d.ProvisionInfo(ctx)
	if pi.State != device.ProvProvisioned {
		t.Fatalf("after restart: %+v", pi)
	}
	// and the old transcript stays refused after the restart
	if err := d.RunProvTranscript(ctx, tr); !errors.Is(err, device.ErrStale) {
		t.Fatalf("replay after restart: %v, want ErrStale", err)
	}
	d.Close()
}

// TestProvisionSerialSimLocked: a corrupt EEPROM is not factory state.
func TestProvisionSerialSimLocked(t *testing.T) {
	ctx := context.Background()
	a := newProvImage(t, 0x2001, 0)
	img := bytes.Clone(a.img)
	img[30] ^= 0x04 // a bit of the master key: CRC mismatch
	eep := filepath.Join(t.TempDir(), "eeprom.bin")
	if err := os.WriteFile(eep, img, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startRawSim(t, eep)
	d := openProv(t, s.port)
	defer d.Close()
	pi, err := d.ProvisionInfo(ctx)
	if err != nil || pi.State != device.ProvLocked {
		t.Fatalf("corrupt EEPROM: %+v, %v", pi, err)
	}
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: a.img}); !errors.Is(err, device.ErrLocked) {
		t.Fatalf("provisioning a corrupt device: %v, want ErrLocked", err)
	}
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: a.img[:512]}); !errors.Is(err, device.ErrImage) {
		t.Fatalf("image for another EEPROM size: %v, want ErrImage", err)
	}
}

// TestProvisionSerialSimPowerLoss: the harness writes the EEPROM file
// through as the device writes it, so a SIGKILL right after the device
// answered (a power loss) loses nothing the device reported done.
func TestProvisionSerialSimPowerLoss(t *testing.T) {
	ctx := context.Background()
	eep := filepath.Join(t.TempDir(), "eeprom.bin")
	a, b := newProvImage(t, 0x3001, 0), newProvImage(t, 0x3002, 0)
	s := startRawSim(t, eep)
	d := openProv(t, s.port)
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: a.img}); err != nil {
		t.Fatal(err)
	}
	s.kill() // at once: no save at exit
	d.Close()
	s = startRawSim(t, eep)
	d = openProv(t, s.port)
	if err := d.VerifyConfig(ctx, a.config()); err != nil {
		t.Fatalf("factory provisioning lost by a power loss after it completed: %v", err)
	}
	cur := a.ident.MasterKey
	if _, err := d.Provision(ctx, &device.ProvisionRequest{Image: b.img, CurrentMasterKey: &cur}); err != nil {
		t.Fatal(err)
	}
	s.kill()
	d.Close()
	s = startRawSim(t, eep)
	d = openProv(t, s.port)
	defer d.Close()
	if err := d.VerifyConfig(ctx, b.config()); err != nil {
		t.Fatalf("re-provisioning lost by a power loss after it completed: %v", err)
	}
}

// TestProvisionReplayAfterReflash (issue 10, finding 1): a sniffed
// re-provisioning transcript must not install its configuration again
// after the device's EEPROM went back to the state it was recorded in:
// the same image flashed again (twice, as an ISP tool does), the simulator
// reloaded from the image, and a factory provisioning of the same image
// after an erase. The challenge's
// counter is then the recorded one again; the device's boot epoch is not.
func TestProvisionReplayAfterReflash(t *testing.T) {
	ctx := context.Background()
	a, b := newProvImage(t, 0x3001, 0), newProvImage(t, 0x3001, 0)
	eep := filepath.Join(t.TempDir(), "eeprom.bin")
	if err := os.WriteFile(eep, a.img, 0o600); err != nil {
		t.Fatal(err)
	}

	// The owner re-provisions a → b; the attacker records it.
	s := startRawSim(t, eep)
	d := openProv(t, s.port)
	chunk, err := d.ProvChunk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := d.ProvisionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := device.NewProvTranscript(a.ident.MasterKey, pi.DeviceID, pi.Challenge, b.config(), len(b.config()), device.ProvFloors{Serial: 3}, chunk)
	if err := d.RunProvTranscript(ctx, tr); err != nil {
		t.Fatalf("re-provisioning: %v", err)
	}
	d.Close()
	s.kill()

	replay := func(how string) {
		t.Helper()
		s := startRawSim(t, eep)
		defer s.kill()
		d := openProv(t, s.port)
		defer d.Close()
		if err := d.VerifyConfig(ctx, a.config()); err != nil {
			t.Fatalf("%s: not back on the old config: %v", how, err)
		}
		err := d.RunProvTranscript(ctx, tr)
		if !errors.Is(err, device.ErrStale) && !errors.Is(err, device.ErrAuth) {
			t.Errorf("%s: the recorded transcript: %v, want it refused", how, err)
		}
		if err := d.VerifyConfig(ctx, a.config()); err != nil {
			t.Errorf("%s: after the replay: %v", how, err)
		}
	}
	// The same image flashed again, twice (each boot draws its own epoch).
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(eep, a.img, 0o600); err != nil {
			t.Fatal(err)
		}
		replay("image flashed again")
	}
	// The simulator reloaded from the image, as 'mstool sim --eeprom
	// a.hex --reset-eeprom' does it.
	var hx bytes.Buffer
	if err := ihex.Encode(&hx, 0, a.img); err != nil {
		t.Fatal(err)
	}
	hexPath := filepath.Join(filepath.Dir(eep), "a.hex")
	if err := os.WriteFile(hexPath, hx.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := sim.ResetEEPROM(hexPath, "atmega328p")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(raw, eep); err != nil {
		t.Fatal(err)
	}
	replay("simulator reloaded from the image")

	// Factory provisioning of the same image after an erase.
	if err := os.WriteFile(eep, bytes.Repeat([]byte{0xff}, 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startRawSim(t, eep)
	d = openProv(t, s.port)
	if res, err := d.Provision(ctx, &device.ProvisionRequest{Image: a.img}); err != nil || res.Mode != "factory" {
		t.Fatalf("factory provisioning: %+v, %v", res, err)
	}
	d.Close()
	s.kill()
	replay("factory provisioning again")
}
