package main

// mstool bootstrap: Kang's PSK reconfiguration with QR-code labels
// (pkg/bootstrap, docs/bootstrap.md). The command only parses flags,
// calls the library and renders.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/keyfile"
)

// Default ports of the bootstrap links (UDP).
const (
	defaultServerAddr = "127.0.0.1:7447"
	defaultDevicePort = 7448
)

func bootstrapCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "bootstrap",
		Usage: "reconfigure a device's PSK through a QR-code out-of-band channel (Kang)",
		Description: "Kang's secure bootstrapping (docs/bootstrap.md): 'enrol' makes each device's\n" +
			"id, initial key IK, RN and QR label and adds it to the server's repository;\n" +
			"'serve' is the authentication server; 'join', run next to the device, reads\n" +
			"its label and re-keys it to PSK = AES_IK(RN_i xor RN_c), which the installer\n" +
			"who knows IK cannot compute. 'controller' makes a controller's key SK_cs.\n\n" +
			"   mstool bootstrap controller --id 1 -o ctl.key\n" +
			"   mstool bootstrap enrol --repo devices.repo --count 10 -o labels\n" +
			"   mstool bootstrap serve --repo devices.repo --controllers ctl.key\n" +
			"   mstool bootstrap join --controller ctl.key --label-image labels/0000002a.png \\\n" +
			"       --device-udp 10.0.0.2:7448 -o dev.id",
		Subcommands: []*cli.Command{
			bootstrapEnrolCommand(ui),
			bootstrapServeCommand(ui),
			bootstrapJoinCommand(ui),
			bootstrapControllerCommand(ui),
		},
	}
}

func bootstrapControllerCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "controller",
		Usage:     "generate a controller's key SK_cs (one line; the server's file is its controllers' lines)",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			outputFlag("write the controller key (mode 0600) to `FILE`"),
			&cli.StringFlag{Name: "id", Usage: "controller `ID`, decimal or 0x-hex (1..2^32-1)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool bootstrap controller --help' for usage", "bootstrap controller: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "output", "id"); err != nil {
				return err
			}
			id, err := devkey.ParseID(c.String("id"))
			if err != nil || id == 0 {
				return usageErrorf("a controller id is 1..4294967295, decimal or 0x-hex", "bootstrap controller: bad --id %q", c.String("id"))
			}
			ctl := bootstrap.Controller{ID: id}
			if _, err := rand.Read(ctl.SKcs[:]); err != nil {
				return err
			}
			if err := ui.writeSecret(c.String("output"), bootstrap.FormatController(ctl)); err != nil {
				return err
			}
			if ui.JSON {
				return ui.WriteJSON(map[string]any{"controller_id": hexID(id), "file": c.String("output")})
			}
			if !isStdio(c.String("output")) {
				ui.Printf("controller-id: 0x%08x\n", id)
			}
			return nil
		},
	}
}

// ---- enrol ----

func bootstrapEnrolCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "enrol",
		Usage: "enrol devices: id, initial key, RN, QR label, repository entry",
		Description: "Makes each device's initial key IK and random RN_i, writes into the output\n" +
			"directory its label as PNG (and SVG with --svg) and its secret device file\n" +
			"(ID.device: id, IK, RN_i, mode 0600; what goes into the device's EEPROM\n" +
			"bootstrap area, docs/bootstrap.md), and adds all devices to the repository in\n" +
			"one write (created when missing). One device: its QR code is shown on the\n" +
			"terminal with the label payload. Existing files are never overwritten.\n\n" +
			"   mstool bootstrap enrol --repo devices.repo --id 0x2a -o labels\n" +
			"   mstool bootstrap enrol --repo devices.repo --count 100 -o labels\n" +
			"   mstool bootstrap enrol --repo devices.repo --csv ids.csv -o labels",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			outputFlag("write labels and device files into `DIR` (created when missing)"),
			&cli.StringFlag{Name: "repo", Usage: "the server's repository `FILE` (created when missing)"},
			&cli.StringFlag{Name: "id", Usage: "enrol one device with this `ID` (decimal or 0x-hex)"},
			&cli.IntFlag{Name: "count", Usage: "enrol `N` devices with random ids"},
			&cli.StringFlag{Name: "csv", Usage: "enrol the device ids in the first column of `FILE` (a 'device_id' header line is skipped)"},
			&cli.IntFlag{Name: "png-size", Value: 256, Usage: "label PNG width in `PIXELS`"},
			&cli.BoolFlag{Name: "svg", Usage: "also write each label as SVG"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool bootstrap enrol --help' for usage", "bootstrap enrol: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "output", "repo"); err != nil {
				return err
			}
			n := 0
			for _, f := range []string{"id", "count", "csv"} {
				if c.IsSet(f) {
					n++
				}
			}
			if n != 1 {
				return usageErrorf("give one of --id ID, --count N or --csv FILE", "bootstrap enrol: say which devices to enrol")
			}
			var ids []uint32
			switch {
			case c.IsSet("id"):
				id, err := devkey.ParseID(c.String("id"))
				if err != nil || id == 0 {
					return usageErrorf("a device id is 1..4294967295, decimal or 0x-hex", "bootstrap enrol: bad --id %q", c.String("id"))
				}
				ids = []uint32{id}
			case c.IsSet("count"):
				if c.Int("count") < 1 || c.Int("count") > 1_000_000 {
					return usageErrorf("enrol 1 to 1000000 devices at once", "bootstrap enrol: bad --count %d", c.Int("count"))
				}
				ids = make([]uint32, c.Int("count")) // zeros: random
			default:
				var err error
				if ids, err = readIDs(ui, c.String("csv")); err != nil {
					return err
				}
			}
			if c.Int("png-size") < 64 || c.Int("png-size") > 4096 {
				return usageErrorf("a label is 64 to 4096 pixels wide", "bootstrap enrol: bad --png-size %d", c.Int("png-size"))
			}
			return runEnrol(ui, c.String("repo"), c.String("output"), ids, c.Int("png-size"), c.Bool("svg"))
		},
	}
}

func readIDs(ui *UI, path string) ([]uint32, error) {
	data, err := ui.readFile("--csv", path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(string(data)))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	var ids []uint32
	seen := map[uint32]bool{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, failf("one device id per line, first column", "bootstrap enrol: %s: %v", path, err)
		}
		v := strings.TrimSpace(rec[0])
		if line == 1 && v == "device_id" {
			continue
		}
		id, err := devkey.ParseID(v)
		if err != nil || id == 0 {
			return nil, failf("device ids are 1..4294967295, decimal or 0x-hex", "bootstrap enrol: %s line %d: bad device id %q", path, line, v)
		}
		if seen[id] {
			return nil, failf("each device once", "bootstrap enrol: %s line %d: device 0x%08x given twice", path, line, id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, failf("one device id per line, first column", "bootstrap enrol: %s: no device ids", path)
	}
	return ids, nil
}

type enrolled struct {
	DeviceID   string `json:"device_id"` // 0x%08x, as everywhere (docs/json.md)
	Label      string `json:"label"`
	PNG        string `json:"png"`
	SVG        string `json:"svg,omitempty"`
	DeviceFile string `json:"device_file"`
	RNPrint    string `json:"rn_fingerprint"`
}

func runEnrol(ui *UI, repoPath, dir string, ids []uint32, pngSize int, svg bool) error {
	repo, err := bootstrap.OpenRepository(repoPath)
	if errors.Is(err, os.ErrNotExist) {
		repo, err = bootstrap.CreateRepository(repoPath)
	}
	if err != nil {
		return fileError(err, repoPath, "give the repository 'mstool bootstrap enrol' created, or a new path")
	}
	existing, err := repo.All()
	if err != nil {
		return fileError(err, repoPath, "")
	}
	taken := map[uint32]bool{}
	for _, e := range existing {
		taken[e.Device] = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return failf("", "bootstrap enrol: %v", err)
	}
	var out []enrolled
	var entries []bootstrap.Entry
	progress := len(ids) > 1 && ui.errIsTerminal() && !ui.Quiet
	for i, id := range ids {
		var e bootstrap.Enrolled
		e.Device = id
		for e.Device == 0 || taken[e.Device] {
			if ids[i] != 0 {
				return failf("enrol another id; a device already enrolled keeps its entry", "bootstrap enrol: device 0x%08x is already in %s", id, repoPath)
			}
			var b [4]byte
			rand.Read(b[:])
			e.Device = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		}
		taken[e.Device] = true
		if _, err := rand.Read(e.IK[:]); err != nil {
			return err
		}
		if _, err := rand.Read(e.RNi[:]); err != nil {
			return err
		}
		l := e.Label()
		base := filepath.Join(dir, fmt.Sprintf("%08x", e.Device))
		r := enrolled{DeviceID: hexID(e.Device), Label: l.String(), PNG: base + ".png", DeviceFile: base + ".device", RNPrint: bootstrap.RNFingerprint(e.RNi)}
		png, err := l.PNG(pngSize)
		if err != nil {
			return err
		}
		if err := writeNewFile(r.PNG, png, 0o644); err != nil {
			return err
		}
		if svg {
			r.SVG = base + ".svg"
			s, err := l.SVG()
			if err != nil {
				return err
			}
			if err := writeNewFile(r.SVG, s, 0o644); err != nil {
				return err
			}
		}
		if err := writeSecretFile(r.DeviceFile, e.Marshal()); err != nil {
			return err
		}
		entries = append(entries, bootstrap.Entry{Device: e.Device, Key: e.IK})
		out = append(out, r)
		if progress && i%100 == 0 {
			ui.Progress("enrolling: %d of %d", i, len(ids))
		}
	}
	if progress {
		ui.ProgressDone()
	}
	if err := repo.Add(entries...); err != nil {
		return failf("the labels and device files are written; remove them and enrol again", "bootstrap enrol: %v", err)
	}
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"repository": repoPath, "devices": out})
	}
	if len(out) == 1 {
		l, _ := bootstrap.ParseLabel(out[0].Label)
		if isTerminal(ui.Out) {
			if q, err := l.Terminal(); err == nil {
				ui.Printf("%s", q)
			}
		}
		ui.KeyValues([][2]string{
			{"device-id", out[0].DeviceID},
			{"label", out[0].Label},
			{"png", out[0].PNG},
			{"device-file", out[0].DeviceFile},
			{"rn-fingerprint", out[0].RNPrint},
			{"repository", repoPath},
		})
		return nil
	}
	rows := make([][]string, len(out))
	for i, r := range out {
		rows[i] = []string{r.DeviceID, r.Label, r.PNG}
	}
	ui.Table([]string{"device-id", "label", "png"}, rows)
	return nil
}

// writeNewFile writes a non-secret output file (a label image), never
// over an existing file or through a symbolic link. Unlike key files it
// is not synced: a label lost in a crash is made again from the device
// file, and fleets of labels are written at disk speed.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := keyfile.Create(path, false)
	if errors.Is(err, keyfile.ErrExists) {
		return failf("choose another output directory, or remove the old files yourself", "%s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fileError(err, path, "")
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return failf("", "bootstrap enrol: writing %s: %v", path, err)
	}
	return nil
}

// ---- serve ----

func bootstrapServeCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the authentication server (SBS) for controllers' joins, over UDP",
		Description: "Answers joins (flights 2 and 6) from the controllers in --controllers, with\n" +
			"the device keys of --repo, until interrupted (SIGINT or SIGTERM), then prints\n" +
			"its counters. Every join and commit is logged on standard error (with --json,\n" +
			"one JSON object per line on standard output; the last one holds the counters).\n\n" +
			"   mstool bootstrap serve --repo devices.repo --controllers controllers.keys",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Usage: "the repository `FILE` ('bootstrap enrol' makes it)"},
			&cli.StringFlag{Name: "controllers", Usage: "controller keys `FILE` (lines of 'bootstrap controller' files)"},
			&cli.StringFlag{Name: "listen", Value: defaultServerAddr, Usage: "UDP `ADDR:PORT` to answer on"},
			&cli.DurationFlag{Name: "window", Value: bootstrap.DefaultWindow, Usage: "accept a join whose timestamp is within this `DURATION` of the clock"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool bootstrap serve --help' for usage", "bootstrap serve: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "repo", "controllers"); err != nil {
				return err
			}
			if c.Duration("window") < time.Second || c.Duration("window") > time.Hour {
				return usageErrorf("a window of a few seconds to an hour; both clocks need to be that close", "bootstrap serve: bad --window %s", c.Duration("window"))
			}
			return runServe(ui, c.String("repo"), c.String("controllers"), c.String("listen"), c.Duration("window"))
		},
	}
}

func runServe(ui *UI, repoPath, ctlPath, listen string, window time.Duration) error {
	repo, err := bootstrap.OpenRepository(repoPath)
	if err != nil {
		return fileError(err, repoPath, "make it with 'mstool bootstrap enrol --repo FILE ...'")
	}
	data, err := ui.readSecret("--controllers", ctlPath)
	if err != nil {
		return err
	}
	ctls, err := bootstrap.ParseControllers(data)
	if err != nil {
		return failf("make controller keys with 'mstool bootstrap controller'", "bootstrap serve: %s: %v", ctlPath, err)
	}
	srv := &bootstrap.Server{Repo: repo, Controllers: map[uint32][bootstrap.KeySize]byte{}, Window: window}
	for _, c := range ctls {
		srv.Controllers[c.ID] = c.SKcs
	}
	ui.Lines = true
	srv.Log = func(event string, device, ctl uint32) {
		if ui.JSON {
			ui.WriteJSON(map[string]any{"event": event, "device_id": hexID(device), "controller_id": hexID(ctl), "time": time.Now().UTC().Format(time.RFC3339)})
			return
		}
		ui.Infof("%s: device 0x%08x (controller 0x%08x)", event, device, ctl)
	}
	srv.LogError = func(device, ctl uint32, err error) {
		if ui.JSON {
			ui.WriteJSON(map[string]any{"event": "error", "device_id": hexID(device), "controller_id": hexID(ctl), "error": err.Error(), "time": time.Now().UTC().Format(time.RFC3339)})
			return
		}
		ui.Warnf("device 0x%08x (controller 0x%08x): %v", device, ctl, err)
	}
	conn, err := net.ListenPacket("udp", listen)
	if err != nil {
		return linkError(fmt.Errorf("bootstrap serve: %w", err), "choose another --listen address or port")
	}
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if ui.JSON {
		ui.WriteJSON(map[string]any{"event": "listening", "addr": conn.LocalAddr().String(), "controllers": len(ctls)})
	} else {
		ui.Infof("listening on udp %s for %d controller(s); repository %s", conn.LocalAddr(), len(ctls), repoPath)
	}
	if err := srv.Serve(ctx, conn); err != nil {
		return linkError(fmt.Errorf("bootstrap serve: %w", err), "")
	}
	stats := srv.Stats.Snapshot()
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"event": "stopped", "stats": stats})
	}
	ui.Infof("stopped: %d joins, %d commits, %d errors sent, %d dropped", stats["joins"], stats["commits"], stats["errors"],
		stats["drop_malformed"]+stats["drop_unknown_controller"]+stats["drop_auth"]+stats["drop_stale"]+stats["drop_replay"]+stats["drop_unknown_tid"]+stats["drop_wrong_device"])
	return nil
}

// ---- join ----

func bootstrapJoinCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "join",
		Usage: "re-key a device from its label (the controller, SBR): flights 2 to 7",
		Description: "Reads the device's label (--label TEXT, --label-image FILE, or the payload on\n" +
			"standard input), asks the server for the device's key, re-keys the device over\n" +
			"its serial port (--port: the management channel; the first join should be\n" +
			"over serial, docs/bootstrap.md) or UDP (--device-udp) and has the server commit\n" +
			"the device's proof. With -o, writes\n" +
			"the device identity (id and the new PSK as its master key, mode 0600) that\n" +
			"'grant sign' and 'provision' use; 'esp sa new' and 'grant sign' also take the\n" +
			"key from the repository (--repo FILE --device-id ID). Exit status 4 when the device or the server refuses\n" +
			"(wrong key, another device's label), 3 when one of them does not answer.\n\n" +
			"   mstool bootstrap join --controller ctl.key --server 10.0.0.1:7447 \\\n" +
			"       --device-udp 10.0.0.2:7448 --label-image photo.png -o dev.id",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "controller", Usage: "this controller's key `FILE` ('bootstrap controller')"},
			&cli.StringFlag{Name: "server", Value: defaultServerAddr, Usage: "the server's UDP `ADDR:PORT`"},
			&cli.StringFlag{Name: "device-udp", Usage: fmt.Sprintf("the device's UDP `ADDR[:PORT]` (port %d when omitted)", defaultDevicePort)},
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "the device's serial `PORT` (the management channel)"},
			&cli.StringFlag{Name: "label", Usage: "the label payload `TEXT` (MSB1:...)"},
			&cli.StringFlag{Name: "label-image", Usage: "a photo or scan of the label, PNG or JPEG `FILE`"},
			outputFlag("write the device identity (mode 0600) to `FILE`"),
			&cli.DurationFlag{Name: "timeout", Value: 500 * time.Millisecond, Usage: "wait `DURATION` for each answer before sending again"},
			&cli.IntFlag{Name: "tries", Value: 6, Usage: "send each flight at most `N` times"},
		}, resetFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool bootstrap join --help' for usage", "bootstrap join: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "controller"); err != nil {
				return err
			}
			if c.IsSet("port") == c.IsSet("device-udp") {
				return usageErrorf("give the device's serial port (--port) or its UDP address (--device-udp)", "bootstrap join: give one of --port and --device-udp")
			}
			if c.IsSet("label") && c.IsSet("label-image") {
				return usageErrorf("give the payload or an image of the label, not both", "bootstrap join: --label and --label-image exclude each other")
			}
			if c.Int("tries") < 1 || c.Duration("timeout") <= 0 {
				return usageErrorf("", "bootstrap join: --tries and --timeout must be positive")
			}
			l, err := readLabel(ui, c.String("label"), c.String("label-image"), c.IsSet("label"))
			if err != nil {
				return err
			}
			link := joinLink{port: c.String("port")}
			if link.port != "" {
				if link.reset, err = resetMode(c); err != nil {
					return err
				}
			} else {
				link.udp = c.String("device-udp")
				if _, _, err := net.SplitHostPort(link.udp); err != nil {
					link.udp = net.JoinHostPort(link.udp, strconv.Itoa(defaultDevicePort))
				}
			}
			return runJoin(ui, c.String("controller"), c.String("server"), link, l, c.String("output"), c.Duration("timeout"), c.Int("tries"))
		},
	}
}

func readLabel(ui *UI, text, image string, textSet bool) (bootstrap.Label, error) {
	var l bootstrap.Label
	var err error
	switch {
	case image != "":
		var f *os.File
		if f, err = os.Open(image); err != nil {
			return l, failf("check the path", "bootstrap join: %v", err)
		}
		defer f.Close()
		l, err = bootstrap.DecodeLabelImage(f)
	case textSet:
		l, err = bootstrap.ParseLabel(text)
	default:
		in, serr := ui.stdin("the label")
		if serr != nil {
			return l, serr
		}
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			// Without a prompt the command looks hung.
			fmt.Fprint(ui.Err, "label (the text under the QR code, MSB1:...): ")
		}
		line, _ := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
		if strings.TrimSpace(line) == "" {
			return l, usageErrorf("give --label TEXT or --label-image FILE, or the label's text on standard input", "bootstrap join: no label given")
		}
		l, err = bootstrap.ParseLabel(line)
	}
	if err != nil {
		return l, failf("type the payload under the QR code again (MSB1:ID:RN:CHECK), or scan the label", "bootstrap join: %v", err)
	}
	return l, nil
}

type joinReport struct {
	DeviceID string `json:"device_id"` // 0x%08x
	TID      string `json:"tid"`
	Base     int    `json:"base"`
	Bases    int    `json:"bases"`
	Identity string `json:"identity,omitempty"`
}

// joinLink is the device link of a join: a serial port (the management
// channel) or a UDP address.
type joinLink struct {
	port  string
	reset device.Reset
	udp   string
}

func (j joinLink) flag() string {
	if j.port != "" {
		return "--port"
	}
	return "--device-udp"
}

func runJoin(ui *UI, ctlPath, server string, link joinLink, l bootstrap.Label, out string, timeout time.Duration, tries int) error {
	data, err := ui.readSecret("--controller", ctlPath)
	if err != nil {
		return err
	}
	ctls, err := bootstrap.ParseControllers(data)
	if err != nil || len(ctls) != 1 {
		if err == nil {
			err = errors.New("holds more than one controller")
		}
		return failf("give the file 'mstool bootstrap controller' wrote", "bootstrap join: %s: %v", ctlPath, err)
	}
	if out != "" && !isStdio(out) {
		if _, err := os.Lstat(out); err == nil {
			return failf("choose another name: the new key must not be lost", "%s already exists; refusing to overwrite a key file", out)
		}
	}
	sconn, err := net.Dial("udp", server)
	if err != nil {
		return linkError(fmt.Errorf("bootstrap join: server %s: %w", server, err), "check --server")
	}
	defer sconn.Close()
	var dconn net.Conn
	if link.port != "" {
		d, err := device.Open(link.port, &device.Options{Reset: link.reset})
		if err != nil {
			return deviceError(err, link.port)
		}
		defer d.Close()
		dconn = bootstrap.RequestConn(d)
	} else {
		if dconn, err = net.Dial("udp", link.udp); err != nil {
			return linkError(fmt.Errorf("bootstrap join: device %s: %w", link.udp, err), "check --device-udp")
		}
		defer dconn.Close()
	}
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := &bootstrap.JoinConfig{Controller: ctls[0], Server: sconn, Device: dconn, Timeout: timeout, Tries: tries,
		Progress: func(f int) { ui.Debugf("flight %d done", f) }}
	res, err := bootstrap.Join(ctx, cfg, l)
	if res != nil && out != "" {
		// The device holds the new key whatever the server said: keep it.
		ident := &devkey.Identity{ID: res.Device, MasterKey: res.PSK}
		if werr := ui.writeSecret(out, ident.Marshal()); werr != nil {
			return werr
		}
	}
	if err != nil {
		var te *bootstrap.TimeoutError
		var ne *bootstrap.NAKError
		var se *bootstrap.ServerError
		switch {
		case errors.As(err, &te) && te.Peer == "server":
			return linkError(err, "check --server, that 'bootstrap serve' runs and that it has this controller's key (a wrong key gets no answer)")
		case errors.As(err, &te):
			return linkError(err, "check "+link.flag()+" and that the device's firmware answers bootstrap flights (CONFIG_BOOTSTRAP)")
		case errors.As(err, &ne) && ne.Code == bootstrap.NAKNotMine:
			return authError(err, "the label belongs to another device than the one at "+link.flag())
		case errors.As(err, &ne):
			return authError(err, "the device holds a key the server does not know (enrolled elsewhere?); re-enrol it")
		case errors.As(err, &se) && se.Code == bootstrap.CodeUnknownDevice:
			return authError(err, "enrol the device first: 'mstool bootstrap enrol'")
		case errors.As(err, &se):
			return authError(err, "")
		}
		return failf("", "%v", err)
	}
	r := joinReport{DeviceID: hexID(res.Device), TID: hex.EncodeToString(res.TID[:]), Base: res.Base, Bases: res.Bases}
	if !isStdio(out) {
		r.Identity = out
	}
	if ui.JSON {
		if isStdio(out) {
			return nil
		}
		return ui.WriteJSON(r)
	}
	if isStdio(out) {
		return nil
	}
	rows := [][2]string{
		{"device-id", r.DeviceID},
		{"status", "re-keyed; the server committed the new key"},
		{"transaction", r.TID},
	}
	if r.Identity != "" {
		rows = append(rows, [2]string{"identity", r.Identity})
	}
	ui.KeyValues(rows)
	return nil
}

// ---- the repository as a source of device keys ----

// repoFlags are --repo and --device-id of the commands that can take a
// device's key from the bootstrap repository ('esp sa new', 'grant sign').
func repoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "repo", Usage: "take the device's key from the bootstrap repository `FILE` ('bootstrap serve'; with --device-id)"},
		&cli.StringFlag{Name: "device-id", Usage: "with --repo: the device `ID` (decimal or 0x-hex)"},
	}
}

// repoIdentity is the identity of --device-id in the repository of
// --repo: its id and, as the master key, the key it last proved to the
// server (the PSK of its last join). ok is false when --repo is not
// given. Warnings: a device that never joined still holds the installer's
// IK; one with unconfirmed joins may hold one of their keys instead.
// claimRepoSAs records in the repository that the SAs of the device's
// current join are handed out, and refuses a second time: two SA files
// with the same keys would each start their sequence numbers over, and
// AES-CCM would see its nonces again. It returns the key the claim is
// for, read in the same locked step: the SAs must derive from it, not
// from a key read before (a join that commits in between would have this
// claim mark the new key's SAs issued while the file gets the old key's,
// issued already).
func claimRepoSAs(c *cli.Context, id uint32) ([bootstrap.KeySize]byte, error) {
	path := c.String("repo")
	repo, err := bootstrap.OpenRepository(path)
	if err != nil {
		return [bootstrap.KeySize]byte{}, fileError(err, path, "")
	}
	e, err := repo.ClaimSAs(id)
	if errors.Is(err, bootstrap.ErrSAsIssued) {
		return e.Key, failf("use the SA file made for this join (with its .state), or join the device again for fresh keys ('mstool bootstrap join')",
			"esp sa new: the SAs of device 0x%08x's current join were already issued: a second file would reuse their nonces", id)
	} else if err != nil {
		return e.Key, fileError(err, path, "")
	}
	return e.Key, nil
}

func repoIdentity(ui *UI, c *cli.Context, cmd string) (ident *devkey.Identity, ok bool, err error) {
	path, idText := c.String("repo"), c.String("device-id")
	if path == "" {
		if idText != "" {
			return nil, false, usageErrorf("give the repository too: --repo FILE --device-id ID", "%s: --device-id without --repo", cmd)
		}
		return nil, false, nil
	}
	if c.String("device") != "" {
		return nil, false, usageErrorf("give the identity file or the repository, not both", "%s: --device and --repo exclude each other", cmd)
	}
	if idText == "" {
		return nil, false, usageErrorf("name the device: --repo FILE --device-id ID", "%s: --repo without --device-id", cmd)
	}
	id, err := devkey.ParseID(idText)
	if err != nil || id == 0 {
		return nil, false, usageErrorf("a device id is 1..4294967295, decimal or 0x-hex", "%s: bad --device-id %q", cmd, idText)
	}
	repo, err := bootstrap.OpenRepository(path)
	if err != nil {
		return nil, false, fileError(err, path, "give the repository of 'mstool bootstrap serve'")
	}
	e, err := repo.Get(id)
	if errors.Is(err, bootstrap.ErrUnknownDevice) {
		return nil, false, failf("enrol it with 'mstool bootstrap enrol', or check --device-id", "%s: device 0x%08x is not in %s", cmd, id, path)
	}
	if err != nil {
		return nil, false, fileError(err, path, "")
	}
	if e.Gen == 0 {
		ui.Warnf("device 0x%08x has not joined yet: its key is still the initial key IK (the installer knows it); run 'mstool bootstrap join' first", id)
	}
	if len(e.Pending) > 0 {
		ui.Warnf("device 0x%08x has %d unconfirmed join(s): using the key of its last confirmed join (gen %d); if the device took a newer one, join it again", id, len(e.Pending), e.Gen)
	}
	return &devkey.Identity{ID: id, MasterKey: e.Key}, true, nil
}
