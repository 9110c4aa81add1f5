package shell

import (
	"bytes"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// ctrlC is what the editor's input makes of a Ctrl-C: term.Terminal ends
// ReadLine on Ctrl-C as on end of input, and keeps the line; as a
// private-use rune it reaches the completion callback instead, which
// clears the line.
const ctrlC = '\ue000'

const leaveHint = "(Ctrl-C again or Ctrl-D to end the session)\n"

type editor struct {
	s    *shell
	t    *term.Terminal
	in   *ctrlCReader
	hist *history
	// armed is set by a Ctrl-C at an empty prompt: a second one ends
	// the session.
	armed bool
}

func (s *shell) newEditor() *editor {
	e := &editor{s: s, in: &ctrlCReader{r: s.cfg.In}}
	e.hist = loadHistory(s.cfg.History, s.cfg.HistoryMax, s.cfg.Warn)
	e.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{e.in, s.cfg.Out}, s.cfg.Prompt)
	e.t.History = e.hist
	e.t.AutoCompleteCallback = e.key
	return e
}

// readLine edits one line, in raw mode if there is a TTY. At the end of
// input (Ctrl-D, or Ctrl-C twice) it ends the prompt's line.
func (e *editor) readLine() (string, error) {
	if f := e.s.cfg.TTY; f != nil {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return "", err
		}
		defer restoreOnSignal(int(f.Fd()), old)()
		defer term.Restore(int(f.Fd()), old)
	}
	line, err := e.t.ReadLine()
	if err == io.EOF {
		io.WriteString(e.s.cfg.Out, "\r\n")
	} else if err == nil {
		e.armed = false
	}
	return line, err
}

// key is called by the terminal for every key it does not handle itself.
func (e *editor) key(line string, pos int, key rune) (string, int, bool) {
	switch key {
	case ctrlC:
		if line == "" {
			if e.armed {
				e.in.eof = true
			} else {
				e.armed = true
				e.t.Write([]byte(leaveHint))
			}
		}
		return "", 0, true
	case '\t':
		e.armed = false
		cands, start := e.s.complete(line[:pos])
		if len(cands) == 0 {
			return "", 0, false
		}
		p := commonPrefix(cands)
		if len(cands) == 1 {
			p += " "
		} else if start+len(p) == pos {
			e.t.Write([]byte(strings.Join(cands, "  ") + "\n"))
			return "", 0, false
		}
		return line[:start] + p + line[pos:], start + len(p), true
	}
	e.armed = false
	return "", 0, false
}

// ctrlCReader passes the terminal's input on, with each Ctrl-C (0x03)
// turned into ctrlC; eof makes it report the end of input.
type ctrlCReader struct {
	r   io.Reader
	buf []byte
	err error
	eof bool
}

func (c *ctrlCReader) Read(p []byte) (int, error) {
	if c.eof {
		return 0, io.EOF
	}
	if len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		b := make([]byte, len(p))
		n, err := c.r.Read(b)
		c.buf, c.err = b[:n], err
		if n == 0 {
			return 0, err
		}
	}
	i := bytes.IndexByte(c.buf, 3)
	switch {
	case i == 0 && len(p) >= 3:
		c.buf = c.buf[1:]
		return copy(p, string(ctrlC)), nil
	case i > 0:
		n := copy(p, c.buf[:i])
		c.buf = c.buf[n:]
		return n, nil
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// restoreOnSignal guards the raw mode of the terminal fd: if SIGTERM or
// SIGHUP (kill, a closed terminal window) arrives while a line is edited,
// it puts the terminal back to old first and then lets the signal do what
// it would have done (it is sent again once this handler is gone: by
// default, the process ends by it), so that the user's terminal is not
// left without echo and line editing. The returned function ends the
// guard.
func restoreOnSignal(fd int, old *term.State) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			term.Restore(fd, old)
			signal.Stop(ch)
			if s, ok := sig.(syscall.Signal); ok {
				raise(s)
			}
		case <-done:
		}
	}()
	return func() {
		close(done)
		signal.Stop(ch)
	}
}
