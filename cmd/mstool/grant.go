package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/mstool/mstool/pkg/tasks"
	"github.com/urfave/cli/v2"
)

// clockSkew is how far in the future a grant's issued_at may be before the
// host-side check calls it not yet valid (the signer's clock may run ahead).
const clockSkew = 5 * time.Minute

func grantCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "grant",
		Usage: "MSSL access grants: which host may run which tasks on which device (docs/grant.md)",
		Description: "A grant is a fixed-layout binary record signed by the owner's RSA key (PKCS#1 v1.5,\n" +
			"SHA-256). It names a device or a device group, binds a host by IPv4 and/or MAC\n" +
			"address, lists the permitted tasks and carries a per-grant host key sealed under\n" +
			"the device's key. The grant is public; the host key file that comes with it is\n" +
			"secret and belongs to the host only.\n\n" +
			"Tasks: " + strings.Join(tasks.BuiltinNames(), ", ") + "; the application's tasks\n" +
			"(bits 16..31) by the names of --task-map FILE (docs/tasks.md), or as bitN.",
		Subcommands: []*cli.Command{
			{
				Name:      "sign",
				Usage:     "sign an access grant: writes NAME.grant (public) and NAME.hostkey (secret, mode 0600)",
				ArgsUsage: " ",
				Description: "A bootstrapped device's key can come from the bootstrap repository instead of\n" +
					"an identity file: --repo devices.repo --device-id 0x2a (the PSK of its last\n" +
					"join; docs/bootstrap.md).\n\n" +
					"Tasks: " + strings.Join(tasks.BuiltinNames(), ", ") + ", the application's tasks\n" +
					"named by --task-map FILE (or bitN, N in 16..31), or all (built-in and mapped).\n" +
					"Existing files are never overwritten.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "the owner's private signing key `FILE` (PEM, mode 0600; required)"},
					&cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "the device identity `FILE` (from 'mstool keygen device'; required unless --repo)"},
					repoFlags()[0], repoFlags()[1],
					&cli.BoolFlag{Name: "group", Usage: "grant for the device's whole group (sealed under the group key)"},
					hostIPFlag("bind the grant to the host's IPv4 `ADDRESS`"),
					&cli.StringFlag{Name: "host-mac", Usage: "bind the grant to the host's MAC `ADDRESS` (aa:bb:cc:dd:ee:ff)"},
					&cli.StringFlag{Name: "tasks", Aliases: []string{"t"}, Usage: "comma-separated `TASKS` the host may run, or all (required)"},
					&cli.StringFlag{Name: "serial", Aliases: []string{"s"}, Usage: "the grant's serial `NUMBER` (0..4294967295; devices reject serials below their revocation floor; required)"},
					&cli.DurationFlag{Name: "valid-for", Usage: "validity `DURATION` from now (e.g. 720h)"},
					&cli.StringFlag{Name: "not-after", Usage: "last valid `TIME` (RFC 3339, e.g. 2027-01-01T00:00:00Z)"},
					&cli.StringFlag{Name: "now", Usage: "issue the grant at `TIME` (RFC 3339) instead of the current time"},
					outputFlag("write `NAME`.grant and NAME.hostkey (required)"),
				},
				Action: func(c *cli.Context) error { return grantSign(ui, c) },
			},
			{
				Name:      "verify",
				Usage:     "verify a grant; exit status 4 with the reason when it is not valid",
				ArgsUsage: "GRANT",
				Description: "Checks the issuer and the signature, then, as far as the options allow, the\n" +
					"target device and the sealed host key (--device), the host key (--host-key),\n" +
					"the revocation floor (--floor), the device's time floor (--time-floor), the\n" +
					"host's address (--host-ip, --host-mac), a task (--task), and the expiry\n" +
					"against the current time (or --now). GRANT may be - for standard input.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "issuer", Usage: "the owner's public key `FILE` (PEM; a private key file works too; required)"},
					&cli.StringFlag{Name: "device", Aliases: []string{"d"}, Usage: "check the target and open the sealed host key with the device identity `FILE`"},
					&cli.StringFlag{Name: "host-key", Usage: "check that the host key `FILE` (NAME.hostkey) is the one sealed in the grant (needs --device)"},
					&cli.StringFlag{Name: "floor", Aliases: []string{"serial-floor"}, Usage: "revocation floor `N`: serials below it are revoked"},
					&cli.StringFlag{Name: "time-floor", Usage: "the device's time floor `TIME` (RFC 3339 or unix seconds)"},
					hostIPFlag("the presenting host's IPv4 `ADDRESS`"),
					&cli.StringFlag{Name: "host-mac", Usage: "the presenting host's MAC `ADDRESS`"},
					&cli.StringFlag{Name: "task", Usage: "require the grant to permit `TASK`"},
					&cli.StringFlag{Name: "now", Usage: "check expiry at `TIME` (RFC 3339) instead of the current time"},
				},
				Action: func(c *cli.Context) error { return grantVerify(ui, c) },
			},
			{
				Name:      "inspect",
				Usage:     "show a grant's fields (does not verify it)",
				ArgsUsage: "GRANT",
				Action:    func(c *cli.Context) error { return grantInspect(ui, c) },
			},
			grantRevokeCommand(ui),
		},
	}
}

// grantPaths returns NAME.grant and NAME.hostkey for -o NAME (a trailing
// .grant is accepted and not doubled).
func grantPaths(out string) (string, string) {
	base := strings.TrimSuffix(out, ".grant")
	return base + ".grant", base + ".hostkey"
}

func grantSign(ui *UI, c *cli.Context) error {
	if c.Bool("json") {
		ui.JSON = true
	}
	if c.NArg() > 0 {
		return usageErrorf("run 'mstool grant sign --help' for usage", "grant sign: unexpected argument %q", c.Args().First())
	}
	need := []string{"key", "device", "tasks", "serial", "output"}
	if c.String("repo") != "" {
		need = append(need[:1], need[2:]...)
	}
	if err := requireFlags(c, need...); err != nil {
		return err
	}
	if c.String("repo") != "" && c.Bool("group") {
		return usageErrorf("the repository holds device keys, not group keys: give the identity file (--device)", "grant sign: --group with --repo")
	}
	if err := notStdout(c, "-o", c.String("output"), "it names two files, NAME.grant and NAME.hostkey"); err != nil {
		return err
	}
	req := grant.Request{Group: c.Bool("group")}
	var err error
	if req.HostIP, req.HostMAC, err = hostFlags(c); err != nil {
		return err
	}
	if !req.HostIP.IsValid() && req.HostMAC == nil {
		return usageErrorf("a grant binds its host: give --host-ip, --host-mac or both", "grant sign: no host address")
	}
	if req.Tasks, err = ui.tasks.Map.ParseTasks(c.String("tasks")); err != nil {
		hint := ""
		if ui.tasks.Map == nil {
			hint = "the application's own tasks (16..31) by the names of --task-map FILE, or as bitN (docs/tasks.md)"
		}
		return usageErrorf(hint, "grant sign: --tasks: %v", strings.TrimPrefix(err.Error(), "grant: "))
	}
	serial, err := strconv.ParseUint(c.String("serial"), 0, 32)
	if err != nil {
		return usageErrorf("a serial is 0..4294967295, decimal or 0x-hex", "grant sign: bad --serial %q", c.String("serial"))
	}
	req.Serial = uint32(serial)
	req.IssuedAt = time.Now().Truncate(time.Second)
	if s := c.String("now"); s != "" {
		if req.IssuedAt, err = parseTimeFlag("now", s); err != nil {
			return err
		}
	}
	switch validFor, notAfter := c.Duration("valid-for"), c.String("not-after"); {
	case c.IsSet("valid-for") && notAfter != "":
		return usageErrorf("give one of them", "grant sign: --valid-for and --not-after exclude each other")
	case c.IsSet("valid-for"):
		if validFor <= 0 {
			return usageErrorf("e.g. --valid-for 720h", "grant sign: --valid-for must be positive")
		}
		// not_after is the last valid second.
		req.NotAfter = req.IssuedAt.Add(validFor.Truncate(time.Second) - time.Second)
	case notAfter != "":
		if req.NotAfter, err = parseTimeFlag("not-after", notAfter); err != nil {
			return err
		}
	default:
		return usageErrorf("give --valid-for DURATION (e.g. 720h) or --not-after TIME", "grant sign: the grant needs a validity")
	}

	grantPath, hostKeyPath := grantPaths(c.String("output"))
	for _, p := range []string{grantPath, hostKeyPath} {
		if _, err := os.Lstat(p); err == nil {
			return failf("choose another -o NAME, or remove the old files yourself if you really mean to replace them",
				"%s already exists; refusing to overwrite it", p)
		}
	}
	key, err := ui.readOwnerKey("--key", c.String("key"))
	if err != nil {
		return err
	}
	var fromRepo bool
	if req.Device, fromRepo, err = repoIdentity(ui, c, "grant sign"); err != nil {
		return err
	}
	if !fromRepo {
		if req.Device, err = ui.readIdentity("--device", c.String("device")); err != nil {
			return err
		}
	}
	if req.Group && !req.Device.HasGroup {
		return failf("make group members with 'mstool keygen device --group-id' or '--group-from'",
			"grant sign: --group, but the identity in %s belongs to no group", inName(c.String("device")))
	}
	if signkey.Weak(key.N.BitLen()) {
		ui.Warnf("signing with RSA-%d, which is weak by today's standards", key.N.BitLen())
	}
	g, hostKey, err := grant.Sign(rand.Reader, key, req)
	if err != nil {
		return failf("", "%v", err)
	}
	defer clear(hostKey[:])
	parsed, err := grant.Parse(g)
	if err != nil {
		return withCode(exitInternal, err, "")
	}
	comment := fmt.Sprintf("grant %s: serial %d, %s, host %s", grantPath, parsed.Serial, targetString(parsed), hostString(parsed))
	if err := writeSecretFile(hostKeyPath, grant.MarshalHostKey(hostKey, comment)); err != nil {
		return err
	}
	if err := keyfile.WriteNew(grantPath, g, 0o644); err != nil {
		os.Remove(hostKeyPath) // we just made it; do not leave a host key without its grant
		if errors.Is(err, keyfile.ErrExists) {
			return failf("choose another -o NAME", "%s already exists; refusing to overwrite it", grantPath)
		}
		return writeError(err, grantPath)
	}
	ui.Infof("wrote %s (%d bytes, public) for %s, host %s, tasks %s, valid until %s",
		grantPath, len(g), targetString(parsed), hostString(parsed), taskList(ui, parsed.Tasks), parsed.NotAfterTime().Format(time.RFC3339))
	ui.Infof("wrote %s (secret: give it only to the host the grant names)", hostKeyPath)
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"grant_file": grantPath, "host_key_file": hostKeyPath, "grant": toGrantJSON(parsed, ui.tasks.Map)})
	}
	return nil
}

func hostFlags(c *cli.Context) (netip.Addr, net.HardwareAddr, error) {
	var ip netip.Addr
	var mac net.HardwareAddr
	if s := c.String("host-ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Unmap().Is4() {
			return ip, nil, usageErrorf("an IPv4 address such as 10.0.0.2", "%s: bad --host-ip %q", c.Command.Name, s)
		}
		ip = a.Unmap()
	}
	if s := c.String("host-mac"); s != "" {
		m, err := net.ParseMAC(s)
		if err != nil || len(m) != 6 {
			return ip, nil, usageErrorf("a MAC address such as 02:00:5e:00:00:01", "%s: bad --host-mac %q", c.Command.Name, s)
		}
		mac = m
	}
	return ip, mac, nil
}

func parseTimeFlag(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, usageErrorf("use RFC 3339, e.g. 2027-01-01T00:00:00Z", "bad --%s %q", name, s)
	}
	return t, nil
}

// readIssuer reads the owner's public key; a private key file is accepted
// but then read with the permission checks of any secret.
func (ui *UI) readIssuer(what, path string) (*rsa.PublicKey, error) {
	data, err := ui.readFile(what, path)
	if err != nil {
		if isCLIError(err) {
			return nil, err
		}
		return nil, failf("check the path", "cannot read issuer key: %v", err)
	}
	if b, _ := pem.Decode(data); b != nil && strings.Contains(b.Type, "PRIVATE") && !isStdio(path) {
		if data, err = ui.readSecret(what, path); err != nil {
			return nil, err
		}
	}
	pub, err := signkey.ParsePublicPEM(data)
	if err != nil {
		return nil, failf("give the owner's public key (PEM), e.g. from 'mstool keygen -y owner.pem'", "%s: %v", inName(path), err)
	}
	return pub, nil
}

func (ui *UI) readGrantFile(what, path string) ([]byte, error) {
	data, err := ui.readFile(what, path)
	if err != nil {
		if isCLIError(err) {
			return nil, err
		}
		return nil, failf("check the path", "cannot read grant: %v", err)
	}
	return data, nil
}

func grantArg(ui *UI, c *cli.Context) (string, error) {
	var args []string
	globals := false
	rest := c.Args().Slice()
	for i := 0; i < len(rest); i++ {
		// The global flags may follow FILE ("mstool grant inspect FILE
		// --json -q", docs/cli.md), as well as precede it; the command's
		// own options go before it (below).
		name, value, hasValue := strings.Cut(strings.TrimLeft(rest[i], "-"), "=")
		if !strings.HasPrefix(rest[i], "-") || len(rest[i]) < 2 {
			args = append(args, rest[i])
			continue
		}
		switch name {
		case "json", "quiet", "q", "verbose", "v":
			if !hasValue {
				value = "true"
			}
		case "format", "task-map":
			if !hasValue {
				if i+1 == len(rest) {
					return "", usageErrorf(fmt.Sprintf("run 'mstool grant %s --help' for usage", c.Command.Name), "grant %s: flag needs an argument: --%s", c.Command.Name, name)
				}
				i++
				value = rest[i]
			}
		default:
			args = append(args, rest[i])
			continue
		}
		if err := c.Set(name, value); err != nil {
			return "", usageErrorf(fmt.Sprintf("run 'mstool grant %s --help' for usage", c.Command.Name), "grant %s: bad value %q for --%s", c.Command.Name, value, name)
		}
		globals = true
	}
	if globals {
		if err := applyGlobalFlags(ui, c); err != nil {
			return "", err
		}
	}
	usage := fmt.Sprintf("run 'mstool grant %s --help' for usage", c.Command.Name)
	for _, a := range args[min(1, len(args)):] {
		if strings.HasPrefix(a, "-") {
			return "", usageErrorf("options go before the grant file: "+usage, "grant %s: option %s after the grant file", c.Command.Name, a)
		}
	}
	if len(args) != 1 {
		return "", usageErrorf(usage, "grant %s: give exactly one grant file", c.Command.Name)
	}
	return args[0], nil
}

// reasonHints tell the user what to do about each rejection.
var reasonHints = map[grant.Reason]string{
	grant.ReasonMalformed:    "the file is not an intact mstool grant: was it truncated or copied in text mode?",
	grant.ReasonWrongIssuer:  "verify with the public key of the owner key that signed the grant",
	grant.ReasonBadSignature: "the grant was modified after signing, or signed by another key: get a fresh copy",
	grant.ReasonWrongDevice:  "the grant names another device or group: sign one for this device",
	grant.ReasonSeal:         "the device identity does not match the one the grant was signed for",
	grant.ReasonWrongHostKey: "use the NAME.hostkey file written together with this grant",
	grant.ReasonWrongHost:    "the grant binds another host address: sign one for this host",
	grant.ReasonRevoked:      "its serial is below the revocation floor: sign a new grant with a higher serial",
	grant.ReasonExpired:      "sign a new grant",
	grant.ReasonNotYetValid:  "check the clocks of the signing machine and this one",
	grant.ReasonTaskDenied:   "sign a grant that includes the task",
}

func grantVerify(ui *UI, c *cli.Context) error {
	if c.Bool("json") {
		ui.JSON = true
	}
	path, err := grantArg(ui, c)
	if err != nil {
		return err
	}
	if err := requireFlags(c, "issuer"); err != nil {
		return err
	}
	if c.String("host-key") != "" && c.String("device") == "" {
		return usageErrorf("the host key is checked by opening the seal with the device's key", "grant verify: --host-key needs --device")
	}
	opts := grant.VerifyOptions{Now: time.Now(), Skew: clockSkew}
	if s := c.String("now"); s != "" {
		if opts.Now, err = parseTimeFlag("now", s); err != nil {
			return err
		}
		opts.Skew = 0
	}
	if s := c.String("floor"); s != "" {
		v, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return usageErrorf("a serial is 0..4294967295", "grant verify: bad --floor %q", s)
		}
		opts.SerialFloor = uint32(v)
	}
	if s := c.String("time-floor"); s != "" {
		if v, err := strconv.ParseUint(s, 10, 32); err == nil {
			opts.TimeFloor = uint32(v)
		} else {
			t, err := parseTimeFlag("time-floor", s)
			if err != nil {
				return err
			}
			if t.Unix() < 0 || t.Unix() > 1<<32-1 {
				return usageErrorf("", "grant verify: --time-floor out of range")
			}
			opts.TimeFloor = uint32(t.Unix())
		}
	}
	if opts.HostIP, opts.HostMAC, err = hostFlags(c); err != nil {
		return err
	}
	if s := c.String("task"); s != "" {
		task, ok := ui.tasks.Map.Lookup(s)
		if !ok {
			return usageErrorf("valid tasks: "+strings.Join(ui.tasks.Names(), ", "), "grant verify: unknown task %q", s)
		}
		opts.Task = &task
		opts.TaskMap = ui.tasks.Map
	}
	data, err := ui.readGrantFile("GRANT", path)
	if err != nil {
		return err
	}
	if opts.Issuer, err = ui.readIssuer("--issuer", c.String("issuer")); err != nil {
		return err
	}
	if p := c.String("device"); p != "" {
		if opts.Device, err = ui.readIdentity("--device", p); err != nil {
			return err
		}
	}
	if p := c.String("host-key"); p != "" {
		hkData, err := ui.readSecret("--host-key", p)
		if err != nil {
			return err
		}
		hk, err := grant.ParseHostKey(hkData)
		if err != nil {
			return failf("give the NAME.hostkey file 'mstool grant sign' wrote", "%s: %v", inName(p), err)
		}
		opts.HostKey = &hk
	}

	res, err := grant.Verify(data, opts)
	if err != nil {
		reason := grant.ReasonOf(err)
		if reason == "" {
			return failf("", "%v", err)
		}
		if ui.JSON {
			if jerr := ui.WriteJSON(map[string]any{"file": path, "valid": false, "reason": string(reason), "error": err.Error()}); jerr != nil {
				return jerr
			}
		}
		return authError(fmt.Errorf("%s: %w", inName(path), err), reasonHints[reason])
	}
	checked := []string{"issuer", "signature", "expiry"}
	var unchecked []string
	if opts.Device != nil {
		checked = append(checked, "device", "seal")
	} else {
		unchecked = append(unchecked, "device and sealed host key (give --device)")
	}
	if opts.HostKey != nil {
		checked = append(checked, "host-key")
	}
	if opts.SerialFloor > 0 {
		checked = append(checked, "revocation-floor")
	}
	if opts.TimeFloor > 0 {
		checked = append(checked, "time-floor")
	}
	if opts.HostIP.IsValid() || opts.HostMAC != nil {
		checked = append(checked, "host-address")
	}
	if opts.Task != nil {
		checked = append(checked, "task")
	}
	if ui.JSON {
		return ui.WriteJSON(map[string]any{"file": path, "valid": true, "checked": checked, "grant": toGrantJSON(res.Grant, ui.tasks.Map)})
	}
	ui.Printf("grant: valid\n")
	ui.Infof("checked: %s", strings.Join(checked, ", "))
	for _, u := range unchecked {
		ui.Infof("not checked: %s", u)
	}
	return nil
}

func grantInspect(ui *UI, c *cli.Context) error {
	if c.Bool("json") {
		ui.JSON = true
	}
	path, err := grantArg(ui, c)
	if err != nil {
		return err
	}
	data, err := ui.readGrantFile("GRANT", path)
	if err != nil {
		return err
	}
	g, err := grant.Parse(data)
	if err != nil {
		return authError(fmt.Errorf("%s: %w", inName(path), err), reasonHints[grant.ReasonMalformed])
	}
	if ui.JSON {
		return ui.WriteJSON(toGrantJSON(g, ui.tasks.Map))
	}
	ui.KeyValues(grantFields(g, ui.tasks.Map))
	return nil
}

// grantFields are the rows of 'grant inspect'.
func grantFields(g *grant.Grant, m *tasks.Map) [][2]string {
	j := toGrantJSON(g, m)
	orNone := func(s string) string {
		if s == "" {
			return "(not bound)"
		}
		return s
	}
	return [][2]string{
		{"format", fmt.Sprintf("MSSL grant v%d, %d bytes", grant.Version, j.Size)},
		{"target", targetString(g)},
		{"host IPv4", orNone(j.HostIP)},
		{"host MAC", orNone(j.HostMAC)},
		{"tasks", fmt.Sprintf("%s (%s)", strings.Join(j.Tasks, ", "), j.TaskBits)},
		{"serial", strconv.FormatUint(uint64(g.Serial), 10)},
		{"issued at", fmt.Sprintf("%s (%d)", j.IssuedAt, g.IssuedAt)},
		{"not after", fmt.Sprintf("%s (%d)", j.NotAfter, g.NotAfter)},
		{"validity", (g.NotAfterTime().Sub(g.IssuedTime()) + time.Second).String()},
		{"issuer key id", j.IssuerKeyID},
		{"signature", fmt.Sprintf("RSA-%d PKCS#1 v1.5 SHA-256, %d bytes (not checked: use 'mstool grant verify')", j.SignatureBits, len(g.Signature))},
		{"seal", "AES-128-CCM, 8-byte tag, nonce " + j.SealNonce},
		{"sealed host key", j.SealedHostKey},
	}
}

// grantJSON is the stable JSON form of a grant (docs/grant.md).
type grantJSON struct {
	Version       int      `json:"version"`
	Size          int      `json:"size"`
	TargetKind    string   `json:"target_kind"` // "device" or "group"
	TargetID      string   `json:"target_id"`   // "0x%08x"
	HostIP        string   `json:"host_ip,omitempty"`
	HostMAC       string   `json:"host_mac,omitempty"`
	Tasks         []string `json:"tasks"`
	TaskBits      string   `json:"task_bits"` // "0x%08x"
	Serial        uint32   `json:"serial"`
	IssuedAt      string   `json:"issued_at"` // RFC 3339, UTC
	NotAfter      string   `json:"not_after"`
	IssuedAtUnix  uint32   `json:"issued_at_unix"`
	NotAfterUnix  uint32   `json:"not_after_unix"`
	IssuerKeyID   string   `json:"issuer_key_id"` // 16 hex digits
	SignatureBits int      `json:"signature_bits"`
	SealNonce     string   `json:"seal_nonce"`
	SealedHostKey string   `json:"sealed_host_key"` // ciphertext and tag, hex
}

// toGrantJSON describes g, naming its tasks with m (nil: built-ins only).
func toGrantJSON(g *grant.Grant, m *tasks.Map) grantJSON {
	j := grantJSON{
		Version:       grant.Version,
		Size:          grant.BodySize + len(g.Signature),
		TargetKind:    "device",
		TargetID:      fmt.Sprintf("0x%08x", g.Target),
		Tasks:         m.TaskNames(g.Tasks),
		TaskBits:      fmt.Sprintf("0x%08x", uint32(g.Tasks)),
		Serial:        g.Serial,
		IssuedAt:      g.IssuedTime().Format(time.RFC3339),
		NotAfter:      g.NotAfterTime().Format(time.RFC3339),
		IssuedAtUnix:  g.IssuedAt,
		NotAfterUnix:  g.NotAfter,
		IssuerKeyID:   fmt.Sprintf("%x", g.IssuerKeyID),
		SignatureBits: g.SignatureBits(),
		SealNonce:     fmt.Sprintf("%x", g.Nonce),
		SealedHostKey: fmt.Sprintf("%x", g.Sealed),
	}
	if g.Group {
		j.TargetKind = "group"
	}
	if g.HostIP.IsValid() {
		j.HostIP = g.HostIP.String()
	}
	if g.HostMAC != nil {
		j.HostMAC = g.HostMAC.String()
	}
	return j
}

func targetString(g *grant.Grant) string {
	if g.Group {
		return fmt.Sprintf("group 0x%08x", g.Target)
	}
	return fmt.Sprintf("device 0x%08x", g.Target)
}

func hostString(g *grant.Grant) string {
	var parts []string
	if g.HostIP.IsValid() {
		parts = append(parts, g.HostIP.String())
	}
	if g.HostMAC != nil {
		parts = append(parts, g.HostMAC.String())
	}
	return strings.Join(parts, " ")
}
