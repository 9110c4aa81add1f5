package main

// mstool esp shell: an interactive ESP session with a device.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/shell"
	"github.com/mstool/mstool/pkg/tasks"
)

func espShellCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "shell",
		Usage:     "interactive ESP session with a device",
		ArgsUsage: " ",
		Description: "Opens one ESP session and reads commands: a task name with its arguments\n" +
			"(" + strings.Join(tasks.BuiltinNames(), ", ") + ", those of --task-map, or a task\n" +
			"number), 'ping [N]', 'identify' (management channel), 'session' (the host's\n" +
			"counters), 'help', 'quit'.\n\n" +
			shellHelp + "\n\n" + espLinkHelp,
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
			return espShell(ui, c, e)
		},
	}
}

func espShell(ui *UI, c *cli.Context, e *espConn) error {
	outSA, _ := e.sess.SAs()
	lines := *ui
	lines.Lines = true // --json: one object per line (docs/json.md)
	sui := &lines
	sui.Infof("ESP session with %s on %s (spi 0x%08x, %s); 'help' lists the commands", e.target, e.link, outSA.SPI, outSA.Suite)
	runT := func(ctx context.Context, t tasks.Task, words []string) error {
		args, err := ui.tasks.ParseArgs(t, words)
		if err != nil {
			return usageErrorf("type 'help' for the arguments", "%v", err)
		}
		return runTask(sui, ctx, e, t, args)
	}
	cmds := append(taskCommands(ui.tasks, ui.tasks.Map.All(), runT),
		shell.Command{Name: "ping", Args: "[N]", Help: "N ESP-protected echo requests (default 1)",
			Run: func(ctx context.Context, args []string) error { return espShellPing(sui, ctx, e, args) }},
		shell.Command{Name: "identify", Help: "the device's MCU, firmware and clock (management channel)",
			Run: func(ctx context.Context, args []string) error { return espShellIdentify(sui, ctx, e) }},
		shell.Command{Name: "session", Help: "the host's counters for this session",
			Run: func(ctx context.Context, args []string) error { return espShellSession(sui, e) }},
	)
	return runShell(sui, c.App.Reader, shellConfig{
		name: "esp shell", prompt: "esp> ", history: "esp", commands: cmds,
		other: func(ctx context.Context, words []string) error {
			// A task by number or bitN (tasks outside the registry and
			// the task map take hex bytes).
			t, err := ui.tasks.Lookup(words[0])
			if err != nil {
				return usageErrorf("type 'help' for the commands", "%v", err)
			}
			return runT(ctx, t, words[1:])
		},
		link: func(err error) shell.LinkState {
			switch {
			case errors.Is(err, espsession.ErrClosed), errors.Is(err, link.ErrClosed):
				return shell.LinkDown
			case errors.Is(err, espsession.ErrNoAnswer):
				return shell.LinkSilent
			}
			return shell.LinkUp
		},
	})
}

// espShellPing sends N echo requests; it fails when none is answered.
func espShellPing(ui *UI, ctx context.Context, e *espConn, words []string) error {
	n := 1
	if len(words) > 1 {
		return usageErrorf("", "ping: takes one count")
	}
	if len(words) == 1 {
		var err error
		if n, err = strconv.Atoi(words[0]); err != nil || n < 1 || n > 1000 {
			return usageErrorf("", "ping: bad count %q", words[0])
		}
	}
	data := make([]byte, 64)
	answered := 0
	var last error
	for i := 1; i <= n; i++ {
		rtt, err := e.sess.Ping(ctx, uint16(i), data)
		if err != nil {
			if errors.Is(err, espsession.ErrNoAnswer) && ctx.Err() == nil {
				last = err
				if ui.JSON {
					ui.WriteJSON(pingEvent{Type: "no_reply", Seq: i})
				} else {
					ui.Printf("icmp_seq=%d: no reply\n", i)
				}
				continue
			}
			return sessionError(err)
		}
		answered++
		if ui.JSON {
			v := ms(rtt)
			ui.WriteJSON(pingEvent{Type: "reply", Seq: i, RTTms: &v})
		} else {
			ui.Printf("72 bytes from %s: icmp_seq=%d time=%.3f ms\n", e.target, i, ms(rtt))
		}
		if i < n {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return sessionError(ctx.Err())
			}
		}
	}
	if answered == 0 {
		return sessionError(fmt.Errorf("ping: %w", last))
	}
	return nil
}

func espShellIdentify(ui *UI, ctx context.Context, e *espConn) error {
	info, err := deviceInfo(ctx, e)
	if err != nil {
		return linkError(err, "")
	}
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"type": "identify", "mcu": info.MCU, "firmware": info.Firmware,
			"f_cpu": info.FCPU, "frame_max": info.FrameMax, "options": info.OptionNames})
	}
	ui.KeyValues([][2]string{{"mcu", info.MCU}, {"firmware", info.Firmware}, {"f_cpu", fmt.Sprint(info.FCPU)},
		{"frame_max", fmt.Sprint(info.FrameMax)}, {"options", strings.Join(info.OptionNames, ",")}})
	return nil
}

func espShellSession(ui *UI, e *espConn) error {
	s := e.sess.Counters()
	if ui.JSON {
		return ui.WriteJSON(struct {
			Type string `json:"type"`
			espsession.Counters
		}{"session", s})
	}
	ui.KeyValues([][2]string{{"sent", fmt.Sprint(s.Sent)}, {"received", fmt.Sprint(s.Received)},
		{"auth_failed", fmt.Sprint(s.AuthFailed)}, {"replayed", fmt.Sprint(s.Replayed)},
		{"unknown_spi", fmt.Sprint(s.UnknownSPI)}, {"not_esp", fmt.Sprint(s.NotESP)},
		{"next_seq_out", fmt.Sprint(s.NextSeqOut)}})
	return nil
}
