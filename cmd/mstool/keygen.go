package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/signkey"
	"github.com/urfave/cli/v2"
)

func keygenCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "generate the owner's signing key, device identities and ESP SA material",
		Description: "Key files are created with mode 0600 and never overwrite an existing file.\n" +
			"The public part of a new key is printed on standard output. With -o -, the key\n" +
			"goes to standard output (never to a terminal) and the public part to standard error.\n" +
			"'mstool keygen -y FILE' prints the public part of an existing key file.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "y", Usage: "print the public part of the private key in `FILE` (owner key or device identity)"},
		},
		Action: func(c *cli.Context) error {
			if c.String("y") == "" {
				if c.NArg() > 0 {
					return commandNotFound(c, c.Args().First())
				}
				return usageErrorf("run 'mstool keygen --help' for the kinds of key", "keygen: say what to generate: owner, device or sa")
			}
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool keygen --help' for usage", "keygen -y takes one file and no other argument")
			}
			return printPublic(ui, c.String("y"))
		},
		Subcommands: []*cli.Command{
			{
				Name:      "owner",
				Usage:     "generate the owner's RSA signing key (signs MSSL grants)",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					outputFlag("write the private key (PKCS#8 PEM, mode 0600) to `FILE`"),
					&cli.IntFlag{Name: "bits", Value: signkey.Bits2048, Usage: "modulus size in `BITS`: 2048, or 1024 for the seed's 8-bit setting (weak)"},
				},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					if err := requireFlags(c, "output"); err != nil {
						return err
					}
					return keygenOwner(ui, c.String("output"), c.Int("bits"))
				},
			},
			{
				Name:      "device",
				Usage:     "generate a device identity: id and AES-128 master key",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					outputFlag("write the identity (mode 0600) to `FILE`"),
					&cli.StringFlag{Name: "id", Usage: "device `ID`, decimal or 0x-hex (default: random)"},
					&cli.StringFlag{Name: "group-id", Usage: "make the device the first of a new group with this `ID` and a fresh group key"},
					&cli.StringFlag{Name: "group-from", Usage: "join the group of the identity in `FILE` (copies its group id and key)"},
				},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					if err := requireFlags(c, "output"); err != nil {
						return err
					}
					return keygenDevice(ui, c.String("output"), c.String("id"), c.String("group-id"), c.String("group-from"))
				},
			},
			keygenSACommand(ui),
		},
	}
}

// noArgs refuses positional arguments where a command takes none, as a
// usage error that names the first (an argument is never ignored).
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf(fmt.Sprintf("run '%s --help' for usage", fullCommand(c)), "%s", prefixed(c, fmt.Sprintf("unexpected argument %q", c.Args().First())))
	}
	return nil
}

func keygenOwner(ui *UI, out string, bits int) error {
	if bits != signkey.Bits1024 && bits != signkey.Bits2048 {
		return usageErrorf("devices verify 2048- and 1024-bit RSA keys", "keygen owner: --bits %d is not supported", bits)
	}
	if err := ui.prepareSecretOutput(out); err != nil {
		return err
	}
	if signkey.Weak(bits) {
		ui.Warnf("RSA-%d is weak by today's standards; use it only where the device cannot afford 2048-bit verification", bits)
	}
	ui.Infof("generating RSA-%d signing key", bits)
	k, err := signkey.Generate(rand.Reader, bits)
	if err != nil {
		return err
	}
	pemPriv, err := signkey.MarshalPrivatePEM(k)
	if err != nil {
		return err
	}
	if err := ui.writeSecret(out, pemPriv); err != nil {
		return err
	}
	pub, err := signkey.MarshalPublicPEM(&k.PublicKey)
	if err != nil {
		return err
	}
	id := signkey.KeyID(&k.PublicKey)
	ui.Infof("wrote %s (key id %x)", outName(out), id)
	if ui.JSON {
		return ui.WriteJSON(map[string]any{
			"kind": "owner", "file": out, "bits": bits, "key_id": fmt.Sprintf("%x", id), "public_key": string(pub),
		})
	}
	ui.Printf("%s", pub)
	return nil
}

func keygenDevice(ui *UI, out, idFlag, groupID, groupFrom string) error {
	var id uint32
	if idFlag != "" {
		v, err := devkey.ParseID(idFlag)
		if err != nil || v == 0 {
			return usageErrorf("a device id is 1..4294967295, decimal or 0x-hex", "keygen device: bad --id %q", idFlag)
		}
		id = v
	}
	if groupID != "" && groupFrom != "" {
		return usageErrorf("--group-id starts a new group, --group-from joins one", "keygen device: --group-id and --group-from exclude each other")
	}
	if err := ui.prepareSecretOutput(out); err != nil {
		return err
	}
	ident, err := devkey.Generate(rand.Reader, id)
	if err != nil {
		return err
	}
	switch {
	case groupID != "":
		g, err := devkey.ParseID(groupID)
		if err != nil {
			return usageErrorf("a group id is decimal or 0x-hex, 32 bits", "keygen device: bad --group-id %q", groupID)
		}
		var key [devkey.KeySize]byte
		if _, err := rand.Read(key[:]); err != nil {
			return err
		}
		ident.SetGroup(g, key)
	case groupFrom != "":
		other, err := ui.readIdentity("--group-from", groupFrom)
		if err != nil {
			return err
		}
		if !other.HasGroup {
			return failf("make the first device with --group-id", "keygen device: %s belongs to no group", inName(groupFrom))
		}
		ident.SetGroup(other.GroupID, other.GroupKey)
	}
	if err := ui.writeSecret(out, ident.Marshal()); err != nil {
		return err
	}
	ui.Infof("wrote %s", outName(out))
	if ui.JSON {
		return ui.WriteJSON(identityJSON(out, ident))
	}
	ui.Printf("%s", ident.Public())
	return nil
}

func identityJSON(file string, ident *devkey.Identity) map[string]any {
	m := map[string]any{"kind": "device", "file": file, "device_id": fmt.Sprintf("0x%08x", ident.ID)}
	if ident.HasGroup {
		m["group_id"] = fmt.Sprintf("0x%08x", ident.GroupID)
	}
	return m
}

// printPublic prints the public part of an owner key or a device identity.
func printPublic(ui *UI, path string) error {
	data, err := ui.readSecret("-y", path)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("mstool-device")) {
		ident, err := devkey.Parse(data)
		if err != nil {
			return failf("", "%s: %v", inName(path), err)
		}
		if ui.JSON {
			return ui.WriteJSON(identityJSON(path, ident))
		}
		ui.Printf("%s", ident.Public())
		return nil
	}
	k, err := signkey.ParsePrivatePEM(data)
	if err != nil {
		return failf("the file should be an owner key (PEM) or a device identity", "%s: %v", inName(path), err)
	}
	pub, err := signkey.MarshalPublicPEM(&k.PublicKey)
	if err != nil {
		return err
	}
	if ui.JSON {
		return ui.WriteJSON(map[string]any{
			"kind": "owner", "file": path, "bits": k.N.BitLen(),
			"key_id": fmt.Sprintf("%x", signkey.KeyID(&k.PublicKey)), "public_key": string(pub),
		})
	}
	ui.Printf("%s", pub)
	return nil
}

// prepareSecretOutput checks, before any key is generated, that out can
// be written: standard output for "-" (not a terminal), else a file that
// does not exist yet (writeSecret checks again atomically).
func (ui *UI) prepareSecretOutput(out string) error {
	if isStdio(out) {
		return ui.claimStdout("-o", secretData)
	}
	return refuseExisting(out)
}

// refuseExisting fails early, before any key is generated, when out
// exists or its directory does not; writeSecret checks again atomically.
func refuseExisting(out string) error {
	if _, err := os.Lstat(out); err == nil {
		return writeSecretFile(out, nil)
	}
	if _, err := os.Stat(filepath.Dir(out)); errors.Is(err, fs.ErrNotExist) {
		return writeError(err, out)
	}
	return nil
}

// writeSecret writes key material to standard output for "-" (claimed by
// prepareSecretOutput), else to a new file with mode 0600, never over one.
func (ui *UI) writeSecret(path string, data []byte) error {
	if isStdio(path) {
		return ui.writeData(data)
	}
	return writeSecretFile(path, data)
}

func writeSecretFile(path string, data []byte) error {
	err := keyfile.WriteNew(path, data, 0o600)
	if errors.Is(err, keyfile.ErrExists) {
		return failf("choose another name, or remove the old file yourself if you really mean to replace it",
			"%s already exists; refusing to overwrite a key file", path)
	}
	if err != nil {
		return writeError(err, path)
	}
	return nil
}

// readSecret reads key material for what (a flag or argument): standard
// input for "-", else a file, refusing files others can read.
func (ui *UI) readSecret(what, path string) ([]byte, error) {
	if isStdio(path) {
		return ui.readStdin(what)
	}
	data, err := keyfile.ReadPrivate(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, failf("check the path", "%s: no such file", path)
	case err != nil:
		return nil, fileError(err, path, "")
	}
	return data, nil
}

func (ui *UI) readIdentity(what, path string) (*devkey.Identity, error) {
	data, err := ui.readSecret(what, path)
	if err != nil {
		return nil, err
	}
	ident, err := devkey.Parse(data)
	if err != nil {
		return nil, failf("make one with 'mstool keygen device -o FILE'", "%s: %v", inName(path), err)
	}
	return ident, nil
}

func (ui *UI) readOwnerKey(what, path string) (*rsa.PrivateKey, error) {
	data, err := ui.readSecret(what, path)
	if err != nil {
		return nil, err
	}
	k, err := signkey.ParsePrivatePEM(data)
	if err != nil {
		return nil, failf("make one with 'mstool keygen owner -o FILE' or 'openssl genpkey -algorithm RSA'", "%s: %v", inName(path), err)
	}
	return k, nil
}
