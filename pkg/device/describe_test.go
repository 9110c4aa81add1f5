package device

import (
	"slices"
	"testing"

	"github.com/mstool/mstool/pkg/esp"
)

func TestStatusSuiteList(t *testing.T) {
	// bit s-1 for esp.Suite s (docs/firmware-net.md, STATUS offset 2).
	st := &Status{Suites: 0x19}
	if got, want := st.SuiteList(), []esp.Suite{esp.SuiteAES128CCM8, esp.SuiteAES128CTRHMACSHA256, esp.SuiteAES128CBCHMACMD5}; !slices.Equal(got, want) {
		t.Errorf("suites 0x19: %v, want %v", got, want)
	}
	if got := (&Status{}).SuiteList(); got != nil {
		t.Errorf("no suites: %v", got)
	}
	if !(&Status{Flags: ConfigIssuer}).HasIssuer() || (&Status{Flags: ConfigGroup | ConfigClearICMP}).HasIssuer() {
		t.Error("HasIssuer reads the wrong flag")
	}
}

func TestResetCauses(t *testing.T) {
	for cause, want := range map[byte][]string{
		0:    nil,
		0x01: {"power-on"},
		0x0a: {"external", "watchdog"},
		0x04: {"brown-out"},
	} {
		if got := (&Stats{ResetCause: cause}).ResetCauses(); !slices.Equal(got, want) {
			t.Errorf("MCUSR 0x%02x: %v, want %v", cause, got, want)
		}
	}
}
