package main

// Help at every level of the command tree ('mstool help esp ping' is
// 'mstool esp ping --help'), and did-you-mean for mistyped commands and
// flags, as git and cargo do it.

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// cmdPath is the command path of c without the program name ("esp ping"),
// or "" at the top level. urfave/cli's FullName gives only the last word.
func cmdPath(c *cli.Context) string {
	if c == nil || c.Command == nil {
		return ""
	}
	name := c.Command.HelpName
	if name == "" {
		name = c.Command.Name
	}
	if name == c.App.Name {
		return ""
	}
	return strings.TrimPrefix(name, c.App.Name+" ")
}

// fullCommand is how the user would type the command: "mstool esp ping".
func fullCommand(c *cli.Context) string {
	return strings.TrimSpace(c.App.Name + " " + cmdPath(c))
}

// prefixed puts the command path before a message ("esp ping: ..."), or
// nothing at the top level.
func prefixed(c *cli.Context, msg string) string {
	if p := cmdPath(c); p != "" {
		return p + ": " + msg
	}
	return msg
}

// helpCommand is 'help [COMMAND...]' for a command that has subcommands
// (and for mstool itself). It is hidden: it is not a thing to do, and it
// is not offered by completion.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:            "help",
		Aliases:         []string{"h"},
		Usage:           "show the help of a command",
		ArgsUsage:       "[COMMAND...]",
		Hidden:          true,
		SkipFlagParsing: true,
		Action:          showHelp,
	}
}

// showHelp shows what 'COMMAND... --help' shows, by running exactly that
// below the command that holds this help command; an unknown COMMAND is a
// usage error with a suggestion.
func showHelp(c *cli.Context) error {
	parent := c.Lineage()[1]
	words := c.Args().Slice()
	if len(words) == 0 {
		if cmdPath(parent) == "" {
			return cli.ShowAppHelp(parent)
		}
		return cli.ShowSubcommandHelp(parent)
	}
	cur := parent.Command
	path := fullCommand(parent)
	for _, w := range words {
		next := cur.Command(w)
		if next == nil {
			if len(visibleNames(cur)) == 0 {
				return usageErrorf(fmt.Sprintf("run '%s --help' for usage", path),
					"help: '%s' has no subcommand '%s'", path, w)
			}
			return usageErrorf(suggestCommandHint(path, w, cur),
				"help: no command '%s %s'", path, w)
		}
		cur = next
		path += " " + next.Name
	}
	first := parent.Command.Command(words[0])
	ctx := cli.NewContext(c.App, nil, parent)
	ctx.Command = first
	// As urfave/cli dispatches: the first argument is the command's name.
	return first.Run(ctx, append(words, "--help")...)
}

// groupAction is the action of mstool and of a command that only holds
// subcommands: without one it shows its help, as before; an unknown one
// is a usage error with a suggestion.
func groupAction(c *cli.Context) error {
	if c.NArg() == 0 {
		if cmdPath(c) == "" {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	return commandNotFound(c, c.Args().First())
}

// commandNotFound is the usage error for 'mstool esp pign'.
func commandNotFound(c *cli.Context, name string) error {
	return usageErrorf(suggestCommandHint(fullCommand(c), name, c.Command),
		"%s", prefixed(c, "no such command: "+name))
}

// subcommandTypo returns commandNotFound for a first argument that looks
// like a mistyped subcommand of c (for commands that also take arguments
// or act on their own, such as keygen and provision), else nil.
func subcommandTypo(c *cli.Context, arg string) error {
	if len(suggest(arg, visibleNames(c.Command))) == 0 {
		return nil
	}
	return commandNotFound(c, arg)
}

func suggestCommandHint(path, typed string, parent *cli.Command) string {
	names := visibleNames(parent)
	if parent.Command("help") != nil {
		names = append(names, "help")
	}
	s := suggest(typed, names)
	if len(s) == 0 {
		return fmt.Sprintf("run '%s --help' for the commands", path)
	}
	for i := range s {
		s[i] = "'" + path + " " + s[i] + "'"
	}
	return "did you mean " + orList(s) + "?"
}

// visibleNames are the names of cmd's subcommands that a user sees (not
// help, which urfave/cli adds to commands without subcommands too).
func visibleNames(cmd *cli.Command) []string {
	var names []string
	for _, sub := range cmd.Subcommands {
		if !sub.Hidden && !sub.HasName("help") {
			names = append(names, sub.Name)
		}
	}
	return names
}

// flagUsageError is the usage error for a bad flag of the command in c
// (urfave/cli's parser, or interspersed's), naming the full command path
// and suggesting the flag the user probably meant.
func flagUsageError(c *cli.Context, err error) error {
	hint := fmt.Sprintf("run '%s --help' for usage", fullCommand(c))
	const undefined = "flag provided but not defined: "
	if msg := err.Error(); strings.HasPrefix(msg, undefined) {
		typed := strings.TrimLeft(strings.TrimPrefix(msg, undefined), "-")
		if long, ok := retiredShort[cmdPath(c)][typed]; ok {
			return usageErrorf("give --"+long+"; -"+typed+" means "+shortMeaning[typed]+" in mstool (docs/cli.md)",
				"%s", prefixed(c, "-"+typed+" is not --"+long+" any more"))
		}
		var names []string
		for _, f := range c.Command.Flags {
			names = append(names, f.Names()...)
		}
		if s := suggest(typed, names); len(s) > 0 {
			for i, n := range s {
				s[i] = flagName(n)
			}
			hint = "did you mean " + orList(s) + "? " + hint
		}
	}
	return usageErrorf(hint, "%s", prefixed(c, dashFlags(err.Error())))
}

// flagInMessage finds the flag Go's flag package names with one dash
// ("flag needs an argument: -port", "invalid value \"x\" for flag -n: ...").
var flagInMessage = regexp.MustCompile(`(: |for flag |for )-([A-Za-z0-9][A-Za-z0-9-]*)`)

// dashFlags writes the flags a flag package message names as mstool's
// help does: --port, -v.
func dashFlags(msg string) string {
	return flagInMessage.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagInMessage.FindStringSubmatch(m)
		return sub[1] + flagName(sub[2])
	})
}

func flagName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// suggest returns the candidates the user probably meant by typed: those
// it is a prefix of ("prov" for provision), then those nearest to it
// within a small edit distance (a third of its length, at least one edit,
// as cargo does). At most three.
func suggest(typed string, candidates []string) []string {
	const most = 3
	t := strings.ToLower(typed)
	if t == "" {
		return nil
	}
	var prefixed []string
	if len([]rune(t)) >= 2 {
		for _, cand := range candidates {
			if c := strings.ToLower(cand); c != t && strings.HasPrefix(c, t) && !contains(prefixed, cand) {
				prefixed = append(prefixed, cand)
			}
		}
	}
	limit := max(1, len([]rune(t))/3)
	best := limit + 1
	var near []string
	for _, cand := range candidates {
		c := strings.ToLower(cand)
		d := editDistance(t, c)
		// Not a guess when nothing of the word is left (x for h).
		if d >= len([]rune(t)) || d >= len([]rune(c)) || d > limit {
			continue
		}
		switch {
		case d < best:
			best, near = d, []string{cand}
		case d == best && !contains(near, cand):
			near = append(near, cand)
		}
	}
	for _, cand := range near {
		if !contains(prefixed, cand) {
			prefixed = append(prefixed, cand)
		}
	}
	if len(prefixed) > most {
		prefixed = prefixed[:most]
	}
	return prefixed
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of two adjacent letters
// ("pign" for ping) cost one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance of ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
