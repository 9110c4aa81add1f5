package espsession_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/link/linktest"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
	"github.com/mstool/mstool/pkg/tasks"
)

var (
	hostAddr = netip.MustParseAddr("192.0.2.1")
	devAddr  = netip.MustParseAddr("192.0.2.14")
)

func newSAs(t *testing.T, suite esp.Suite, encap bool) (*safile.File, string) {
	t.Helper()
	f, err := safile.New(rand.Reader, safile.Options{Suite: suite, Local: hostAddr, Remote: devAddr, UDPEncap: encap})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "host.sa")
	if err := safile.WriteFile(p, f); err != nil {
		t.Fatal(err)
	}
	return f, p
}

type rig struct {
	sess *espsession.Session
	dev  *linktest.Device
	lk   *link.Serial
	rec  *bytes.Buffer
}

func start(t *testing.T, sas *safile.File, st *seqstate.State, dcfg linktest.Config, mgmt bool) *rig {
	t.Helper()
	hostEnd, devEnd := linktest.Pipe()
	dcfg.SAs = sas
	dev, err := linktest.Serve(devEnd, dcfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rec, err := link.NewRecorder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	lk := link.NewSerial(hostEnd, "pipe", &link.Options{Recorder: rec})
	cfg := espsession.Config{SAs: sas, State: st, Link: lk, Timeout: 300 * time.Millisecond, Retries: 1}
	if mgmt {
		cfg.Management = lk.Management()
	}
	s, err := espsession.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		lk.Close()
		devEnd.Close()
	})
	return &rig{sess: s, dev: dev, lk: lk, rec: &buf}
}

func TestPingAndTasksEverySuite(t *testing.T) {
	for _, suite := range []esp.Suite{esp.SuiteAES128CCM8, esp.SuiteAES128CBCHMACMD5, esp.SuiteAES128CTRHMACSHA256} {
		for _, encap := range []bool{false, true} {
			name := suite.String()
			if encap {
				name += "/udp-encap"
			}
			t.Run(name, func(t *testing.T) {
				sas, _ := newSAs(t, suite, encap)
				r := start(t, sas, nil, linktest.Config{}, false)
				ctx := context.Background()
				for i := range 3 {
					if _, err := r.sess.Ping(ctx, uint16(i), bytes.Repeat([]byte{byte(i)}, 64)); err != nil {
						t.Fatalf("ping %d: %v", i, err)
					}
				}
				res, err := r.sess.Task(ctx, tasks.TaskLED, []byte{1})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(res.Result, []byte{1}) {
					t.Fatalf("led on -> %x", res.Result)
				}
				res, err = r.sess.Task(ctx, tasks.TaskCounters, nil)
				if err != nil {
					t.Fatal(err)
				}
				c := tasks.Counters(res.Result)
				if c[tasks.CounterICMPEchoAnswered] != 3 || c[tasks.CounterTasksServed] != 2 {
					t.Fatalf("device counters %v", c)
				}
				if _, err := r.sess.Task(ctx, tasks.TaskADC, []byte{9}); !isStatus(err, tasks.StatusBadArgs) {
					t.Fatalf("adc 9: %v", err)
				}
				if _, err := r.sess.Task(ctx, tasks.Task(31), nil); !isStatus(err, tasks.StatusUnknownTask) {
					t.Fatalf("task 31: %v", err)
				}
				if got := r.sess.Counters(); got.Received != 7 || got.Sent != 7 || got.AuthFailed != 0 {
					t.Fatalf("session counters %+v", got)
				}

				// The recording decrypts with the SA file: every packet.
				var out bytes.Buffer
				st, err := capture.DecryptCapture(ctx, bytes.NewReader(r.rec.Bytes()), &out, sas.All(), capture.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if st.Packets != 14 || st.Decrypted != 14 {
					t.Fatalf("decrypt stats %+v", st)
				}
			})
		}
	}
}

func isStatus(err error, s tasks.Status) bool {
	var te *espsession.TaskError
	return errors.As(err, &te) && te.Status == s
}

func TestWrongSA(t *testing.T) {
	sas, _ := newSAs(t, esp.SuiteAES128CCM8, false)
	other, _ := newSAs(t, esp.SuiteAES128CCM8, false)
	ctx := context.Background()

	// The device answers with keys we do not have: its replies fail.
	r := start(t, sas, nil, linktest.Config{}, false)
	_ = r
	hostEnd, devEnd := linktest.Pipe()
	if _, err := linktest.Serve(devEnd, linktest.Config{SAs: other}); err != nil {
		t.Fatal(err)
	}
	lk := link.NewSerial(hostEnd, "pipe", nil)
	defer lk.Close()
	defer devEnd.Close()
	s, err := espsession.New(espsession.Config{SAs: sas, Link: lk, Timeout: 200 * time.Millisecond, Retries: -1, Management: lk.Management()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Task(ctx, tasks.TaskID, nil); !errors.Is(err, espsession.ErrWrongSA) {
		t.Fatalf("device with other SAs: %v, want ErrWrongSA", err)
	}

	// A device that ignores ESP but answers IDENTIFY: wrong SA.
	r2 := start(t, sas, nil, linktest.Config{Silent: true}, true)
	if _, err := r2.sess.Task(ctx, tasks.TaskID, nil); !errors.Is(err, espsession.ErrWrongSA) {
		t.Fatalf("silent device with management: %v, want ErrWrongSA", err)
	}
	var se *espsession.StaleStateError
	if _, err := r2.sess.Task(ctx, tasks.TaskID, nil); errors.As(err, &se) || !strings.Contains(err.Error(), "holds other SAs") {
		t.Fatalf("silent device holding other SAs: %v, want other SAs", err)
	}
	// Without a management channel, it is just silence.
	r3 := start(t, sas, nil, linktest.Config{Silent: true}, false)
	if _, err := r3.sess.Task(ctx, tasks.TaskID, nil); !errors.Is(err, espsession.ErrNoAnswer) {
		t.Fatalf("silent device: %v, want ErrNoAnswer", err)
	}
}

// A device whose inbound floor is ahead (it reset mid-session) drops the
// first attempt as a replay; the retry jumps one device block ahead.
func TestSkipAheadAfterDeviceReset(t *testing.T) {
	sas, _ := newSAs(t, esp.SuiteAES128CCM8, false)
	r := start(t, sas, nil, linktest.Config{Floor: 500}, false)
	res, err := r.sess.Task(context.Background(), tasks.TaskID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", res.Attempts)
	}
	if r.dev.Counter(tasks.CounterESPReplayed) != 1 {
		t.Fatalf("device replay counter %d", r.dev.Counter(tasks.CounterESPReplayed))
	}
}

// Sessions on one SA file never reuse a sequence number, and a device
// reply recorded in an earlier session is dropped in a later one.
func TestStateAcrossSessions(t *testing.T) {
	sas, path := newSAs(t, esp.SuiteAES128CTRHMACSHA256, false)
	ctx := context.Background()
	seen := map[uint64]bool{}
	var firstReplies [][]byte
	for i := range 3 {
		st, err := seqstate.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := start(t, sas, st, linktest.Config{OutSeq: uint64(1 + 1000*i)}, false)
		for j := range 3 {
			if _, err := r.sess.Ping(ctx, uint16(j), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if i > 0 {
			// Replay the previous session's device replies into this one.
			for _, p := range firstReplies {
				if err := r.dev.Inject(p); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond)
			if c := r.sess.Counters(); c.Replayed != uint64(len(firstReplies)) {
				t.Fatalf("session %d: replayed %d, want %d", i, c.Replayed, len(firstReplies))
			}
		}
		firstReplies = nil
		outSPI := sas.Outbound[0].SPI
		for _, data := range recorded(t, r.rec) {
			h, err := esp.ParsePacket(data)
			if err != nil {
				t.Fatal(err)
			}
			if h.SPI == outSPI {
				if seen[uint64(h.Seq)] {
					t.Fatalf("sequence number %d sent twice", h.Seq)
				}
				seen[uint64(h.Seq)] = true
			} else {
				firstReplies = append(firstReplies, data)
			}
		}
		r.sess.Close()
		st.Close()
	}
	b, _ := os.ReadFile(seqstate.PathFor(path))
	if !bytes.HasPrefix(b, []byte(seqstate.Magic)) {
		t.Fatalf("state file:\n%s", b)
	}
}

func TestUDPLink(t *testing.T) {
	sas, _ := newSAs(t, esp.SuiteAES128CBCHMACMD5, true)
	// A fake networked device: a UDP socket whose datagrams go to the
	// fake serial device as IPv4/UDP/4500 packets, and back.
	relay := linktest.StartUDPRelay(t, sas)
	var buf bytes.Buffer
	rec, _ := link.NewRecorder(&buf)
	lk, err := link.DialUDP(relay.String(), link.Endpoints{
		Local:  netip.AddrPortFrom(hostAddr, 4500),
		Remote: netip.AddrPortFrom(devAddr, 4500)}, &link.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	s, err := espsession.New(espsession.Config{SAs: sas, Link: lk, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Ping(context.Background(), 1, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Task(context.Background(), tasks.TaskUptime, nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st, err := capture.DecryptCapture(context.Background(), bytes.NewReader(buf.Bytes()), &out, sas.All(), capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Decrypted != 4 {
		t.Fatalf("decrypt stats %+v", st)
	}
}

// A device that has already seen the numbers the host uses (a stale state
// file: the SA file used from another copy, or its state restored from a
// backup) drops them as replays: the session says so, with the device's
// highest number from its STATUS, instead of "other SAs". Moved past that
// number (seqstate.Advance), the next session works at once.
func TestStaleState(t *testing.T) {
	sas, path := newSAs(t, esp.SuiteAES128CCM8, false)
	ctx := context.Background()
	const seen = 50000
	st, err := seqstate.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, sas, st, linktest.Config{Floor: seen}, true)
	check := func(what string, err error) {
		t.Helper()
		var se *espsession.StaleStateError
		if !errors.As(err, &se) || !errors.Is(err, espsession.ErrStaleState) {
			t.Fatalf("%s: %v, want a *StaleStateError", what, err)
		}
		if se.SPI != sas.Outbound[0].SPI || se.DeviceHighest != seen || se.StateFile != seqstate.PathFor(path) || se.LastSent == 0 || se.LastSent > seen {
			t.Fatalf("%s: %+v", what, se)
		}
		want := fmt.Sprintf("the device has seen sequence numbers up to %d from this SA (0x%08x); the host's state file %s is behind (used from another copy?)",
			seen, sas.Outbound[0].SPI, seqstate.PathFor(path))
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %q lacks %q", what, err, want)
		}
	}
	_, err = r.sess.Task(ctx, tasks.TaskID, nil)
	check("task", err)
	if _, err := r.sess.Ping(ctx, 1, []byte("x")); !errors.Is(err, espsession.ErrNoAnswer) {
		t.Fatalf("ping: %v", err)
	}
	check("ping", r.sess.Diagnose(ctx))
	if n := r.dev.Counter(tasks.CounterESPReplayed); n != 3 {
		t.Fatalf("device replay counter %d, want 3", n)
	}
	r.sess.Close()
	st.Close()

	if _, err := seqstate.Advance(path, sas.Outbound[0].SPI, seqstate.Move{UpTo: seen}); err != nil {
		t.Fatal(err)
	}
	st, err = seqstate.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r = start(t, sas, st, linktest.Config{Floor: seen}, true)
	res, err := r.sess.Task(ctx, tasks.TaskID, nil)
	if err != nil || res.Attempts != 1 {
		t.Fatalf("after advancing the state: %+v, %v", res, err)
	}
}

// recorded returns the packets of a link's recording.
func recorded(t *testing.T, rec *bytes.Buffer) [][]byte {
	t.Helper()
	pr, err := pcapgo.NewReader(bytes.NewReader(rec.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for {
		data, _, err := pr.ReadPacketData()
		if err != nil {
			return pkts
		}
		pkts = append(pkts, data)
	}
}

// lines collects Log messages.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (c *lines) log(msg string) { c.mu.Lock(); c.l = append(c.l, msg); c.mu.Unlock() }

func (c *lines) has(t *testing.T, want string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.l {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Errorf("no log line contains %q; got:\n%s", want, strings.Join(c.l, "\n"))
}

// Log is told of retries, host-side drops and the state saved (mstool -v).
func TestLog(t *testing.T) {
	sas, path := newSAs(t, esp.SuiteAES128CCM8, false)
	st, err := seqstate.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hostEnd, devEnd := linktest.Pipe()
	defer devEnd.Close()
	dev, err := linktest.Serve(devEnd, linktest.Config{SAs: sas, Floor: 500})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rec, _ := link.NewRecorder(&buf)
	lk := link.NewSerial(hostEnd, "pipe", &link.Options{Recorder: rec})
	defer lk.Close()
	var got lines
	s, err := espsession.New(espsession.Config{SAs: sas, State: st, Link: lk, Timeout: 300 * time.Millisecond, Retries: 1, Log: got.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The device drops the first attempt (its floor is ahead): a retry.
	if _, err := s.Task(ctx, tasks.TaskID, nil); err != nil {
		t.Fatal(err)
	}
	got.has(t, "task id (id ")
	got.has(t, "no answer within 300ms, retry 1/1")
	got.has(t, "next outbound sequence number moved ahead to")
	// A device reply injected again is a replay, dropped by the host.
	for _, data := range recorded(t, &buf) {
		if h, _ := esp.ParsePacket(data); h.SPI == sas.Inbound[0].SPI {
			if err := dev.Inject(data); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.Counters().Replayed == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got.has(t, "as a replay (anti-replay window)")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got.has(t, "sequence state saved to "+seqstate.PathFor(path))
}
