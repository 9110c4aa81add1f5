package device

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/slip"
)

// bootingBoard is a Conn to a board that resets when its port opens: for
// bootFor it is in its bootloader and loses every byte, then the firmware
// answers IDENTIFY (or, with refuse, an error reply). never: it never
// answers.
type bootingBoard struct {
	opened  time.Time
	bootFor time.Duration
	never   bool
	refuse  bool

	mu       sync.Mutex
	dec      *slip.Decoder
	out      chan []byte
	pending  []byte
	timeout  time.Duration
	requests int // IDENTIFY requests received, lost or not
}

func newBootingBoard(bootFor time.Duration) *bootingBoard {
	return &bootingBoard{opened: time.Now(), bootFor: bootFor, dec: slip.NewDecoder(2048), out: make(chan []byte, 64), timeout: 50 * time.Millisecond}
}

func (b *bootingBoard) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dec.Feed(p, func(f []byte) {
		typ, seq, _, err := parseFrame(f)
		if err != nil || typ != cmdIdentify {
			return
		}
		b.requests++
		if b.never || time.Since(b.opened) < b.bootFor {
			return // the bootloader's
		}
		reply := marshalFrame(cmdIdentify|typeReply, seq, []byte{protoVersion})
		if b.refuse {
			reply = marshalFrame(typeError, seq, []byte{ErrCodeCommand, cmdIdentify})
		}
		b.out <- slip.Encode(reply)
	})
	return len(p), nil
}

func (b *bootingBoard) Read(p []byte) (int, error) {
	if len(b.pending) == 0 {
		select {
		case f := <-b.out:
			b.pending = f
		case <-time.After(b.timeout):
			return 0, nil
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *bootingBoard) SetReadTimeout(t time.Duration) error { b.timeout = t; return nil }
func (b *bootingBoard) ResetInputBuffer() error              { return nil }
func (b *bootingBoard) Close() error                         { return nil }

func TestWaitReady(t *testing.T) {
	tests := []struct {
		name     string
		board    *bootingBoard
		within   time.Duration
		err      error
		min, max time.Duration
	}{
		// A board that does not reset: one round trip, no wait.
		{name: "answers at once", board: newBootingBoard(0), max: 100 * time.Millisecond},
		// optiboot for about 0.6 s: the probe that follows is answered.
		{name: "bootloader first", board: newBootingBoard(600 * time.Millisecond), min: 600 * time.Millisecond, max: 600*time.Millisecond + 2*ProbeInterval},
		// An error reply is an answer: the firmware runs.
		{name: "refuses identify", board: func() *bootingBoard { b := newBootingBoard(0); b.refuse = true; return b }(), max: 100 * time.Millisecond},
		// Nothing answers: ErrNoAnswer after the bound, not later.
		{name: "nobody", board: func() *bootingBoard { b := newBootingBoard(0); b.never = true; return b }(), within: time.Second,
			err: ErrNoAnswer, min: time.Second, max: time.Second + 200*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := New(tt.board, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.board.mu.Lock()
			tt.board.opened = time.Now() // the port opens: the board resets
			tt.board.mu.Unlock()
			start := time.Now()
			err = d.WaitReady(context.Background(), tt.within)
			took := time.Since(start)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("WaitReady: %v, want %v", err, tt.err)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("WaitReady took %v, want %v..%v (%d requests)", took, tt.min, tt.max, tt.board.requests)
			}
		})
	}
}

func TestParseReset(t *testing.T) {
	for _, n := range ResetNames {
		r, err := ParseReset(n)
		if err != nil || r.String() != n {
			t.Errorf("ParseReset(%q) = %v, %v", n, r, err)
		}
	}
	if _, err := ParseReset("always"); err == nil {
		t.Error("ParseReset accepts an unknown mode")
	}
}

// Log is told of each unanswered probe and of the answer; Trace sees the
// frames (mstool -v, -vv).
func TestWaitReadyLogs(t *testing.T) {
	b := newBootingBoard(400 * time.Millisecond)
	var mu sync.Mutex
	var logs []string
	var sent, recv int
	opts := &Options{
		Log: func(msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() },
		Trace: func(dir string, f []byte) {
			mu.Lock()
			defer mu.Unlock()
			if _, _, _, err := parseFrame(f); err != nil {
				t.Errorf("traced %s %x: %v", dir, f, err)
			}
			if dir == "send" {
				sent++
			} else {
				recv++
			}
		},
	}
	d, err := New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitReady(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(logs, "\n")
	for _, want := range []string{"waiting up to 2s for the device to answer IDENTIFY", "IDENTIFY probe 1: no answer within 250ms", "device ready: answered IDENTIFY probe"} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
	if sent < 2 || recv != 1 {
		t.Errorf("traced %d sent and %d received frames, want >= 2 and 1", sent, recv)
	}
}
