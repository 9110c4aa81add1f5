package main

// mstool esp ping | exec | send | recv | shell: ESP sessions with a device
// (pkg/espsession) over a serial SLIP link or ESP-in-UDP (pkg/link).

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
	"github.com/mstool/mstool/pkg/tasks"
)

const espLinkHelp = "The device is reached on a serial port carrying SLIP (--port; a board, or the\n" +
	"simulated device of 'mstool sim') or over ESP-in-UDP (--udp HOST:PORT; the SA\n" +
	"file must use UDP encapsulation). --sa is the host's SA file (from 'mstool esp\n" +
	"sa new'); the device must have been provisioned with it. Sequence numbers are\n" +
	"kept in FILE.state next to it (docs/sa-file.md, \"Sequence state\"): keep the two\n" +
	"together. --pcap records the link (raw IP, both directions) for 'mstool decrypt'."

func espFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "the device's serial `PORT` (SLIP)"},
		&cli.StringFlag{Name: "udp", Usage: "reach the device over ESP-in-UDP at `HOST:PORT`"},
		&cli.StringFlag{Name: "sa", Usage: "the host's SA `FILE`"},
		pcapFlag("record the link in `FILE` (pcap, raw IP; never overwritten without --force)"),
		&cli.BoolFlag{Name: "force", Usage: "overwrite the --pcap file"},
		&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "wait `DURATION` for each answer"},
		&cli.IntFlag{Name: "retries", Value: 2, Usage: "`N` retries after a timeout (tasks)"},
	}, append(resetFlags(), extra...)...)
}

// espConn is an open session and everything to close after it.
type espConn struct {
	sess   *espsession.Session
	link   link.Link
	serial *link.Serial
	state  *seqstate.State
	rec    *link.Recorder
	pcap   *os.File
	target string
}

func (e *espConn) Close() error {
	err := e.sess.Close()
	e.link.Close()
	if e.state != nil {
		if cerr := e.state.Close(); err == nil {
			err = cerr
		}
	}
	if e.pcap != nil {
		e.pcap.Close()
	}
	return err
}

// espOpenError turns an espsession.Open error into a CLI error with the
// hint for the step that failed.
func espOpenError(err error, saPath, port string) error {
	var oe *espsession.OpenError
	if !errors.As(err, &oe) {
		return failf("", "%v", err)
	}
	switch oe.Step {
	case espsession.StepState:
		if errors.Is(err, seqstate.ErrInUse) {
			return failf("wait for the other session to end: two sessions on one SA would share sequence numbers", "%v", err)
		}
		if errors.Is(err, fs.ErrPermission) {
			// Typically a session run with sudo (esp tunnel) rewrote the
			// state file, which is then root's.
			st := seqstate.PathFor(saPath)
			return failf(fmt.Sprintf("%s belongs to another user (a session run with sudo, such as 'sudo mstool esp tunnel', rewrites it as root's): give it back with 'sudo chown $USER %s', or run every session on this SA file as one user", st, st), "%v", err)
		}
		return failf(seqStateHint, "%v", err)
	case espsession.StepSerial:
		return portError(oe.Err, port)
	case espsession.StepUDP:
		return linkError(oe.Err, "give the device's address as HOST:PORT (ESP-in-UDP uses port 4500)")
	}
	if errors.Is(err, espsession.ErrSAFile) {
		return failf("", "%s: %v", saPath, err)
	}
	return failf("", "%v", err)
}

// pcapPath is the file being recorded, if any (for messages).
func (e *espConn) pcapInfo() string {
	if e.pcap == nil {
		return ""
	}
	return fmt.Sprintf("%s (%d packets)", e.pcap.Name(), e.rec.Packets())
}

// openESP opens the session the flags describe; setup, when given, adjusts
// its configuration first.
func openESP(ui *UI, c *cli.Context, setup ...func(*espsession.OpenConfig)) (*espConn, error) {
	if err := requireFlags(c, "sa"); err != nil {
		return nil, err
	}
	if err := notStdin(c, "--sa", c.String("sa"), "the sequence state is kept in FILE.state next to the SA file"); err != nil {
		return nil, err
	}
	if err := notStdout(c, "--pcap", c.String("pcap"), "standard output carries the results"); err != nil {
		return nil, err
	}
	port, udp := c.String("port"), c.String("udp")
	if (port == "") == (udp == "") {
		return nil, usageErrorf("give --port /dev/ttyUSB0 (or the port 'mstool sim' printed) or --udp HOST:4500",
			"%s: give exactly one of --port and --udp", cmdPath(c))
	}
	saPath := c.String("sa")
	sas, err := safile.ReadFile(saPath)
	if err != nil {
		return nil, fileError(err, saPath, "make one with 'mstool esp sa new' and provision the device with it")
	}
	if len(sas.Outbound) != 1 || len(sas.Inbound) != 1 {
		return nil, failf("a session uses one inbound and one outbound SA (the file 'mstool esp sa new' writes)",
			"%s: has %d inbound and %d outbound SAs", saPath, len(sas.Inbound), len(sas.Outbound))
	}
	out := sas.Outbound[0]
	if !out.Src.Is4() || !out.Dst.Is4() {
		return nil, failf("make the SA file with 'mstool esp sa new --host-ip HOST --device-ip DEVICE'", "%s: the SAs have no IPv4 addresses", saPath)
	}
	if udp != "" && out.Encap == nil {
		return nil, usageErrorf("make an SA file with 'mstool esp sa new --udp-encap', or use --port", "%s: --udp needs SAs with UDP encapsulation", saPath)
	}
	if out.Suite.IsNULL() {
		ui.Banner("null encryption: packets travel in the clear")
	}
	reset, err := resetMode(c)
	if err != nil {
		return nil, err
	}
	e := &espConn{target: out.Dst.String()}
	opts := &link.Options{Reset: reset}
	if p := c.String("pcap"); p != "" {
		f, rec, err := openRecording(p, c.Bool("force"))
		if err != nil {
			return nil, err
		}
		e.pcap, e.rec, opts.Recorder = f, rec, rec
	}
	cfg := espsession.OpenConfig{SAs: sas, SAPath: saPath, Port: port, UDP: udp, Link: *opts, Timeout: c.Duration("timeout"), Retries: c.Int("retries")}
	if cfg.Retries == 0 {
		cfg.Retries = -1 // --retries 0 means none
	}
	cfg.Log, cfg.Trace = ui.logHooks()
	for _, f := range setup {
		f(&cfg)
	}
	conn, err := espsession.Open(cfg)
	if err != nil {
		if e.pcap != nil {
			e.pcap.Close()
		}
		return nil, espOpenError(err, saPath, port)
	}
	e.sess, e.link, e.serial, e.state = conn.Session, conn.Link, conn.Serial, conn.State
	if !e.state.Existed() {
		ui.Debugf("no sequence state yet for %s: starting a fresh SA at sequence number 1", saPath)
	}
	ui.Debugf("session: %s on %s, outbound SPI 0x%08x from sequence number %d", out.Suite, e.link, out.SPI, e.sess.Counters().FirstSeqOut)
	return e, nil
}

// noAnswerAfterOpenHint explains that nothing answered the readiness
// probe after the port opened (--reset auto).
const noAnswerAfterOpenHint = "is the mstool firmware running on the device, at 115200 baud? ('mstool identify --port PORT'; 'mstool sim' for a simulated one); --no-reset skips this check for a peer without the management channel"

// portError explains a serial port that cannot be opened.
func portError(err error, port string) error {
	switch {
	case errors.Is(err, link.ErrPortNotFound):
		return linkError(err, "check the port name (ls /dev/ttyUSB* /dev/ttyACM*), or start the simulated device with 'mstool sim' and use the port it prints")
	case errors.Is(err, link.ErrPortBusy):
		return linkError(err, "another program has the port open (another mstool, screen, minicom, a serial monitor): close it")
	case errors.Is(err, link.ErrPermission):
		return linkError(err, "add yourself to the dialout group (sudo usermod -aG dialout $USER) and log in again")
	case errors.Is(err, link.ErrNotSerial):
		return linkError(err, port+" is not a serial port")
	case errors.Is(err, device.ErrNoAnswer):
		return linkError(err, noAnswerAfterOpenHint)
	}
	return linkError(err, "")
}

// sessionError maps session errors to exit codes and hints.
func sessionError(err error) error {
	err = plainError(err)
	var te *espsession.TaskError
	var se *espsession.StaleStateError
	switch {
	case errors.As(err, &te):
		return failf("", "%v", err)
	case errors.As(err, &se) && se.StateFile != "":
		return authError(err, fmt.Sprintf("run 'mstool esp sa state %s --advance-to %d' to move the host's state past it, and keep one copy of the SA file with its state (docs/sa-file.md, \"Sequence state\")",
			seqstate.SAPathOf(se.StateFile), se.DeviceHighest))
	case errors.Is(err, espsession.ErrTooLarge):
		return failf("send less: the device's frame (IDENTIFY's frame_max) bounds a request with its ESP and IPv4 headers", "%v", err)
	case errors.Is(err, espsession.ErrNotAnswered):
		return failf("the usual cause is a reply longer than the device's frame (an application task that ignores its result capacity, *rlen, docs/firmware.md; an echo near the frame size); the request was processed, so mstool does not send it again", "%v", err)
	case errors.Is(err, espsession.ErrWrongSA):
		return authError(err, "provision the device from this SA file ('mstool provision --sa FILE', then load or flash the image), or use the SA file it was provisioned with")
	case errors.Is(err, espsession.ErrNoAnswer):
		return linkError(err, "check that the device runs and is provisioned with this SA file (for a board: the port and the cable; for the simulator: 'mstool sim --eeprom IMAGE.hex')")
	case errors.Is(err, link.ErrClosed), errors.Is(err, espsession.ErrClosed):
		return linkError(err, "the link went away (device unplugged or simulator stopped)")
	case errors.Is(err, context.Canceled):
		return failf("", "interrupted")
	}
	return failf("", "%v", err)
}

func signalContext() (context.Context, context.CancelFunc) {
	return notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func espPingCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:        "ping",
		Usage:       "send ESP-protected ICMP echo requests and show round-trip statistics",
		ArgsUsage:   " ",
		Description: "Like ping(8), through ESP: every request and reply is ESP-protected.\n\n" + espLinkHelp,
		Flags: espFlags(
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 4, Usage: "stop after `N` requests (0: until Ctrl-C)"},
			&cli.Float64Flag{Name: "interval", Value: 1, Usage: "wait `SECONDS` between requests"},
			&cli.IntFlag{Name: "size", Value: 64, Usage: "echo payload `BYTES`"},
			&cli.BoolFlag{Name: "counters", Usage: "read the device's counters (task counters) at the end"},
			&cli.BoolFlag{Name: "cycles", Usage: "read the device's cycle count for each answered echo (management STATUS; serial only)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool esp ping --help' for usage", "esp ping: unexpected argument %q", c.Args().First())
			}
			if iv := c.Float64("interval"); iv < 0 || iv > 3600 {
				return usageErrorf("give seconds, e.g. -i 0.2", "esp ping: bad --interval %g", iv)
			}
			if c.Int("size") < 0 || c.Int("size") > 1400 {
				return usageErrorf("a 64-byte payload fits every device", "esp ping: bad --size %d", c.Int("size"))
			}
			e, err := openESP(ui, c)
			if err != nil {
				return err
			}
			defer e.Close()
			return espPing(ui, c, e)
		},
	}
}

type pingReply struct {
	Seq   int     `json:"icmp_seq"`
	RTTms float64 `json:"rtt_ms"`
}

// pingEvent is one line of esp ping --json: "reply" or "no_reply".
type pingEvent struct {
	Type         string   `json:"type"`
	Seq          int      `json:"icmp_seq"`
	RTTms        *float64 `json:"rtt_ms,omitempty"`
	DeviceCycles *uint32  `json:"device_cycles,omitempty"`
}

// pingReport is the last line of esp ping --json ("type": "summary").
type pingReport struct {
	Type        string              `json:"type"`
	Target      string              `json:"target"`
	Link        string              `json:"link"`
	SPI         string              `json:"spi"`
	Suite       string              `json:"suite"`
	Size        int                 `json:"size"`
	Transmitted int                 `json:"transmitted"`
	Received    int                 `json:"received"`
	LossPercent float64             `json:"loss_percent"`
	RTT         *rttStats           `json:"rtt_ms"`
	Replies     []pingReply         `json:"replies"`
	Session     espsession.Counters `json:"session"`
	LinkStats   link.Stats          `json:"link_stats"`
	Device      map[string]uint64   `json:"device_counters,omitempty"`
	Pcap        string              `json:"pcap,omitempty"`
	Cycles      *cycleStats         `json:"device_cycles,omitempty"`
	Error       string              `json:"error,omitempty"`
}

// cycleStats: device cycles to answer one echo (STATUS, last packet).
type cycleStats struct {
	Min     uint32   `json:"min"`
	Max     uint32   `json:"max"`
	Samples []uint32 `json:"samples"`
}

type rttStats struct {
	Min  float64 `json:"min"`
	Avg  float64 `json:"avg"`
	Max  float64 `json:"max"`
	Mdev float64 `json:"mdev"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func espPing(ui *UI, c *cli.Context, e *espConn) error {
	ctx, stop := signalContext()
	defer stop()
	outSA, _ := e.sess.SAs()
	n, size := c.Int("count"), c.Int("size")
	rep := pingReport{Type: "summary", Target: e.target, Link: e.link.String(), SPI: fmt.Sprintf("0x%08x", outSA.SPI), Suite: outSA.Suite.String(), Size: size, Replies: []pingReply{}}
	if !ui.JSON {
		ui.Printf("PING %s through ESP (spi %s, %s) on %s: %d data bytes\n", e.target, rep.SPI, rep.Suite, e.link, size)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	var rtts []time.Duration
	var sessErr error
	var mgmt *device.Device
	if c.Bool("cycles") {
		if e.serial == nil {
			return usageErrorf("cycle counts come from the management channel of a serial link", "esp ping: --cycles needs --port")
		}
		var err error
		if mgmt, err = device.New(e.serial.Management(), ui.deviceOptions(device.Options{Timeout: 2 * time.Second})); err != nil {
			return linkError(err, "")
		}
	}
loop:
	for i := 1; n == 0 || i <= n; i++ {
		if i > 1 {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(time.Duration(c.Float64("interval") * float64(time.Second))):
			}
		}
		rep.Transmitted++
		rtt, err := e.sess.Ping(ctx, uint16(i), data)
		switch {
		case err == nil:
			rtts = append(rtts, rtt)
			rep.Replies = append(rep.Replies, pingReply{Seq: i, RTTms: ms(rtt)})
			cyc := ""
			ev := pingEvent{Type: "reply", Seq: i, RTTms: &rep.Replies[len(rep.Replies)-1].RTTms}
			if mgmt != nil {
				st, err := mgmt.Status(ctx)
				if err != nil {
					return linkError(fmt.Errorf("esp ping: reading the device's status: %w", err), "the firmware must support STATUS (docs/firmware-net.md)")
				}
				if rep.Cycles == nil {
					rep.Cycles = &cycleStats{Min: st.LastCycles, Max: st.LastCycles}
				}
				rep.Cycles.Min = min(rep.Cycles.Min, st.LastCycles)
				rep.Cycles.Max = max(rep.Cycles.Max, st.LastCycles)
				rep.Cycles.Samples = append(rep.Cycles.Samples, st.LastCycles)
				cyc = fmt.Sprintf(" device_cycles=%d", st.LastCycles)
				ev.DeviceCycles = &st.LastCycles
			}
			if ui.JSON {
				if err := writeJSONLine(ui, ev); err != nil {
					return err
				}
			} else {
				ui.Printf("%d bytes from %s: icmp_seq=%d time=%.3f ms%s\n", size+8, e.target, i, ms(rtt), cyc)
			}
		case errors.Is(err, espsession.ErrNoAnswer):
			if ui.JSON {
				if err := writeJSONLine(ui, pingEvent{Type: "no_reply", Seq: i}); err != nil {
					return err
				}
			} else {
				ui.Printf("no reply for icmp_seq=%d within %v\n", i, c.Duration("timeout"))
			}
		case errors.Is(err, context.Canceled):
			rep.Transmitted--
			break loop
		default:
			sessErr = err
			break loop
		}
	}
	rep.Received = len(rtts)
	if rep.Transmitted > 0 {
		rep.LossPercent = math.Round(1000*float64(rep.Transmitted-rep.Received)/float64(rep.Transmitted)) / 10
	}
	if len(rtts) > 0 {
		var sum, sum2 float64
		st := &rttStats{Min: math.Inf(1)}
		for _, r := range rtts {
			v := float64(r) / 1e6
			sum += v
			sum2 += v * v
			st.Min = math.Min(st.Min, v)
			st.Max = math.Max(st.Max, v)
		}
		avg := sum / float64(len(rtts))
		st.Avg = avg
		st.Mdev = math.Sqrt(math.Max(0, sum2/float64(len(rtts))-avg*avg))
		for _, p := range []*float64{&st.Min, &st.Avg, &st.Max, &st.Mdev} {
			*p = math.Round(*p*1000) / 1000
		}
		rep.RTT = st
	}
	if sessErr == nil && rep.Received == 0 && rep.Transmitted > 0 {
		sessErr = e.sess.Diagnose(ctx)
	}
	var devFields []tasks.Field
	if c.Bool("counters") && sessErr == nil && rep.Received > 0 {
		res, err := e.sess.Task(ctx, tasks.TaskCounters, nil)
		if err != nil {
			ui.Warnf("could not read the device's counters: %v", err)
		} else {
			devFields, _ = tasks.Decode(tasks.TaskCounters, res.Result)
			rep.Device = map[string]uint64{}
			for _, f := range devFields {
				if v, ok := f.Value.(uint64); ok {
					rep.Device[f.Name] = v
				}
			}
		}
	}
	rep.Session = e.sess.Counters()
	rep.LinkStats = e.link.Stats()
	rep.Pcap = e.pcapInfo()
	if sessErr != nil {
		rep.Error = sessErr.Error()
	}
	if ui.JSON {
		if err := writeJSONLine(ui, rep); err != nil {
			return err
		}
	} else {
		ui.Printf("--- %s ESP ping statistics ---\n", e.target)
		ui.Printf("%d packets transmitted, %d received, %g%% packet loss\n", rep.Transmitted, rep.Received, rep.LossPercent)
		if rep.RTT != nil {
			ui.Printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", rep.RTT.Min, rep.RTT.Avg, rep.RTT.Max, rep.RTT.Mdev)
		}
		s := rep.Session
		ui.Infof("session: %d sent, %d authenticated, %d failed authentication, %d replayed, %d unknown SPI, %d cleartext dropped",
			s.Sent, s.Received, s.AuthFailed, s.Replayed, s.UnknownSPI, s.NotESP)
		if len(devFields) > 0 {
			renderFields(ui, devFields)
		}
		if rep.Pcap != "" {
			ui.Infof("recorded %s", rep.Pcap)
		}
	}
	if sessErr != nil {
		return sessionError(sessErr)
	}
	return nil
}

func renderFields(ui *UI, fields []tasks.Field) {
	rows := make([][2]string, len(fields))
	for i, f := range fields {
		rows[i] = [2]string{f.Name, fmt.Sprint(f.Value)}
	}
	ui.KeyValues(rows)
}

func espExecCommand(ui *UI) *cli.Command {
	names := strings.Join(tasks.BuiltinNames(), ", ")
	return &cli.Command{
		Name:      "exec",
		Usage:     "run one device task through ESP (for scripts)",
		ArgsUsage: "TASK [ARGS...]",
		Description: "Runs one task of the device's task service (docs/tasks.md) and prints its\n" +
			"result. Tasks: " + names + ".\n" +
			"   led [on|off|toggle|read]  adc CHANNEL    settings-read INDEX\n" +
			"   settings-write INDEX VALUE\n" +
			"The application's tasks (bits 16..31) by the names and argument types of\n" +
			"--task-map FILE, or as bitN HEX... without one (docs/tasks.md).\n\n" +
			"Exit status: 0 the task ran, 1 the device refused or failed it, 3 no answer,\n" +
			"4 ESP does not authenticate (wrong SA file).\n\n" + espLinkHelp,
		Flags: espFlags(),
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return usageErrorf(ui.taskHint(), "esp exec: name a task")
			}
			t, err := ui.tasks.Lookup(args[0])
			if err != nil {
				return usageErrorf(ui.taskHint(), "esp exec: %v", err)
			}
			targs, err := ui.tasks.ParseArgs(t, args[1:])
			if err != nil {
				return usageErrorf("run 'mstool esp exec --help' for the tasks' arguments", "esp exec: %v", err)
			}
			e, err := openESP(ui, c)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx, stop := signalContext()
			defer stop()
			return runTask(ui, ctx, e, t, targs)
		},
	}
}

func runTask(ui *UI, ctx context.Context, e *espConn, t tasks.Task, args []byte) error {
	res, err := e.sess.Task(ctx, t, args)
	var r tasks.Result
	var te *espsession.TaskError
	switch {
	case err == nil:
		r = ui.tasks.NewResult(t, res.ID, tasks.StatusOK, res.Result)
		r.RTTms, r.Attempts = ms(res.RTT), res.Attempts
	case errors.As(err, &te):
		r = ui.tasks.NewResult(t, te.ID, te.Status, nil)
		r.RTTms, r.Attempts = ms(te.RTT), te.Attempts
	default:
		return sessionError(err)
	}
	r.Transport = "esp"
	if werr := writeTaskResult(ui, r); werr != nil {
		return werr
	}
	if te != nil {
		// As espsession's TaskError says, but with the task map's name
		// for a mapped task (as 'mssl exec' does).
		return failf("", "task %s: %s", ui.tasks.Name(t), te.Status)
	}
	if r.DecodeError != "" {
		return failf("", "%s", r.DecodeError)
	}
	if p := e.pcapInfo(); p != "" && !ui.JSON {
		ui.Infof("recorded %s", p)
	}
	return nil
}

func espSendCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "send one datagram through ESP",
		ArgsUsage: "[DATA]",
		Description: "Sends one UDP datagram through ESP to --to-port on the device (default the task\n" +
			"port 7411). DATA is the payload (with --hex: hex digits); without DATA, or with\n" +
			"DATA -, standard input is read. With --reply, waits for one datagram back and prints it (hex).\n\n" + espLinkHelp,
		Flags: espFlags(
			&cli.IntFlag{Name: "to-port", Value: tasks.Port, Usage: "the device's UDP `PORT`"},
			&cli.BoolFlag{Name: "hex", Usage: "DATA is hex"},
			&cli.BoolFlag{Name: "reply", Usage: "wait for one reply and print it"},
		),
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			var payload []byte
			switch {
			case len(args) == 0 || len(args) == 1 && isStdio(args[0]):
				if payload, err = ui.readStdin("DATA"); err != nil {
					return err
				}
			case len(args) == 1:
				payload = []byte(args[0])
			default:
				return usageErrorf("quote the data, or pipe it in", "esp send: one DATA argument at most")
			}
			if c.Bool("hex") {
				if payload, err = hex.DecodeString(strings.TrimSpace(string(payload))); err != nil {
					return usageErrorf("give an even number of hex digits", "esp send: %v", err)
				}
			}
			p := c.Int("to-port")
			if p < 1 || p > 65535 {
				return usageErrorf("a UDP port is 1-65535", "esp send: bad --to-port %d", p)
			}
			e, err := openESP(ui, c)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.sess.Send(uint16(p), payload); err != nil {
				return sessionError(err)
			}
			ui.Infof("sent %d bytes to %s port %d", len(payload), e.target, p)
			if !c.Bool("reply") {
				return nil
			}
			ctx, stop := signalContext()
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
			defer cancel()
			d, err := e.sess.Recv(ctx)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return sessionError(e.sess.Diagnose(context.Background()))
				}
				return sessionError(err)
			}
			return printDatagram(ui, d)
		},
	}
}

func printDatagram(ui *UI, d espsession.Datagram) error {
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"src": d.Src.String(), "dst": d.Dst.String(), "esp_seq": d.Seq,
			"length": len(d.Payload), "payload": hex.EncodeToString(d.Payload)})
	}
	ui.Printf("%s > %s esp_seq=%d len=%d %s\n", d.Src, d.Dst, d.Seq, len(d.Payload), hex.EncodeToString(d.Payload))
	return nil
}

func espRecvCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "recv",
		Usage:     "receive datagrams through ESP",
		ArgsUsage: " ",
		Description: "Prints the UDP datagrams that arrive through ESP (authenticated, not replayed),\n" +
			"one per line (--json: one object per line), until --count datagrams or --wait\n" +
			"without one. The reference device sends only replies: use it after 'esp send' in\n" +
			"the same session, or against devices that send on their own.\n\n" + espLinkHelp,
		Flags: espFlags(
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 0, Usage: "stop after `N` datagrams (0: no limit)"},
			&cli.DurationFlag{Name: "wait", Value: 10 * time.Second, Usage: "stop after `DURATION` without a datagram"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool esp recv --help' for usage", "esp recv: unexpected argument %q", c.Args().First())
			}
			e, err := openESP(ui, c)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx, stop := signalContext()
			defer stop()
			got := 0
			for c.Int("count") == 0 || got < c.Int("count") {
				wctx, cancel := context.WithTimeout(ctx, c.Duration("wait"))
				d, err := e.sess.Recv(wctx)
				cancel()
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
						break
					}
					return sessionError(err)
				}
				got++
				if ui.JSON {
					enc := map[string]any{"src": d.Src.String(), "dst": d.Dst.String(), "esp_seq": d.Seq, "length": len(d.Payload), "payload": hex.EncodeToString(d.Payload)}
					if err := writeJSONLine(ui, enc); err != nil {
						return err
					}
				} else {
					printDatagram(ui, d)
				}
			}
			s := e.sess.Counters()
			ui.Infof("%d datagrams; session: %d authenticated, %d failed authentication, %d replayed", got, s.Received, s.AuthFailed, s.Replayed)
			if c.Int("count") > 0 && got < c.Int("count") {
				return linkError(fmt.Errorf("esp recv: %d of %d datagrams within %v", got, c.Int("count"), c.Duration("wait")), "")
			}
			return nil
		},
	}
}

// writeJSONLine writes v as one compact JSON line (streams).
func writeJSONLine(ui *UI, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ui.Printf("%s\n", b)
	return nil
}

// deviceInfo is IDENTIFY through the session's management channel.
func deviceInfo(ctx context.Context, e *espConn) (*device.Info, error) {
	if e.serial == nil {
		return nil, errors.New("esp: the management channel needs a serial link")
	}
	d, err := device.New(e.serial.Management(), &device.Options{Timeout: time.Second, Retries: -1})
	if err != nil {
		return nil, err
	}
	return d.Identify(ctx)
}
