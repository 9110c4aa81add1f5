package main

// mstool decrypt: ESP in pcap/pcapng captures (pkg/capture).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/safile"
)

// progressMin is the input size from which decrypt draws progress on a
// terminal.
const progressMin = 16 << 20

func decryptCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "decrypt",
		Usage:     "decrypt ESP and MSSL in a pcap/pcapng capture into a plaintext capture",
		ArgsUsage: "IN -o OUT (--sa FILE | --esp-sa FILE | --mssl-keylog FILE)",
		Description: "Reads a pcap or pcapng capture (Ethernet, raw IP, Linux SLL/SLL2 or SLIP) and\n" +
			"writes one of the same format in which every ESP packet that authenticates under\n" +
			"the given SAs is replaced by its decrypted inner packet; every other packet is\n" +
			"copied unchanged. Keys come from an mstool SA file (--sa, both directions are\n" +
			"used) or a Wireshark esp_sa table (--esp-sa). MSSL records (UDP port 7412) of the\n" +
			"sessions in an MSSL key log (--mssl-keylog, written by 'mstool mssl --keylog' or\n" +
			"MSSLKEYLOGFILE) are replaced by their plaintext task messages (docs/mssl.md).\n" +
			"OUT is written atomically and is never overwritten without --force.\n\n" +
			"IN - reads the capture from standard input; -o - writes the decrypted capture to\n" +
			"standard output (not to a terminal), and the summary then to standard error:\n" +
			"   tcpdump -U -w - | mstool decrypt - -o - --sa host.sa | tshark -r -",
		Flags: []cli.Flag{
			outputFlag("write the decrypted capture to `OUT`"),
			&cli.StringFlag{Name: "sa", Usage: "mstool SA `FILE` with the session's keys"},
			&cli.StringFlag{Name: "esp-sa", Usage: "Wireshark esp_sa `FILE` with the session's keys"},
			&cli.StringFlag{Name: "mssl-keylog", Usage: "MSSL key log `FILE` (one line per session; mode 0600)"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it exists"},
		},
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErrorf("usage: mstool decrypt IN -o OUT --sa FILE", "decrypt: want one input capture, got %d arguments", len(args))
			}
			in, outPath := args[0], c.String("output")
			if outPath == "" {
				return usageErrorf("give the output file with -o OUT (or -o - for standard output)", "decrypt: no output file")
			}
			if isStdio(outPath) {
				if err := ui.claimStdout("-o", binaryData); err != nil {
					return err
				}
			}
			keys, err := loadKeys(ui, c.String("sa"), c.String("esp-sa"))
			if err != nil && !(c.String("mssl-keylog") != "" && errors.Is(err, errNoKeys)) {
				return err
			}
			if keys == nil {
				keys = &keySources{}
			}
			if p := c.String("mssl-keylog"); p != "" {
				if keys.mssl, err = loadMSSLKeyLog(ui, p); err != nil {
					return err
				}
			}
			return runDecrypt(ui, in, outPath, c.Bool("force"), keys)
		},
	}
}

// keySources is everything decrypt can use to decrypt: ESP SAs, and the
// MSSL sessions of a key log.
type keySources struct {
	esp  []*esp.SA
	mssl *mssl.Decrypter
}

var errNoKeys = errors.New("decrypt: no keys given")

func loadKeys(ui *UI, saPath, wsPath string) (*keySources, error) {
	if saPath == "" && wsPath == "" {
		return nil, usageErrorf("give --sa FILE (mstool SA file), --esp-sa FILE (Wireshark esp_sa) or --mssl-keylog FILE", "%w", errNoKeys)
	}
	k := &keySources{}
	if saPath != "" {
		f, err := ui.readSAFile("--sa", saPath)
		if err != nil {
			return nil, err
		}
		k.esp = append(k.esp, f.All()...)
	}
	if wsPath != "" {
		data, err := readPrivate(ui, "--esp-sa", wsPath)
		if err != nil {
			return nil, err
		}
		sas, err := safile.ParseWireshark(data)
		if err != nil {
			return nil, failf("the file must be a Wireshark esp_sa table with mstool's suites and 0x-hex keys", "%s: %v", inName(wsPath), err)
		}
		k.esp = append(k.esp, sas...)
	}
	for _, sa := range k.esp {
		if sa.Suite.IsNULL() {
			warnNULL(ui)
			break
		}
	}
	return k, nil
}

// readPrivate reads a secret that is not a key file of mstool's own (a
// Wireshark esp_sa table, a key log), or standard input for "-".
func readPrivate(ui *UI, what, path string) ([]byte, error) {
	if isStdio(path) {
		return ui.readStdin(what)
	}
	data, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, fileError(err, path, "")
	}
	return data, nil
}

// loadMSSLKeyLog reads an MSSL key log (secret: it opens the sessions).
func loadMSSLKeyLog(ui *UI, path string) (*mssl.Decrypter, error) {
	data, err := readPrivate(ui, "--mssl-keylog", path)
	if err != nil {
		return nil, err
	}
	entries, err := mssl.ParseKeyLog(bytes.NewReader(data))
	if err != nil {
		return nil, failf("the file must be an MSSL key log (lines 'MSSL1 <Nd> <Nh> <keys...>')", "%s: %v", inName(path), err)
	}
	if len(entries) == 0 {
		return nil, failf("the key log has no MSSL1 lines: was it written by 'mstool mssl --keylog'?", "%s: no MSSL sessions", inName(path))
	}
	return mssl.NewDecrypter(entries), nil
}

// decryptJSON is the --json summary (docs/sa-file.md documents it).
type decryptJSON struct {
	Input           string `json:"input"`
	Output          string `json:"output"`
	Format          string `json:"format"`
	Packets         uint64 `json:"packets"`
	Decrypted       uint64 `json:"decrypted"`
	FailedICV       uint64 `json:"failed_icv"`
	Replayed        uint64 `json:"replayed"`
	UnknownSPI      uint64 `json:"unknown_spi"`
	Malformed       uint64 `json:"malformed"`
	Dummy           uint64 `json:"dummy"`
	Unrepresentable uint64 `json:"unrepresentable"`
	Other           uint64 `json:"other"`
	MSSLDecrypted   uint64 `json:"mssl_decrypted"`
	MSSLFailed      uint64 `json:"mssl_failed"`
	Truncated       bool   `json:"truncated"`
}

func runDecrypt(ui *UI, inPath, outPath string, force bool, keys *keySources) error {
	in, size, err := openCapture(ui, inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// A pipe or a terminal is a live capture (tcpdump -U -w -): each
	// packet goes out as soon as it is in.
	opts := capture.Options{Size: size, Stream: size == 0 && isStdio(inPath)}
	if keys.mssl != nil {
		opts.MSSL = keys.mssl.CaptureOpener()
	}
	showProgress := ui.errIsTerminal() && !ui.Quiet && size >= progressMin
	if showProgress {
		opts.Progress = func(read, total int64) {
			if total > 0 {
				ui.Progress("decrypting %3d%% (%d/%d MiB)", read*100/total, read>>20, total>>20)
			}
		}
	}
	var st capture.Stats
	decrypt := func(out io.Writer) error {
		var err error
		st, err = capture.DecryptCapture(ctx, in, out, keys.esp, opts)
		if showProgress {
			ui.ProgressDone()
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, context.Canceled):
			if isStdio(outPath) {
				return failf("", "decrypt: interrupted; the capture on standard output is incomplete")
			}
			return failf("", "decrypt: interrupted; %s was not written", outPath)
		case errors.Is(err, capture.ErrFormat):
			return failf("decrypt reads pcap and pcapng files (tcpdump -w, Wireshark, mstool sniff)", "decrypt: %s: %v", inName(inPath), err)
		}
		return failf("", "decrypt: %v", err)
	}
	if isStdio(outPath) {
		// Streamed as it is decrypted (a pipe into tshark, say); after an
		// error, what was written is a cut-off capture and the status says so.
		err = decrypt(ui.std.data)
	} else {
		err = writeAtomically(in, outPath, force, decrypt)
	}
	if err != nil {
		return err
	}

	if st.Truncated {
		ui.Warnf("%s ends in the middle of a packet (a cut-off capture); everything before was decrypted", inName(inPath))
	}
	if ui.JSON {
		if err := ui.WriteJSON(decryptJSON{
			Input: inPath, Output: outPath, Format: st.Format.String(),
			Packets: st.Packets, Decrypted: st.Decrypted, FailedICV: st.FailedICV, Replayed: st.Replayed,
			UnknownSPI: st.UnknownSPI, Malformed: st.Malformed, Dummy: st.Dummy,
			Unrepresentable: st.Unrepresentable, Other: st.Other, Truncated: st.Truncated,
			MSSLDecrypted: st.MSSLDecrypted, MSSLFailed: st.MSSLFailed,
		}); err != nil {
			return err
		}
	} else if !ui.Quiet {
		kv := [][2]string{
			{"input", inName(inPath) + " (" + st.Format.String() + ")"},
			{"output", outName(outPath)},
			{"packets", fmt.Sprint(st.Packets)},
			{"decrypted", fmt.Sprint(st.Decrypted)},
			{"failed ICV", fmt.Sprint(st.FailedICV)},
			{"replayed", fmt.Sprint(st.Replayed)},
			{"unknown SPI", fmt.Sprint(st.UnknownSPI)},
			{"malformed", fmt.Sprint(st.Malformed)},
			{"dummy", fmt.Sprint(st.Dummy)},
			{"unrepresentable", fmt.Sprint(st.Unrepresentable)},
			{"other (not ESP)", fmt.Sprint(st.Other)},
		}
		if keys.mssl != nil {
			kv = append(kv, [2]string{"MSSL decrypted", fmt.Sprint(st.MSSLDecrypted)}, [2]string{"MSSL failed", fmt.Sprint(st.MSSLFailed)})
		}
		ui.KeyValues(kv)
	}
	if keys.mssl != nil && st.MSSLFailed > 0 && st.MSSLDecrypted == 0 {
		return authError(fmt.Errorf("decrypt: no MSSL record opened with the key log (%d records did not)", st.MSSLFailed),
			"the key log does not hold this capture's sessions")
	}
	// Packets that authenticated under a given SA, decrypted or not.
	authenticated := st.Decrypted + st.Dummy + st.Replayed + st.Unrepresentable
	if st.UnknownSPI > 0 && st.FailedICV == 0 && authenticated == 0 && len(keys.esp) > 0 {
		// The usual sign of another link's SA file: its SPIs are not these.
		return authError(fmt.Errorf("decrypt: no ESP packet authenticated (%d have SPIs that no given SA has)", st.UnknownSPI),
			"give the SA file of the link this capture was taken on (mstool esp sa show lists an SA file's SPIs)")
	}
	if st.UnknownSPI > 0 && len(keys.esp) > 0 {
		ui.Warnf("%d ESP packets have SPIs that no given SA has", st.UnknownSPI)
	}
	if st.FailedICV > 0 && authenticated == 0 {
		return authError(fmt.Errorf("decrypt: no ESP packet authenticated (%d failed the ICV check)", st.FailedICV),
			"the SA keys do not match this capture: check the SA file (mstool esp sa show --show-keys)")
	}
	if st.FailedICV > 0 {
		ui.Warnf("%d ESP packets failed the ICV check (tampered, cut off or under other keys); they were copied unchanged", st.FailedICV)
	}
	return nil
}

// openCapture opens the input capture, or standard input for "-", and
// tells its size when it is known (for progress).
func openCapture(ui *UI, path string) (io.ReadCloser, int64, error) {
	if isStdio(path) {
		r, err := ui.stdin("IN")
		if err != nil {
			return nil, 0, err
		}
		var size int64
		if f, ok := r.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				size = fi.Size()
			}
		}
		return io.NopCloser(r), size, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, failf("check the capture's path", "decrypt: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, failf("", "decrypt: %v", err)
	}
	return f, fi.Size(), nil
}

// writeAtomically runs write into a temporary file next to outPath (mode
// 0600: a decrypted capture is as private as the keys that made it) and
// puts it in place only when write succeeds: never over an existing file
// without force, never over the input.
func writeAtomically(in io.Reader, outPath string, force bool, write func(io.Writer) error) error {
	if ofi, err := os.Stat(outPath); err == nil {
		if f, ok := in.(*os.File); ok {
			if ifi, err := f.Stat(); err == nil && os.SameFile(ifi, ofi) {
				return usageErrorf("write the output to another file", "decrypt: input and output are the same file")
			}
		}
		if !force {
			return failf("choose another name, or add --force to replace it", "decrypt: %s already exists", outPath)
		}
		if !ofi.Mode().IsRegular() {
			return failf("", "decrypt: %s is not a regular file", outPath)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(outPath), ".mstool-decrypt-*.tmp")
	if err != nil {
		return writeError(err, outPath)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful rename this is a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return failf("", "decrypt: %v", err)
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return failf("", "decrypt: writing %s: %v", outPath, err)
	}
	if err := tmp.Close(); err != nil {
		return failf("", "decrypt: writing %s: %v", outPath, err)
	}
	if force {
		err = os.Rename(tmpName, outPath)
	} else {
		// Link fails if OUT appeared meanwhile: never overwrite silently.
		err = os.Link(tmpName, outPath)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return failf("choose another name, or add --force to replace it", "decrypt: %s already exists", outPath)
		}
		return failf("", "decrypt: %v", err)
	}
	return nil
}
