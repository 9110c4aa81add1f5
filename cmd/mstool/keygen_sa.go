package main

import "github.com/urfave/cli/v2"

// keygenSACommand generates ESP SA material: the same command as
// 'mstool esp sa new' (one function, safile.New, behind both).
func keygenSACommand(ui *UI) *cli.Command {
	cmd := espSANewCommand(ui)
	cmd.Name = "sa"
	cmd.Usage = "generate ESP security association material (an SA file; same as 'mstool esp sa new')"
	return cmd
}
