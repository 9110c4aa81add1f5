package main

import "github.com/urfave/cli/v2"

// grantCommand is owned by the grant work; placeholder until it lands.
func grantCommand(ui *UI) *cli.Command {
	return &cli.Command{Name: "grant", Usage: "MSSL access grants", Subcommands: []*cli.Command{
		planned("sign", "sign an access grant"), planned("verify", "verify a grant"), planned("inspect", "show a grant")}}
}
