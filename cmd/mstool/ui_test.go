package main

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/mstool/mstool/pkg/bench"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/tasks"
)

// fakeTerminal is a UI that draws box tables as on a terminal width
// columns wide.
func fakeTerminal(width int) (*UI, *bytes.Buffer) {
	var out bytes.Buffer
	ui := newUI(&out, io.Discard)
	ui.Format = FormatTable
	ui.width = width
	return ui, &out
}

func testGrant() *grant.Grant {
	g := &grant.Grant{
		Serial:    5,
		Target:    0x2a,
		HostIP:    netip.MustParseAddr("10.0.0.2"),
		HostMAC:   net.HardwareAddr{2, 0, 0x5e, 0, 0, 1},
		Tasks:     tasks.Set(0x7f),
		IssuedAt:  1767225600,
		NotAfter:  1769817599,
		Signature: bytes.Repeat([]byte{0xa5}, 256),
	}
	for i := range g.Sealed {
		g.Sealed[i] = byte(i)
	}
	for i := range g.IssuerKeyID {
		g.IssuerKeyID[i] = 0xee
	}
	return g
}

func testBenchReport() (*device.Info, benchReport) {
	info := &device.Info{MCU: "atmega328p", Firmware: "1.4.0", FCPU: 16000000, FrameMax: 512}
	rep := benchReport{Device: info, SizeSource: "firmware.elf", Crypto: &bench.Size{Flash: 9876}}
	for _, it := range bench.Plan(info) {
		rep.Results = append(rep.Results, bench.Row{Primitive: it.Prim.String(), Bytes: it.Bytes,
			Cycles: 1234567, CyclesPerByte: 4822.5, Micros: 77160.4, KBps: 3.32,
			Module: bench.Modules[it.Prim], FlashBytes: 2468, ContextRAM: 176})
		rep.Host = append(rep.Host, bench.HostRow{Primitive: it.Prim.String(), Bytes: it.Bytes, NsPerOp: 123456, MBps: 2074.1})
	}
	return info, rep
}

// The widest tables (grant inspect: 103 columns, bench: 125 before
// fitting) fit an 80-column terminal, and lose nothing: long cells wrap.
func TestTablesFitTerminal(t *testing.T) {
	type cell struct {
		col  int // 1 is the first column
		text string
	}
	hex := toGrantJSON(testGrant(), nil).SealedHostKey
	for _, tc := range []struct {
		name   string
		render func(ui *UI)
		want   []cell // data that must still be there, in its column
	}{
		{"grant inspect", func(ui *UI) { ui.KeyValues(grantFields(testGrant(), nil)) },
			[]cell{{1, "sealed host key"}, {2, hex}, {2, "(not checked: use 'mstool grant verify')"}}},
		{"bench", func(ui *UI) { info, rep := testBenchReport(); renderBench(ui, info, rep) },
			[]cell{{7, "flash bytes (module)2468 (crypto/aes)"}, {8, "context RAM176"}, {3, "ns/op123456"}}},
	} {
		wide, wideOut := fakeTerminal(1000)
		tc.render(wide)
		if w := maxLineWidth(wideOut.String()); w <= 80 {
			t.Fatalf("%s: %d columns unfitted; the test needs a table wider than 80", tc.name, w)
		}
		ui, out := fakeTerminal(80)
		tc.render(ui)
		for i, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			if w := lipgloss.Width(line); w > 80 {
				t.Errorf("%s: line %d is %d columns wide:\n%s", tc.name, i+1, w, line)
			}
		}
		if !strings.Contains(out.String(), "┌") {
			t.Errorf("%s: no box drawn:\n%s", tc.name, out.String())
		}
		for _, c := range tc.want {
			if !strings.Contains(column(out.String(), c.col), strings.ReplaceAll(c.text, " ", "")) {
				t.Errorf("%s: %q lost at 80 columns:\n%s", tc.name, c.text, out.String())
			}
		}
	}
}

// A table narrower than the terminal is drawn as it is, not stretched.
func TestTableNotStretched(t *testing.T) {
	ui, out := fakeTerminal(200)
	ui.KeyValues([][2]string{{"k", "v"}})
	if w := maxLineWidth(out.String()); w > 20 {
		t.Errorf("a small table is %d columns wide:\n%s", w, out.String())
	}
}

// Plain output cuts nothing, whatever the width, and keeps one record
// per line.
func TestPlainNotFitted(t *testing.T) {
	var out bytes.Buffer
	ui := newUI(&out, io.Discard)
	ui.width = 40
	ui.KeyValues(grantFields(testGrant(), nil))
	hex := toGrantJSON(testGrant(), nil).SealedHostKey
	if !strings.Contains(out.String(), "\nsealed host key: "+hex+"\n") {
		t.Errorf("plain key/values:\n%s", out.String())
	}
	out.Reset()
	ui.Table([]string{"a", "b"}, [][]string{{"x\ty", "line\nbreak"}, {`back\slash`, ""}})
	want := "a\tb\nx\\ty\tline\\nbreak\nback\\\\slash\t\n"
	if out.String() != want {
		t.Errorf("TSV = %q, want %q", out.String(), want)
	}
}

func maxLineWidth(s string) int {
	max := 0
	for _, line := range strings.Split(s, "\n") {
		if w := lipgloss.Width(line); w > max {
			max = w
		}
	}
	return max
}

// column is the text of column col of box tables, line after line,
// without spaces, so that a wrapped cell reads as one string again.
func column(s string, col int) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Split(line, "│"); col < len(f) {
			b.WriteString(strings.ReplaceAll(f[col], " ", ""))
		}
	}
	return b.String()
}
