package main

// mstool esp sa state: show and move forward the ESP sequence state kept
// next to an SA file (pkg/seqstate; docs/sa-file.md, "Sequence state").

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/seqstate"
)

const seqStateHint = "the state file is described in docs/sa-file.md (\"Sequence state\")"

func espSAStateCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "show or move forward the sequence state kept next to an SA file",
		ArgsUsage: "FILE",
		Description: "Shows FILE.state, the host's ESP sequence state of SA file FILE: for the\n" +
			"outbound SA the reservation (numbers below it may have been used) and the\n" +
			"number the next session starts at, for the inbound SA the highest number\n" +
			"received. --advance-to N counts every number up to N as used, so that the\n" +
			"next session starts above N: after mstool reports that the device has seen\n" +
			"sequence numbers up to N (a state file restored from a backup, or the SA\n" +
			"file used from another copy). --skip N moves the reservation N numbers\n" +
			"forward. The state only moves forward: a move below the reservation is\n" +
			"refused, and it is not done while a session uses the SA file.",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "advance-to", Usage: "count the outbound numbers up to `N` as used"},
			&cli.Uint64Flag{Name: "skip", Usage: "move the outbound reservation `N` numbers forward"},
		},
		Action: func(c *cli.Context) error {
			args, err := interspersed(ui, c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErrorf("usage: mstool esp sa state FILE [--advance-to N | --skip N]", "esp sa state: want one SA file, got %d arguments", len(args))
			}
			to, skip := c.IsSet("advance-to"), c.IsSet("skip")
			move := seqstate.Move{UpTo: c.Uint64("advance-to"), By: c.Uint64("skip")}
			switch {
			case to && skip:
				return usageErrorf("give one of them", "esp sa state: --advance-to and --skip together")
			case to && move.UpTo == 0, skip && move.By == 0:
				return usageErrorf("sequence numbers start at 1; give a positive number", "esp sa state: nothing to move")
			}
			path := args[0]
			if err := notStdin(c, "FILE", path, "the sequence state is kept in FILE.state next to the SA file"); err != nil {
				return err
			}
			f, err := ui.readSAFile("FILE", path)
			if err != nil {
				return err
			}
			var moved *seqstate.Change
			if to || skip {
				if len(f.Outbound) != 1 {
					return failf("mstool sessions use SA files with one outbound SA ('mstool esp sa new')",
						"esp sa state: %s has %d outbound SAs", path, len(f.Outbound))
				}
				out := f.Outbound[0]
				if !out.ESN {
					move.Limit = 1<<32 - 1
				}
				ch, err := seqstate.Advance(path, out.SPI, move)
				if err != nil {
					return seqStateError(err)
				}
				moved = &ch
			}
			var outSPIs, inSPIs []uint32
			for _, sa := range f.Outbound {
				outSPIs = append(outSPIs, sa.SPI)
			}
			for _, sa := range f.Inbound {
				inSPIs = append(inSPIs, sa.SPI)
			}
			r, err := seqstate.Inspect(path, outSPIs, inSPIs)
			if err != nil {
				return failf(seqStateHint, "%v", err)
			}
			return renderSeqState(ui, path, r, moved)
		},
	}
}

// seqStateError maps errors of seqstate.Advance to CLI errors.
func seqStateError(err error) error {
	var be *seqstate.BackwardsError
	switch {
	case errors.As(err, &be):
		return failf(fmt.Sprintf("the state file already counts numbers up to %d as used; it only moves forward", be.Reserved-1), "%v", err)
	case errors.Is(err, seqstate.ErrInUse):
		return failf("wait for the session on this SA file to end", "%v", err)
	case errors.Is(err, seqstate.ErrExhausted):
		return failf("check the number; to start over, make a fresh SA pair ('mstool esp sa new') and provision the device with it", "%v", err)
	}
	return failf(seqStateHint, "%v", err)
}

// saStateJSON is the --json form of 'esp sa state' (docs/sa-file.md).
type saStateJSON struct {
	SAFile    string             `json:"sa_file"`
	StateFile string             `json:"state_file"`
	Exists    bool               `json:"exists"`
	Outbound  []saStateOutJSON   `json:"outbound"`
	Inbound   []saStateInJSON    `json:"inbound"`
	Advanced  *saStateChangeJSON `json:"advanced,omitempty"`
}

type saStateOutJSON struct {
	SPI         string `json:"spi"`
	Reserved    uint64 `json:"reserved"`
	NextSession uint64 `json:"next_session"`
	InSAFile    bool   `json:"in_sa_file"`
}

type saStateInJSON struct {
	SPI             string `json:"spi"`
	HighestReceived uint64 `json:"highest_received"`
	InSAFile        bool   `json:"in_sa_file"`
}

type saStateChangeJSON struct {
	SPI            string `json:"spi"`
	ReservedBefore uint64 `json:"reserved_before"`
	Reserved       uint64 `json:"reserved"`
	NextSession    uint64 `json:"next_session"`
	Changed        bool   `json:"changed"`
}

// hexID is an id or SPI as the JSON output writes it (docs/json.md).
func hexID(v uint32) string { return fmt.Sprintf("0x%08x", v) }

func renderSeqState(ui *UI, saPath string, r *seqstate.Report, moved *seqstate.Change) error {
	if moved != nil {
		a := moved.After
		if moved.Changed() {
			ui.Infof("outbound SA %s: numbers up to %d now count as used (reservation %d → %d); the next session starts at %d",
				hexID(a.SPI), a.Reserved-1, moved.Before.Reserved, a.Reserved, a.NextSession)
		} else {
			ui.Infof("outbound SA %s: unchanged, numbers up to %d already count as used; the next session starts at %d",
				hexID(a.SPI), a.Reserved-1, a.NextSession)
		}
	}
	for _, o := range r.Outbound {
		if !o.InSAFile {
			ui.Warnf("%s holds outbound SA %s, which %s does not have", r.Path, hexID(o.SPI), saPath)
		}
	}
	for _, in := range r.Inbound {
		if !in.InSAFile {
			ui.Warnf("%s holds inbound SA %s, which %s does not have", r.Path, hexID(in.SPI), saPath)
		}
	}
	if ui.JSON {
		j := saStateJSON{SAFile: saPath, StateFile: r.Path, Exists: r.Exists, Outbound: []saStateOutJSON{}, Inbound: []saStateInJSON{}}
		for _, o := range r.Outbound {
			j.Outbound = append(j.Outbound, saStateOutJSON{SPI: hexID(o.SPI), Reserved: o.Reserved, NextSession: o.NextSession, InSAFile: o.InSAFile})
		}
		for _, in := range r.Inbound {
			j.Inbound = append(j.Inbound, saStateInJSON{SPI: hexID(in.SPI), HighestReceived: in.Highest, InSAFile: in.InSAFile})
		}
		if moved != nil {
			j.Advanced = &saStateChangeJSON{SPI: hexID(moved.After.SPI), ReservedBefore: moved.Before.Reserved,
				Reserved: moved.After.Reserved, NextSession: moved.After.NextSession, Changed: moved.Changed()}
		}
		return ui.WriteJSON(j)
	}
	if r.Exists {
		ui.Printf("state file: %s\n", r.Path)
	} else {
		ui.Printf("state file: %s (none yet: no session has used %s)\n", r.Path, saPath)
	}
	var rows [][]string
	for _, o := range r.Outbound {
		reserved := "-"
		if o.Reserved > 0 {
			reserved = strconv.FormatUint(o.Reserved, 10)
		}
		rows = append(rows, []string{"outbound", hexID(o.SPI), reserved, strconv.FormatUint(o.NextSession, 10), "-"})
	}
	for _, in := range r.Inbound {
		rows = append(rows, []string{"inbound", hexID(in.SPI), "-", "-", strconv.FormatUint(in.Highest, 10)})
	}
	ui.Table([]string{"direction", "spi", "reserved", "next session", "highest received"}, rows)
	return nil
}
