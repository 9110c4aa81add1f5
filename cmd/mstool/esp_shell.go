package main

// mstool esp shell: an interactive ESP session with a device.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/grant"
)

func espShellCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "shell",
		Usage:     "interactive ESP session with a device",
		ArgsUsage: " ",
		Description: "Opens one ESP session and reads commands: a task name with its arguments\n" +
			"(" + strings.Join(grant.TaskNames(), ", ") + ", and those of --task-map), 'ping [N]', 'identify' (management\n" +
			"channel), 'session' (the host's counters), 'help', 'quit'. On a terminal, Tab\n" +
			"completes and the arrow keys recall earlier lines. Errors do not end the session.\n\n" + espLinkHelp,
		Flags: espFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool esp shell --help' for usage", "esp shell: unexpected argument %q", c.Args().First())
			}
			if _, err := ui.stdin("the session's commands"); err != nil {
				return err
			}
			e, err := openESP(ui, c)
			if err != nil {
				return err
			}
			defer e.Close()
			return espShell(ui, c.App.Reader, e)
		},
	}
}

// shellWords are the esp shell's commands; tasks are the names of the
// tasks it runs (built-in and the task map's).
func shellWords(tasks []string) []string {
	return append([]string{"help", "ping", "identify", "session", "quit", "exit"}, tasks...)
}

// shellCompleter completes the first word of a line from words.
func shellCompleter(words []string) func(line string, pos int, key rune) (string, int, bool) {
	return func(line string, pos int, key rune) (string, int, bool) { return completeWord(words, line, pos, key) }
}

func completeWord(words []string, line string, pos int, key rune) (string, int, bool) {
	if key != '\t' || strings.Contains(line[:pos], " ") {
		return "", 0, false
	}
	var match []string
	for _, w := range words {
		if strings.HasPrefix(w, line[:pos]) {
			match = append(match, w)
		}
	}
	if len(match) == 0 {
		return "", 0, false
	}
	sort.Strings(match)
	// The longest common prefix.
	p := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(m, p) {
			p = p[:len(p)-1]
		}
	}
	if len(match) == 1 {
		p += " "
	}
	return p + line[pos:], len(p), true
}

func espShell(ui *UI, in io.Reader, e *espConn) error {
	outSA, _ := e.sess.SAs()
	readLine := func() (string, error) { return "", io.EOF }
	lines := *ui
	lines.Lines = true // --json: one object per line (docs/json.md)
	sui := &lines
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) && isTerminal(ui.Out) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return failf("", "esp shell: %v", err)
		}
		defer term.Restore(int(f.Fd()), old)
		t := term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{f, ui.Out}, "esp> ")
		t.AutoCompleteCallback = shellCompleter(shellWords(ui.tasks.Names()))
		readLine = t.ReadLine
		c := *sui
		c.Out, c.Err = t, t
		sui = &c
	} else {
		sc := bufio.NewScanner(in)
		readLine = func() (string, error) {
			if !sc.Scan() {
				if sc.Err() != nil {
					return "", sc.Err()
				}
				return "", io.EOF
			}
			return sc.Text(), nil
		}
	}
	sui.Infof("ESP session with %s on %s (spi 0x%08x, %s); 'help' lists the commands", e.target, e.link, outSA.SPI, outSA.Suite)
	for {
		line, err := readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return failf("", "esp shell: %v", err)
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		ctx, stop := signalContext()
		quit, err := shellLine(sui, ctx, e, words)
		stop()
		if err != nil {
			sui.Fail(err, hintOf(err), exitCode(err))
			if errors.Is(err, espsession.ErrClosed) {
				return err
			}
		}
		if quit {
			return nil
		}
	}
}

func shellLine(ui *UI, ctx context.Context, e *espConn, words []string) (quit bool, err error) {
	switch words[0] {
	case "quit", "exit":
		return true, nil
	case "help", "?":
		ui.Printf("commands:\n")
		for _, n := range ui.tasks.Names() {
			t, _ := ui.tasks.Lookup(n)
			ui.Printf("  %-16s %s\n", n, ui.tasks.Usage(t))
		}
		ui.Printf("  %-16s %s\n  %-16s %s\n  %-16s %s\n  %-16s\n", "ping", "[N]", "identify", "(management channel)", "session", "(host counters)", "quit")
		return false, nil
	case "ping":
		n := 1
		if len(words) > 1 {
			if n, err = strconv.Atoi(words[1]); err != nil || n < 1 || n > 1000 {
				return false, usageErrorf("", "ping: bad count %q", words[1])
			}
		}
		data := make([]byte, 64)
		for i := 1; i <= n; i++ {
			rtt, err := e.sess.Ping(ctx, uint16(i), data)
			if err != nil {
				if errors.Is(err, espsession.ErrNoAnswer) {
					if ui.JSON {
						ui.WriteJSON(pingEvent{Type: "no_reply", Seq: i})
					} else {
						ui.Printf("icmp_seq=%d: no reply\n", i)
					}
					continue
				}
				return false, sessionError(err)
			}
			if ui.JSON {
				v := ms(rtt)
				ui.WriteJSON(pingEvent{Type: "reply", Seq: i, RTTms: &v})
			} else {
				ui.Printf("72 bytes from %s: icmp_seq=%d time=%.3f ms\n", e.target, i, ms(rtt))
			}
			if i < n {
				time.Sleep(200 * time.Millisecond)
			}
		}
		return false, nil
	case "identify":
		info, err := deviceInfo(ctx, e)
		if err != nil {
			return false, linkError(err, "")
		}
		if ui.JSON {
			return false, ui.WriteJSON(map[string]any{"type": "identify", "mcu": info.MCU, "firmware": info.Firmware,
				"f_cpu": info.FCPU, "frame_max": info.FrameMax, "options": info.OptionNames})
		}
		ui.KeyValues([][2]string{{"mcu", info.MCU}, {"firmware", info.Firmware}, {"f_cpu", fmt.Sprint(info.FCPU)},
			{"frame_max", fmt.Sprint(info.FrameMax)}, {"options", strings.Join(info.OptionNames, ",")}})
		return false, nil
	case "session":
		s := e.sess.Counters()
		if ui.JSON {
			return false, ui.WriteJSON(struct {
				Type string `json:"type"`
				espsession.Counters
			}{"session", s})
		}
		ui.KeyValues([][2]string{{"sent", fmt.Sprint(s.Sent)}, {"received", fmt.Sprint(s.Received)},
			{"auth_failed", fmt.Sprint(s.AuthFailed)}, {"replayed", fmt.Sprint(s.Replayed)},
			{"unknown_spi", fmt.Sprint(s.UnknownSPI)}, {"not_esp", fmt.Sprint(s.NotESP)},
			{"next_seq_out", fmt.Sprint(s.NextSeqOut)}})
		return false, nil
	}
	t, err := ui.tasks.Lookup(words[0])
	if err != nil {
		return false, usageErrorf("type 'help' for the commands", "%v", err)
	}
	args, err := ui.tasks.ParseArgs(t, words[1:])
	if err != nil {
		return false, usageErrorf("type 'help' for the arguments", "%v", err)
	}
	return false, runTask(ui, ctx, e, t, args)
}
