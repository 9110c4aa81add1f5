package main

import (
	"runtime"
	"runtime/debug"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/tasks"
	"github.com/urfave/cli/v2"
)

// versionInfo is what 'mstool --version' reports: which build this is and
// which firmware interfaces it speaks (docs/json.md, version).
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"` // VCS revision, or "unknown"
	Time      string `json:"revision_time,omitempty"`
	Modified  bool   `json:"modified"` // built from a tree with uncommitted changes
	Go        string `json:"go"`
	Protocols struct {
		Management   int `json:"management"`
		Provisioning int `json:"provisioning"`
		EEPROM       int `json:"eeprom_layout"`
		Grant        int `json:"grant"`
		MSSL         int `json:"mssl"`
		Tasks        int `json:"tasks"`
	} `json:"protocols"`
}

// buildVersion reads the release version (goreleaser sets main.version),
// the VCS stamp of 'go build' in a checkout, and the protocol versions of
// the packages mstool uses to talk to a device.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Revision: "unknown", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version // go install module@version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	p := &v.Protocols
	p.Management = device.ProtocolVersion
	p.Provisioning = device.ProvisioningVersion
	p.EEPROM = provision.Version
	p.Grant = grant.Version
	p.MSSL = mssl.Version
	p.Tasks = tasks.Version
	return v
}

// printVersion is urfave/cli's VersionPrinter for 'mstool --version'. It
// runs before the app's Before, so it reads --json itself.
func printVersion(ui *UI, c *cli.Context) {
	v := buildVersion()
	if c.Bool("json") {
		_ = ui.WriteJSON(v)
		return
	}
	rev := v.Revision
	if v.Modified {
		rev += " (modified)"
	}
	if v.Time != "" {
		rev += ", " + v.Time
	}
	p := v.Protocols
	ui.Printf("mstool %s\n", v.Version)
	ui.Printf("revision: %s\n", rev)
	ui.Printf("go: %s\n", v.Go)
	ui.Printf("protocols: management %d, provisioning %d, EEPROM layout %d, grant %d, MSSL %d, tasks %d\n",
		p.Management, p.Provisioning, p.EEPROM, p.Grant, p.MSSL, p.Tasks)
}
