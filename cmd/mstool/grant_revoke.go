package main

// mstool grant revoke: the owner's signed floor statement (pkg/mssl,
// docs/mssl.md "Revocation"), delivered with 'mstool mssl exec ...
// raise-floor FILE'.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/floorbook"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/signkey"
)

func grantRevokeCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "sign a floor statement that revokes a device's grants below a serial (and expires older ones)",
		ArgsUsage: " ",
		Description: "Writes NAME.floor: the owner's signed order to raise a device's serial floor (every\n" +
			"grant with a lower serial is revoked) and, with --time-floor, its time floor (every\n" +
			"grant whose not_after is earlier expires). Floors only rise, so a statement can be\n" +
			"delivered again harmlessly. Deliver it over any MSSL session with the device:\n\n" +
			"   mstool grant revoke --key owner.pem --device-id 0x2a --serial-floor 5 -o rev5\n" +
			"   mstool mssl exec --grant alice.grant --udp dev:7412 raise-floor rev5.floor",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "the owner's private signing key `FILE` (PEM, mode 0600; required)"},
			&cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "take the device id (or, with --group, its group id) from the identity `FILE`"},
			&cli.StringFlag{Name: "device-id", Usage: "the device `ID` (or group id with --group), e.g. 0x2a"},
			&cli.BoolFlag{Name: "group", Usage: "address every device of the group"},
			&cli.StringFlag{Name: "serial-floor", Aliases: []string{"s"}, Usage: "new serial floor `N`: grants with a lower serial are revoked (required)"},
			&cli.StringFlag{Name: "time-floor", Usage: "new time floor `TIME` (RFC 3339, or 'now'): grants whose not_after is earlier expire"},
			&cli.StringFlag{Name: "now", Usage: "sign at `TIME` (RFC 3339) instead of the current time"},
			outputFlag("write `NAME`.floor (required)"),
		},
		Action: func(c *cli.Context) error { return grantRevoke(ui, c) },
	}
}

func grantRevoke(ui *UI, c *cli.Context) error {
	if c.Bool("json") {
		ui.JSON = true
	}
	if c.NArg() > 0 {
		return usageErrorf("run 'mstool grant revoke --help' for usage", "grant revoke: unexpected argument %q", c.Args().First())
	}
	if err := requireFlags(c, "key", "serial-floor", "output"); err != nil {
		return err
	}
	out := c.String("output")
	if isStdio(out) {
		if err := ui.claimStdout("-o", binaryData); err != nil {
			return err
		}
	}
	req := mssl.FloorRequest{Group: c.Bool("group"), IssuedAt: time.Now().Truncate(time.Second)}
	var err error
	if s := c.String("now"); s != "" {
		if req.IssuedAt, err = parseTimeFlag("now", s); err != nil {
			return err
		}
	}
	n, err := strconv.ParseUint(c.String("serial-floor"), 0, 32)
	if err != nil {
		return usageErrorf("a serial is 0..4294967295, decimal or 0x-hex", "grant revoke: bad --serial-floor %q", c.String("serial-floor"))
	}
	req.SerialFloor = uint32(n)
	switch s := c.String("time-floor"); s {
	case "":
	case "now":
		req.TimeFloor = req.IssuedAt
	default:
		if req.TimeFloor, err = parseTimeFlag("time-floor", s); err != nil {
			return err
		}
	}
	var master *[16]byte // the device MAC's key, for devices without RSA
	switch dev, id := c.String("device"), c.String("device-id"); {
	case dev != "" && id != "":
		return usageErrorf("give one of them", "grant revoke: --device and --device-id exclude each other")
	case id != "":
		if req.Target, err = devkey.ParseID(id); err != nil {
			return usageErrorf("e.g. --device-id 0x2a", "grant revoke: bad --device-id %q", id)
		}
	case dev != "":
		ident, err := ui.readIdentity("--device", dev)
		if err != nil {
			return err
		}
		req.Target = ident.ID
		if req.Group {
			if !ident.HasGroup {
				return failf("", "grant revoke: --group, but the identity in %s belongs to no group", inName(dev))
			}
			req.Target = ident.GroupID
		} else {
			master = &ident.MasterKey
		}
	default:
		return usageErrorf("give --device FILE or --device-id ID", "grant revoke: which device?")
	}
	path := out
	if !isStdio(out) {
		path = strings.TrimSuffix(out, ".floor") + ".floor"
	}
	key, err := ui.readOwnerKey("--key", c.String("key"))
	if err != nil {
		return err
	}
	if signkey.Weak(key.N.BitLen()) {
		ui.Warnf("signing with RSA-%d, which is weak by today's standards", key.N.BitLen())
	}
	st, err := mssl.SignFloor(key, req)
	if err == nil && master != nil {
		// A seal-only device (no RSA) checks this MAC instead of the
		// signature (docs/mssl.md, "Seal-only").
		st, err = mssl.AddFloorMAC(st, *master)
	}
	if err != nil {
		return failf("", "%v", err)
	}
	book, err := floorBook()
	if err != nil {
		return err
	}
	if isStdio(path) {
		err = ui.writeData(st)
	} else if err = keyfile.WriteNew(path, st, 0o644); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return failf("choose another -o NAME", "%s already exists; refusing to overwrite it", path)
		}
		return writeError(err, path)
	}
	if err != nil {
		return err
	}
	rec := floorbook.Floors{Serial: req.SerialFloor}
	if !req.TimeFloor.IsZero() {
		rec.Time = uint32(req.TimeFloor.Unix())
	}
	if _, err := book.Raise(floorbook.Target{Issuer: signkey.KeyID(&key.PublicKey), Group: req.Group, ID: req.Target}, rec); err != nil {
		// No statement without its record: the record is what keeps
		// 'sim' and 'flash' from undoing the revocation later.
		if !isStdio(path) {
			os.Remove(path)
		}
		err = floorRecordError(book, "grant revoke: cannot record the floors", err)
		return failf(hintOf(err), "%v (no statement written)", err)
	}
	kind := "device"
	if req.Group {
		kind = "group"
	}
	deliver := path
	if isStdio(path) {
		deliver = "FILE"
	}
	ui.Infof("wrote %s: %s 0x%08x, serial floor %d; deliver it with 'mstool mssl exec ... raise-floor %s'", outName(path), kind, req.Target, req.SerialFloor, deliver)
	if ui.JSON {
		out := map[string]any{"floor_file": path, "target_kind": kind, "target_id": fmt.Sprintf("0x%08x", req.Target),
			"serial_floor": req.SerialFloor, "signature_bits": key.N.BitLen(), "device_mac": master != nil}
		if !req.TimeFloor.IsZero() {
			out["time_floor"] = req.TimeFloor.UTC().Format(time.RFC3339)
		}
		return ui.WriteJSON(out)
	}
	return nil
}
