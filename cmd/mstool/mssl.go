package main

// mstool mssl connect | exec: MSSL sessions with a device (pkg/mssl,
// docs/mssl.md).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/shell"
	"github.com/mstool/mstool/pkg/tasks"
)

// msslKeyLogEnv names the key log file when --keylog is not given.
const msslKeyLogEnv = "MSSLKEYLOGFILE"

// raiseFloorWord is the pseudo-task that delivers a floor statement.
const raiseFloorWord = "raise-floor"

func msslFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "grant", Aliases: []string{"g"}, Usage: "the grant `FILE` (NAME.grant; required)"},
		&cli.StringFlag{Name: "host-key", Aliases: []string{"k"}, Usage: "the grant's host key `FILE` (default: the grant's NAME.hostkey)"},
		&cli.StringFlag{Name: "udp", Usage: "reach the device over UDP at `HOST:PORT` (its MSSL port is 7412)"},
		&cli.StringFlag{Name: "tcp", Usage: "reach an MSSL server on a byte stream at `HOST:PORT` (2-byte length per message)"},
		&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "reach the device over SLIP on the serial `PORT`"},
		deviceIPFlag("the device's IPv4 `ADDRESS` (--port; default: the address the device reports)"),
		pcapFlag("record the serial link in `FILE` (pcap, raw IP; with --port; never overwritten without --force)"),
		&cli.BoolFlag{Name: "force", Usage: "overwrite the --pcap file"},
		hostIPFlag("this host's IPv4 `ADDRESS` on the serial link (default: the grant's bound address)"),
		&cli.StringFlag{Name: "keylog", Usage: "append the session's keys to `FILE` for 'mstool decrypt --mssl-keylog' (default: $" + msslKeyLogEnv + ")"},
		&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "wait `D` for each answer"},
		&cli.IntFlag{Name: "retries", Value: 2, Usage: "send again `N` times when no answer comes"},
	}, resetFlags()...)
}

func msslConnectCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "interactive MSSL session with a device",
		ArgsUsage: " ",
		Description: "Runs the MSSL handshake with the grant and its host key, then reads commands:\n" +
			"a task name and its arguments (the grant's tasks are listed at the start and by\n" +
			"'tasks'), 'raise-floor FILE' to deliver a floor statement from 'mstool grant\n" +
			"revoke', 'help', and 'quit' (or end of input), which closes the session cleanly.\n\n" +
			shellHelp,
		Flags: msslFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageErrorf("run 'mstool mssl connect --help' for usage", "mssl connect: unexpected arguments %q", c.Args().Slice())
			}
			if _, err := ui.stdin("the session's commands"); err != nil {
				return err
			}
			sess, err := msslDial(ui, c)
			if err != nil {
				return err
			}
			return msslInteractive(ui, c, sess)
		},
	}
}

func msslExecCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run one task over MSSL (exit code says allowed, denied or failed)",
		ArgsUsage: "TASK [ARGS...]",
		Description: "Runs the handshake, one task, and closes the session. TASK is a task name\n" +
			"(" + strings.Join(tasks.BuiltinNames(), ", ") + ", those of --task-map, bitN) or\n" +
			"number, or 'raise-floor FILE'.\n\n" +
			"Exit status: 0 the task ran and succeeded; 4 the grant does not permit it, or the\n" +
			"device refused the grant or the host key; 3 the device did not answer (over --port,\n" +
			"the device is asked why: another address, unprovisioned, no issuer key, no MSSL); 1\n" +
			"the task failed on the device (bad arguments, unknown task, failure).\n\n" +
			"The device has no clock: a grant that this host's clock says has expired or is not\n" +
			"yet valid gets a warning (the device may still accept it).",
		Flags: msslFlags(),
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return usageErrorf("usage: mstool mssl exec --grant G --udp HOST:PORT TASK [ARGS...]", "mssl exec: no task given")
			}
			// Check the task before talking to the device.
			if args[0] != raiseFloorWord {
				t, err := ui.tasks.Lookup(args[0])
				if err != nil {
					return usageErrorf(ui.taskHint(), "mssl exec: %v", err)
				}
				if _, err := ui.tasks.ParseArgs(t, args[1:]); err != nil {
					return usageErrorf("", "mssl exec: %v", err)
				}
			} else if len(args) != 2 {
				return usageErrorf("usage: mstool mssl exec ... raise-floor FILE", "mssl exec: raise-floor takes one statement file")
			}
			sess, err := msslDial(ui, c)
			if err != nil {
				return err
			}
			ctx := context.Background()
			err = msslRun(ui, ctx, sess, args)
			if cerr := sess.Close(ctx); cerr != nil && err == nil {
				ui.Debugf("close: %v", cerr)
			}
			return err
		},
	}
}

// msslDial reads the grant and host key, opens the transport and runs the
// handshake.
func msslDial(ui *UI, c *cli.Context) (*mssl.Session, error) {
	if err := requireFlags(c, "grant"); err != nil {
		return nil, err
	}
	gpath := c.String("grant")
	klPath, klWhat := c.String("keylog"), "--keylog"
	if klPath == "" {
		klPath, klWhat = os.Getenv(msslKeyLogEnv), "$"+msslKeyLogEnv
	}
	if err := notStdout(c, klWhat, klPath, "the key log is appended to a private file"); err != nil {
		return nil, err
	}
	if err := notStdout(c, "--pcap", c.String("pcap"), "standard output carries the results"); err != nil {
		return nil, err
	}
	hkPath := c.String("host-key")
	if hkPath == "" {
		if isStdio(gpath) {
			return nil, usageErrorf("give the grant's host key with --host-key FILE",
				"%s", prefixed(c, "--grant - needs --host-key FILE (the host key is found next to a grant file only)"))
		}
		hkPath = strings.TrimSuffix(gpath, ".grant") + ".hostkey"
	}
	g, err := ui.readFile("--grant", gpath)
	if err != nil {
		if isCLIError(err) {
			return nil, err
		}
		return nil, failf("check the grant's path", "mssl: %v", err)
	}
	parsed, err := grant.Parse(g)
	if err != nil {
		return nil, authError(fmt.Errorf("%s: %w", inName(gpath), err), "the file is not a valid grant: check it with 'mstool grant inspect'")
	}
	msslClockWarning(ui, gpath, parsed)
	var hkData []byte
	if isStdio(hkPath) {
		hkData, err = ui.readStdin("--host-key")
	} else if hkData, err = keyfile.ReadPrivate(hkPath); err != nil {
		return nil, fileError(err, hkPath, "give the grant's host key with --host-key FILE")
	}
	if err != nil {
		return nil, err
	}
	hk, err := grant.ParseHostKey(hkData)
	if err != nil {
		return nil, failf("the host key file is written by 'mstool grant sign' as NAME.hostkey", "%s: %v", inName(hkPath), err)
	}
	tr, err := msslTransport(ui, c, parsed)
	if err != nil {
		return nil, err
	}
	cfg := mssl.Config{Grant: g, HostKey: hk, Transport: tr, Timeout: c.Duration("timeout"), Retries: c.Int("retries")}
	cfg.Progress = func(msg string) { ui.Progressf("%s", msg) }
	if ui.Verbosity > 0 {
		cfg.Log = func(msg string) { ui.Debugf("%s", msg) }
	}
	if ui.Verbosity > 1 {
		cfg.Trace = func(dir string, m []byte) { ui.Tracef("%s", hexFrame(dir, m)) }
	}
	if cfg.Retries == 0 {
		cfg.Retries = -1
	}
	if klPath != "" {
		f, err := openKeyLog(klPath)
		if err != nil {
			tr.Close()
			return nil, err
		}
		defer f.Close()
		cfg.KeyLog = f
		ui.Warnf("writing the session's keys to %s: whoever reads it can decrypt the session", klPath)
	}
	sess, err := mssl.Dial(context.Background(), cfg)
	if err != nil {
		tr.Close()
		return nil, msslError(err)
	}
	how := "RSA signature verified by the device"
	switch {
	case sess.SealOnly():
		how = "grant taken on its seal: the device verifies no RSA"
	case sess.Cached():
		how = "grant cached on the device"
	}
	ui.Infof("MSSL session with device 0x%08x (%s)", parsed.Target, how)
	return sess, nil
}

// msslClockWarning warns when this host's clock says the grant has expired
// or is not yet valid: the device has no clock (only a time floor), so it
// may still accept the grant.
func msslClockWarning(ui *UI, path string, g *grant.Grant) {
	const mayAccept = "the device has no clock and may still accept it"
	name := "grant " + path
	if isStdio(path) {
		name = "the grant on standard input"
	}
	switch grant.ReasonOf(g.CheckClock(time.Now(), clockSkew)) {
	case grant.ReasonExpired:
		ui.Warnf("%s expired after %s by this host's clock; %s", name, g.NotAfterTime().Format(time.RFC3339), mayAccept)
		ui.Hintf("sign a new grant, or deliver a floor statement made with 'mstool grant revoke --time-floor' to make the device refuse it")
	case grant.ReasonNotYetValid:
		issued := g.IssuedTime().Format(time.RFC3339)
		ui.Warnf("%s is not valid until %s by this host's clock (issued in the future); %s, and accepting it moves the device's time floor to %s, which expires every grant valid until before then",
			name, issued, mayAccept, issued)
		ui.Hintf("check the clocks of the signing machine and this one, and sign a new grant")
	}
}

// openKeyLog opens the key log for appending, creating it with mode 0600,
// never through a symbolic link; an existing file others can access is
// refused (keyfile.OpenAppend).
func openKeyLog(path string) (*os.File, error) {
	f, err := keyfile.OpenAppend(path)
	if err != nil {
		return nil, fileError(err, path, "")
	}
	return f, nil
}

func msslTransport(ui *UI, c *cli.Context, g *grant.Grant) (mssl.Transport, error) {
	n := 0
	for _, f := range []string{"udp", "tcp", "port"} {
		if c.String(f) != "" {
			n++
		}
	}
	if n != 1 {
		return nil, usageErrorf("give exactly one of --udp HOST:PORT, --tcp HOST:PORT or --port PORT", "mssl: how to reach the device?")
	}
	if c.String("pcap") != "" && c.String("port") == "" {
		return nil, usageErrorf("record a UDP or TCP session with tcpdump or mstool sniff", "mssl: --pcap records the serial link: it goes with --port")
	}
	cfg := mssl.TransportConfig{UDP: c.String("udp"), TCP: c.String("tcp"), Port: c.String("port"), Timeout: c.Duration("timeout")}
	ctx := context.Background()
	switch {
	case cfg.UDP != "":
		t, err := mssl.OpenTransport(ctx, cfg)
		if err != nil {
			return nil, linkError(err, "check the address")
		}
		return t, nil
	case cfg.TCP != "":
		t, err := mssl.OpenTransport(ctx, cfg)
		if err != nil {
			return nil, linkError(err, "check the address and that the server runs")
		}
		return t, nil
	}
	var dev netip.Addr // default: the address the device reports
	var err error
	if s := c.String("device-ip"); s != "" {
		if dev, err = netip.ParseAddr(s); err != nil || !dev.Is4() {
			return nil, usageErrorf("give the device's address with --device-ip A.B.C.D", "mssl: --device-ip %q is not an IPv4 address", s)
		}
	}
	var host netip.Addr // default: the grant's bound address
	if s := c.String("host-ip"); s != "" {
		if host, err = netip.ParseAddr(s); err != nil || !host.Is4() {
			return nil, usageErrorf("", "mssl: --host-ip %q is not an IPv4 address", s)
		}
	}
	if !host.IsValid() && !g.HostIP.IsValid() {
		return nil, usageErrorf("give this host's address with --host-ip A.B.C.D", "mssl: the grant binds no IPv4 address")
	}
	reset, err := resetMode(c)
	if err != nil {
		return nil, err
	}
	cfg.Device, cfg.Local, cfg.Grant, cfg.Link.Reset = dev, netip.AddrPortFrom(host, 0), g, reset
	// The messages are traced by the session (mssl.Config.Trace); the
	// IDENTIFY probe's frames here.
	cfg.Log, cfg.Trace = ui.logHooks()
	var pcap *os.File
	if p := c.String("pcap"); p != "" {
		f, rec, err := openRecording(p, c.Bool("force"))
		if err != nil {
			return nil, err
		}
		pcap, cfg.Link.Recorder = f, rec
	}
	t, err := mssl.OpenTransport(ctx, cfg)
	if err != nil {
		err = plainError(err)
		if pcap != nil {
			pcap.Close()
			os.Remove(pcap.Name())
		}
		switch {
		case errors.Is(err, mssl.ErrNoAddress) && errors.Is(err, device.ErrNoAnswer):
			return nil, linkError(err, "give the device's address with --device-ip A.B.C.D, and check the port (mstool sim prints the simulated device's)")
		case errors.Is(err, mssl.ErrNoAddress):
			return nil, linkError(err, "provision the device (mstool provision), or give its address with --device-ip")
		case errors.Is(err, device.ErrNoAnswer):
			return nil, linkError(err, noAnswerAfterOpenHint)
		}
		return nil, linkError(err, "check the port (mstool sim prints the simulated device's), and that you may use it (the dialout group)")
	}
	if pcap == nil {
		return t, nil
	}
	return &recordedTransport{SerialTransport: t.(*mssl.SerialTransport), pcap: pcap}, nil
}

// recordedTransport closes the recording with the session; mssl.Dial sees
// the serial transport it embeds (its management channel and clock).
type recordedTransport struct {
	*mssl.SerialTransport
	pcap *os.File
}

func (t *recordedTransport) Close() error {
	err := t.SerialTransport.Close()
	t.pcap.Close()
	return err
}

// msslError maps a session error to an exit code and a hint.
func msslError(err error) error {
	err = plainError(err)
	var na *mssl.NoAnswerError
	if errors.As(err, &na) {
		hint := map[mssl.Silence]string{
			mssl.SilenceNoIPStack:     "flash firmware built with the IP stack and MSSL (the atmega328p reference image has both)",
			mssl.SilenceNoMSSL:        "flash firmware built with MSSL (CONFIG_MSSL; the atmega328p reference image has it, its manifest.json says \"mssl\": true)",
			mssl.SilenceUnprovisioned: "provision the device with the grant's issuer key ('mstool provision --issuer OWNER.pem'), then load or flash the image ('mstool sim --eeprom IMAGE.hex' for the simulator)",
			mssl.SilenceNoIssuer:      "provision the device with the grant's issuer key ('mstool provision --issuer OWNER.pem'), then load or flash the image",
			mssl.SilenceUnexplained:   "the device may be busy or reset: try again with a longer --timeout; 'mstool identify --port PORT' shows its state",
		}[na.Cause]
		if na.Cause == mssl.SilenceWrongAddress {
			hint = "use --device-ip " + na.Addr.String()
		}
		return linkError(err, hint)
	}
	if errors.Is(err, mssl.ErrNoAnswer) || errors.Is(err, link.ErrClosed) {
		return linkError(err, "is the device running and reachable? (mstool sim; --udp/--port)")
	}
	if a, ok := mssl.AlertOf(err); ok {
		hint := map[mssl.Alert]string{
			mssl.AlertBadRecordMAC:  "the host key does not belong to this grant, or the device has another master key",
			mssl.AlertBadGrant:      "the grant does not open with the device's key: it was changed, or is sealed for another device",
			mssl.AlertUnknownIssuer: "the grant was signed by a key the device does not trust (mstool provision --issuer)",
			mssl.AlertBadSignature:  "the grant's signature does not verify with the device's issuer key",
			mssl.AlertWrongDevice:   "the grant is for another device or group",
			mssl.AlertWrongHost:     "the grant is bound to another host address",
			mssl.AlertRevoked:       "the grant's serial is below the device's revocation floor: ask the owner for a new grant",
			mssl.AlertExpired:       "the grant has expired (below the device's time floor): ask the owner for a new grant",
			mssl.AlertInternalError: "the device could not go on: its EEPROM refused a write, its nonce counter is exhausted, or (verifying an RSA grant) it lacks the free RAM for RSA: an application with too much static RAM (docs/firmware.md, \"RAM\")",
		}[a]
		if a.Auth() {
			return authError(err, hint)
		}
		return failf(hint, "%v", err)
	}
	return failf("", "%v", err)
}

type floorJSON struct {
	SerialFloor uint32 `json:"serial_floor"`
	TimeFloor   uint32 `json:"time_floor"`
	Ended       string `json:"session_ended,omitempty"`
}

// msslRun runs one command line (a task and its words, or raise-floor).
func msslRun(ui *UI, ctx context.Context, sess *mssl.Session, words []string) error {
	if words[0] == raiseFloorWord {
		if len(words) != 2 {
			return usageErrorf("", "raise-floor takes one statement file")
		}
		st, err := ui.readFile("raise-floor FILE", words[1])
		if err != nil {
			if isCLIError(err) {
				return err
			}
			return failf("", "mssl: %v", err)
		}
		fl, err := sess.RaiseFloor(ctx, st)
		if err != nil {
			return msslError(err)
		}
		// The statement the device took goes into the floor record, so
		// that no later image takes it back.
		if f, err := mssl.ParseFloor(st); err == nil {
			book, err := floorBook()
			if err != nil {
				return err
			}
			if _, err := book.Raise(floorbook.Target{Issuer: f.IssuerKeyID, Group: f.Group, ID: f.Target},
				floorbook.Floors{Serial: f.SerialFloor, Time: f.TimeFloor}); err != nil {
				return floorRecordError(book, "mssl: cannot record the floors", err)
			}
		}
		out := floorJSON{SerialFloor: fl.SerialFloor, TimeFloor: fl.TimeFloor}
		if fl.Ended != 0 {
			out.Ended = fl.Ended.String()
		}
		if ui.JSON {
			return ui.WriteJSON(out)
		}
		ui.KeyValues([][2]string{
			{"serial floor", strconv.FormatUint(uint64(fl.SerialFloor), 10)},
			{"time floor", time.Unix(int64(fl.TimeFloor), 0).UTC().Format(time.RFC3339)},
		})
		if fl.Ended != 0 {
			ui.Warnf("the statement %s this session's own grant: the device ended the session", map[mssl.Alert]string{mssl.AlertRevoked: "revoked", mssl.AlertExpired: "expired"}[fl.Ended])
		}
		return nil
	}
	t, err := ui.tasks.Lookup(words[0])
	if err != nil {
		return usageErrorf("", "%v", err)
	}
	args, err := ui.tasks.ParseArgs(t, words[1:])
	if err != nil {
		return usageErrorf("", "%v", err)
	}
	retx := sess.Stats().Retransmissions
	t0 := time.Now()
	reply, err := sess.Task(ctx, t, args)
	if err != nil {
		return msslError(err)
	}
	r := ui.tasks.NewResult(t, reply.ID, reply.Status, reply.Result)
	r.Transport = "mssl"
	r.RTTms = ms(time.Since(t0))
	r.Attempts = 1 + int(sess.Stats().Retransmissions-retx)
	if err := writeTaskResult(ui, r); err != nil {
		return err
	}
	switch reply.Status {
	case tasks.StatusOK:
		return nil
	case tasks.StatusDenied:
		return authError(fmt.Errorf("task %s: denied: the grant does not permit it", ui.tasks.Name(t)),
			"the grant permits: "+taskList(ui, sess.Grant().Tasks))
	}
	return failf("", "task %s: %s", ui.tasks.Name(t), reply.Status)
}

// msslInteractive runs the shell on the session until quit, the end of
// input or a dead link, and closes the session.
func msslInteractive(ui *UI, c *cli.Context, sess *mssl.Session) error {
	lines := *ui
	lines.Lines = true // --json: one object per line (docs/json.md)
	ui = &lines
	g := sess.Grant()
	ui.Infof("tasks this grant permits: %s", taskList(ui, g.Tasks))
	ui.Infof("type a task and its arguments, 'tasks', 'help', or 'quit'")
	run := func(ctx context.Context, words []string) error { return msslRun(ui, ctx, sess, words) }
	cmds := append(taskCommands(ui.tasks, g.Tasks, func(ctx context.Context, t tasks.Task, words []string) error {
		return run(ctx, append([]string{ui.tasks.Name(t)}, words...))
	}),
		shell.Command{Name: "tasks", Help: "the tasks this grant permits, with their arguments",
			Run: func(context.Context, []string) error {
				var rows [][]string
				for _, name := range ui.tasks.Map.TaskNames(g.Tasks) {
					t, _ := ui.tasks.Lookup(name)
					rows = append(rows, []string{name, ui.tasks.Usage(t)})
				}
				ui.Table([]string{"task", "arguments"}, rows)
				return nil
			}},
		shell.Command{Name: raiseFloorWord, Args: "FILE", Help: "deliver a floor statement from 'mstool grant revoke'",
			Run: func(ctx context.Context, args []string) error {
				return run(ctx, append([]string{raiseFloorWord}, args...))
			}},
	)
	err := runShell(ui, c.App.Reader, shellConfig{
		name: "mssl connect", prompt: "mssl> ", history: "mssl", commands: cmds,
		other: run, // tasks the grant does not permit: the device says so
		link: func(err error) shell.LinkState {
			if errors.Is(err, mssl.ErrClosed) || errors.Is(err, link.ErrClosed) {
				return shell.LinkDown
			}
			if a, ok := mssl.AlertOf(err); ok && (a == mssl.AlertRevoked || a == mssl.AlertExpired || a == mssl.AlertCloseNotify) {
				return shell.LinkDown // the device ended the session
			}
			if errors.Is(err, mssl.ErrNoAnswer) {
				return shell.LinkSilent
			}
			return shell.LinkUp
		},
	})
	if exitCode(err) == exitLink {
		sess.Close(context.Background())
		return err
	}
	if cerr := closeSession(ui, context.Background(), sess); err == nil {
		err = cerr
	}
	return err
}

func closeSession(ui *UI, ctx context.Context, sess *mssl.Session) error {
	if err := sess.Close(ctx); err != nil {
		ui.Warnf("the device did not confirm the close: %v", err)
		return nil
	}
	ui.Infof("session closed")
	return nil
}
