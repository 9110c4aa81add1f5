package main

// Flag handling shared by every command.

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// requireFlags reports missing flags as a usage error (exit 2) with a hint,
// where urfave/cli's Required would exit 1 and print help on stdout.
func requireFlags(c *cli.Context, names ...string) error {
	var missing []string
	for _, n := range names {
		if c.String(n) == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return usageErrorf(fmt.Sprintf("run '%s --help' for usage", fullCommand(c)),
		"%s", prefixed(c, "missing "+strings.Join(missing, ", ")))
}

// interspersed returns the positional arguments of c and applies flags
// that follow them ("decrypt IN -o OUT"), which urfave/cli leaves in
// c.Args(). A "--" ends flag parsing.
func interspersed(c *cli.Context) ([]string, error) {
	rest := c.Args().Slice()
	fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return nil, err
		}
	}
	var pos []string
	for len(rest) > 0 {
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		if len(rest[0]) > 1 && rest[0][0] == '-' {
			// Parse up to the next positional argument only, so that a
			// later "--" is seen by this loop.
			end := 1
			for end < len(rest) && rest[end] != "--" {
				end++
			}
			if err := fs.Parse(rest[:end]); err != nil {
				return nil, flagUsageError(c, err)
			}
			rest = append(append([]string(nil), fs.Args()...), rest[end:]...)
			continue
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	// Set every name of each flag given (urfave/cli keeps one value per
	// alias and reconciles them only during its own parsing).
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			v, ok := set[n]
			if !ok {
				continue
			}
			for _, alias := range f.Names() {
				if err := c.Set(alias, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return pos, nil
}
