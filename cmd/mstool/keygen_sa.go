package main

import "github.com/urfave/cli/v2"

// keygenSACommand generates ESP SA material; it uses pkg/safile (in progress).
func keygenSACommand(ui *UI) *cli.Command {
	return planned("sa", "generate ESP security association material (an SA file)")
}
