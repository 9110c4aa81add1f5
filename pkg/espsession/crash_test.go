package espsession_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/link/linktest"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
)

// innerSession is a session that hands every authenticated inner packet
// to a channel (as 'esp tunnel' does), with its link recorded.
func innerSession(t *testing.T, sas *safile.File, st *seqstate.State, outSeq uint64) (*espsession.Session, *linktest.Device, *bytes.Buffer, chan []byte, func()) {
	t.Helper()
	hostEnd, devEnd := linktest.Pipe()
	dev, err := linktest.Serve(devEnd, linktest.Config{SAs: sas, OutSeq: outSeq})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rec, err := link.NewRecorder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	lk := link.NewSerial(hostEnd, "pipe", &link.Options{Recorder: rec})
	got := make(chan []byte, 16)
	s, err := espsession.New(espsession.Config{SAs: sas, State: st, Link: lk, Timeout: 300 * time.Millisecond,
		Inner: func(p []byte) { got <- append([]byte(nil), p...) }})
	if err != nil {
		t.Fatal(err)
	}
	return s, dev, &buf, got, func() {
		s.Close()
		lk.Close()
		devEnd.Close()
	}
}

// A host that crashes (kill -9) must not accept, in its next session, the
// device's packets of the crashed session: an attacker who recorded them
// replays them into the new session, as he can after a clean exit
// (TestStateAcrossSessions). The state file on disk at the moment of the
// crash is all the next session has.
func TestCrashKeepsInboundFloor(t *testing.T) {
	sas, path := newSAs(t, esp.SuiteAES128CCM8, false)
	st, err := seqstate.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _, rec, got, closeAll := innerSession(t, sas, st, 0)
	for i := range 3 {
		req, err := ipv4.AppendEcho(nil, &ipv4.Header{Src: hostAddr, Dst: devAddr}, 8, 7, uint16(i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendPacket(req); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("no echo reply")
		}
	}
	// kill -9 now: what is on disk is what the next session reads.
	onDisk, err := os.ReadFile(seqstate.PathFor(path))
	if err != nil {
		t.Fatal(err)
	}
	closeAll()
	st.Close()
	if err := os.WriteFile(seqstate.PathFor(path), onDisk, 0o600); err != nil {
		t.Fatal(err)
	}
	var replies [][]byte
	inSPI := sas.Inbound[0].SPI
	for _, p := range recorded(t, rec) {
		if h, err := esp.ParsePacket(p); err == nil && h.SPI == inSPI {
			replies = append(replies, p)
		}
	}
	if len(replies) != 3 {
		t.Fatalf("recorded %d device packets, want 3", len(replies))
	}

	st2, err := seqstate.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	s2, dev2, _, got2, closeAll2 := innerSession(t, sas, st2, 1000)
	defer closeAll2()
	for _, p := range replies {
		if err := dev2.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	select {
	case p := <-got2:
		t.Fatalf("a packet of the crashed session was delivered again in the next one (%d bytes; state file at the crash:\n%s)", len(p), onDisk)
	case <-ctx.Done():
	}
	if c := s2.Counters(); c.Replayed != 3 {
		t.Fatalf("replayed %d, want 3", c.Replayed)
	}
}
