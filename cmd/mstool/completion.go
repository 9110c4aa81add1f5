package main

// Completion candidates. bash and zsh ask mstool itself
// (--generate-bash-completion, answered by complete below); the fish script
// is generated from the command tree and the same tables.

import (
	"fmt"
	"os"
	"strings"

	"github.com/mstool/mstool/pkg/board"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/tasks"
	"github.com/urfave/cli/v2"
)

// flagValues are the values of flags that take a name from a fixed set,
// by flag name (the same name means the same set in every command). Task
// names include those of the task map m (nil: built-in tasks only; the
// generated fish script has those only).
var flagValues = map[string]func(m *tasks.Map) []string{
	"suite": func(*tasks.Map) []string { return suiteList() },
	"board": func(*tasks.Map) []string { return board.Names() },
	"mcu":   func(*tasks.Map) []string { return board.MCUNames() },
	"tasks": func(m *tasks.Map) []string { return append(m.Names(), "all") },
	"task":  (*tasks.Map).Names,
}

// argValues are the values of a command's first argument, by its
// ArgsUsage's first word.
var argValues = map[string]func(m *tasks.Map) []string{
	"TASK":          (*tasks.Map).Names,
	"bash|zsh|fish": func(*tasks.Map) []string { return []string{"bash", "zsh", "fish"} },
}

func suiteList() []string {
	out := make([]string, len(esp.Suites))
	for i, s := range esp.Suites {
		out[i] = s.String()
	}
	return out
}

// valuesOf returns the candidates of the flag of cmd called name (without
// dashes, any of its aliases), or nil.
func valuesOf(cmd *cli.Command, name string, m *tasks.Map) []string {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				if values := flagValues[f.Names()[0]]; values != nil {
					return values(m)
				}
				return nil
			}
		}
	}
	return nil
}

// takesValue reports whether the flag of cmd called name takes a value.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				tf, ok := f.(cli.DocGenerationFlag)
				return ok && tf.TakesValue()
			}
		}
	}
	return false
}

// completer answers --generate-bash-completion for cmd: the values of the
// flag before the cursor, or flags when a flag is being typed, or the
// visible subcommands (never 'help' or 'h'), or the values of the first
// argument. Nothing means: let the shell complete file names.
func completer(cmd *cli.Command) cli.BashCompleteFunc {
	flags := cli.DefaultCompleteWithFlags(cmd)
	return func(c *cli.Context) {
		// As urfave/cli: the word before --generate-bash-completion.
		var last string
		if len(os.Args) > 2 {
			last = os.Args[len(os.Args)-2]
		}
		if strings.HasPrefix(last, "-") {
			name := strings.TrimLeft(last, "-")
			// "--c" is the start of a long flag being typed (--count),
			// not the short flag -c, which help and completion write
			// with one dash.
			typingLong := len(name) == 1 && strings.HasPrefix(last, "--")
			if takesValue(cmd, name) && !typingLong {
				for _, v := range valuesOf(cmd, name, completionTaskMap(c)) {
					fmt.Fprintln(c.App.Writer, v)
				}
				return
			}
			flags(c)
			return
		}
		if subs := visibleNames(cmd); len(subs) > 0 {
			for _, n := range subs {
				fmt.Fprintln(c.App.Writer, n)
			}
			return
		}
		if values := argValues[firstWord(cmd.ArgsUsage)]; values != nil && c.NArg() == 0 {
			for _, v := range values(completionTaskMap(c)) {
				fmt.Fprintln(c.App.Writer, v)
			}
		}
	}
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// fishValues returns fish 'complete' lines for the flag and argument
// values of the tree under app, which urfave/cli's fish script lacks. Its
// conditions are those of that script: the command's own name was typed.
func fishValues(app *cli.App) string {
	var b strings.Builder
	seen := map[string]bool{}
	line := func(format string, a ...any) {
		l := fmt.Sprintf(format, a...)
		if !seen[l] {
			seen[l] = true
			b.WriteString(l)
		}
	}
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Hidden {
				continue
			}
			cond := "__fish_seen_subcommand_from " + cmd.Name
			for _, f := range cmd.Flags {
				values := flagValues[f.Names()[0]]
				if values == nil {
					continue
				}
				opts := ""
				for _, n := range f.Names() {
					if len(n) == 1 {
						opts += " -s " + n
					} else {
						opts += " -l " + n
					}
				}
				line("complete -c mstool -n '%s' -f%s -x -a '%s'\n", cond, opts, strings.Join(values(nil), " "))
			}
			if values := argValues[firstWord(cmd.ArgsUsage)]; values != nil {
				line("complete -c mstool -n '%s' -f -a '%s'\n", cond, strings.Join(values(nil), " "))
			}
			walk(cmd.Subcommands)
		}
	}
	walk(app.Commands)
	return b.String()
}
