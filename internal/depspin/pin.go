// Package depspin pins module versions until real imports exist; deleted once every dependency is imported by real code.
package depspin

import (
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/gopacket/gopacket"
	_ "github.com/gopacket/gopacket/layers"
	_ "github.com/gopacket/gopacket/pcapgo"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/skip2/go-qrcode"
	_ "github.com/urfave/cli/v2"
	_ "go.bug.st/serial"
	_ "go.bug.st/serial/enumerator"
	_ "golang.org/x/crypto/cryptobyte"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
)
