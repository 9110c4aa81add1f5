package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/tasks"
)

// ConfigVersion is the version of the configuration format this package
// reads (the optional first line "mstool-gateway 1").
const ConfigVersion = 1

// Limits of the configuration file.
const (
	MaxConfigLine = 4096
	MinPSKSize    = 16 // bytes: RFC 7925 §4.2 asks for keys with enough entropy; 128 bits
	MaxPSKSize    = 64
	MaxQueue      = 1024
)

// Defaults for a device line.
const (
	DefaultQueue   = 8
	DefaultTimeout = 2 * time.Second
	DefaultRetries = 1
)

// Leg names how the device leg is secured.
type Leg string

const (
	LegESP  Leg = "esp"
	LegMSSL Leg = "mssl"
)

// DeviceConfig is one "device" line.
type DeviceConfig struct {
	Name string
	// Port is a serial port, UDP a HOST:PORT; exactly one.
	Port, UDP string
	Leg       Leg
	// ESP: the host's SA file (its sequence state is kept next to it).
	SAFile string
	// MSSL: the grant and its host key; over a serial port the device's
	// and this host's IPv4 addresses (host-ip defaults to the grant's).
	Grant, HostKey   string
	DeviceIP, HostIP netip.Addr
	// Reset says whether opening the serial port may reset the board
	// (device.ResetAuto, the default) or not (device.ResetNever).
	Reset device.Reset
	// TaskMap, when set, names the application's tasks (pkg/tasks.Map).
	TaskMap string
	Map     *tasks.Map
	// Queue bounds the requests waiting for the device; Timeout and
	// Retries are the session's, per task.
	Queue   int
	Timeout time.Duration
	Retries int
}

// Codec is the device's task codec (its task map's names).
func (d *DeviceConfig) Codec() tasks.Codec { return tasks.Codec{Map: d.Map} }

// Identity is one "identity" line: a client and what it may do. A client
// proves it is the identity with a DTLS PSK, an HTTPS bearer token (kept
// as its SHA-256 only) or an HTTPS client certificate (its SHA-256
// fingerprint); at least one.
type Identity struct {
	Name string
	PSK  []byte // nil: not for DTLS
	// TokenHash is the SHA-256 of the identity's HTTPS bearer token;
	// CertHash the SHA-256 of its client certificate (DER). nil: none.
	TokenHash []byte
	CertHash  []byte
	// Tasks are the tasks permitted on each device the identity may use
	// (by device name; parsed with that device's task map).
	Tasks map[string]tasks.Set
}

// Config is a parsed configuration file (docs/gateway.md).
type Config struct {
	// Listen is the DTLS address (default ":5684", the coaps port).
	Listen string
	// Plain, when set, serves unencrypted CoAP there as identity
	// PlainIdentity: loopback only unless the caller allows otherwise.
	Plain         string
	PlainIdentity string
	Devices       []*DeviceConfig
	Identities    []*Identity
	// HTTPS, when set, serves the tasks over HTTPS there (TLS 1.3 only)
	// with the certificate and key in CertFile and KeyFile; with
	// CertAuto the gateway makes them (a self-signed ECDSA P-256
	// certificate for CertHosts) when neither file exists.
	HTTPS             string
	CertFile, KeyFile string
	CertAuto          bool
	CertHosts         []string
	// QueryToken accepts the bearer token in the access_token query
	// parameter (RFC 6750 §2.3) too: for browsers that cannot send a
	// header. It leaks into logs and history (docs/gateway.md).
	QueryToken bool
}

// Device returns the device named name.
func (c *Config) Device(name string) *DeviceConfig {
	for _, d := range c.Devices {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Identity returns the identity named name.
func (c *Config) Identity(name string) *Identity {
	for _, id := range c.Identities {
		if id.Name == name {
			return id
		}
	}
	return nil
}

// ConfigError is a configuration error at File:Line.
type ConfigError struct {
	File string
	Line int // 0: not about one line
	Msg  string
	Err  error // the cause, when there is one (a key file's error)
}

func (e *ConfigError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("gateway: %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("gateway: %s:%d: %s", e.File, e.Line, e.Msg)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads the configuration file path; relative paths in it are
// relative to its directory. Key files are read with keyfile.ReadPrivate
// (refused when group or other users may read them).
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	defer f.Close()
	return ParseConfig(f, path, filepath.Dir(path))
}

// ParseConfig reads a configuration (docs/gateway.md, "Configuration"):
// plain text, '#' starts a comment, one statement per line:
//
//	mstool-gateway 1
//	listen ADDR
//	plain ADDR identity=NAME
//	device NAME (port=PATH | udp=HOST:PORT) (esp=SAFILE | mssl=GRANT [host-key=FILE] [device-ip=A] [host-ip=A])
//	       [reset=auto|never] [task-map=FILE] [queue=N] [timeout=DUR] [retries=N]
//	https ADDR [cert=FILE key=FILE] [hosts=LIST] [query-token=on]
//	identity NAME [psk=FILE] [token=sha256:HEX] [client-cert=sha256:HEX] tasks=LIST [devices=LIST]
//
// name is the file's name for errors (*ConfigError); dir resolves
// relative paths.
func ParseConfig(r io.Reader, name, dir string) (*Config, error) {
	c := &Config{Listen: ":5684"}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxConfigLine+1)
	lineNo, seen := 0, false
	type pendingID struct {
		id      *Identity
		tasks   string
		devices []string
		line    int
	}
	var ids []pendingID
	for sc.Scan() {
		lineNo++
		fail := func(format string, a ...any) error {
			return &ConfigError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, a...)}
		}
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if words[0] == "mstool-gateway" {
			if seen {
				return nil, fail("the mstool-gateway header must be the first line that is not a comment")
			}
			if len(words) != 2 || words[1] != strconv.Itoa(ConfigVersion) {
				return nil, fail("unsupported version %q (this mstool reads version %d)", strings.Join(words[1:], " "), ConfigVersion)
			}
			seen = true
			continue
		}
		seen = true
		var kv kvs
		var err error
		path := func(p string) string {
			if p == "" || filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(dir, p)
		}
		switch words[0] {
		case "listen":
			if len(words) != 2 {
				return nil, fail("listen takes one address (HOST:PORT)")
			}
			c.Listen = words[1]
		case "plain":
			if len(words) < 2 || strings.Contains(words[1], "=") {
				return nil, fail("plain takes an address and identity=NAME")
			}
			kv, err = keyValues(words[2:])
			if err != nil {
				return nil, fail("%v", err)
			}
			if err := kv.only("identity"); err != nil {
				return nil, fail("plain: %v", err)
			}
			c.Plain, c.PlainIdentity = words[1], kv["identity"]
			if c.PlainIdentity == "" {
				return nil, fail("plain needs identity=NAME: the identity whose tasks plain CoAP requests may run")
			}
		case "https":
			if len(words) < 2 || strings.Contains(words[1], "=") {
				return nil, fail("https takes an address (HOST:PORT) and optional cert=FILE key=FILE hosts=LIST query-token=on")
			}
			kv, err = keyValues(words[2:])
			if err != nil {
				return nil, fail("%v", err)
			}
			if err := kv.only("cert", "key", "hosts", "query-token"); err != nil {
				return nil, fail("https: %v", err)
			}
			c.HTTPS = words[1]
			c.CertFile, c.KeyFile = path(kv["cert"]), path(kv["key"])
			switch {
			case c.CertFile == "" && c.KeyFile == "":
				c.CertAuto = true
				c.CertFile, c.KeyFile = filepath.Join(dir, DefaultCertFile), filepath.Join(dir, DefaultKeyFile)
			case c.CertFile == "" || c.KeyFile == "":
				return nil, fail("https: give both cert=FILE and key=FILE, or neither (the gateway then makes its own)")
			}
			if h := kv["hosts"]; h != "" {
				if !c.CertAuto {
					return nil, fail("https: hosts= names the certificate the gateway makes; not with cert=FILE")
				}
				c.CertHosts = strings.Split(h, ",")
			}
			switch kv["query-token"] {
			case "", "off":
			case "on":
				c.QueryToken = true
			default:
				return nil, fail("https: query-token=%q: want on or off", kv["query-token"])
			}
		case "device":
			d, err := parseDevice(words, path)
			if err != nil {
				return nil, fail("%v", err)
			}
			if c.Device(d.Name) != nil {
				return nil, fail("device %q is already defined", d.Name)
			}
			if d.TaskMap != "" {
				mf, err := os.Open(d.TaskMap)
				if err != nil {
					return nil, fail("device %s: %v", d.Name, err)
				}
				d.Map, err = tasks.ParseMap(mf, d.TaskMap)
				mf.Close()
				if err != nil {
					return nil, fail("device %s: %v", d.Name, err)
				}
			}
			c.Devices = append(c.Devices, d)
		case "identity":
			if len(words) < 2 || strings.Contains(words[1], "=") {
				return nil, fail("identity takes a name, psk=FILE, token=sha256:HEX or client-cert=sha256:HEX, and tasks=LIST")
			}
			kv, err = keyValues(words[2:])
			if err != nil {
				return nil, fail("%v", err)
			}
			if err := kv.only("psk", "token", "client-cert", "tasks", "devices"); err != nil {
				return nil, fail("identity %s: %v", words[1], err)
			}
			id := &Identity{Name: words[1], Tasks: map[string]tasks.Set{}}
			if len(id.Name) > 128 {
				return nil, fail("identity names are at most 128 bytes (RFC 4279 allows 2^16, clients rarely)")
			}
			for _, p := range ids {
				if p.id.Name == id.Name {
					return nil, fail("identity %q is already defined (line %d)", id.Name, p.line)
				}
			}
			if kv["psk"] == "" && kv["token"] == "" && kv["client-cert"] == "" || kv["tasks"] == "" {
				return nil, fail("identity %s needs tasks=LIST and at least one of psk=FILE, token=sha256:HEX, client-cert=sha256:HEX", id.Name)
			}
			if kv["psk"] != "" {
				if id.PSK, err = readPSK(path(kv["psk"])); err != nil {
					return nil, &ConfigError{File: name, Line: lineNo, Msg: fmt.Sprintf("identity %s: %v", id.Name, err), Err: err}
				}
			}
			if s := kv["token"]; s != "" {
				if id.TokenHash, err = parseSHA256(s); err != nil {
					return nil, fail("identity %s: token=: %v (the SHA-256 of the token: printf %%s TOKEN | sha256sum)", id.Name, err)
				}
			}
			if s := kv["client-cert"]; s != "" {
				if id.CertHash, err = parseSHA256(s); err != nil {
					return nil, fail("identity %s: client-cert=: %v (the certificate's fingerprint: openssl x509 -noout -fingerprint -sha256)", id.Name, err)
				}
			}
			var devs []string
			if kv["devices"] != "" {
				devs = strings.Split(kv["devices"], ",")
			}
			ids = append(ids, pendingID{id: id, tasks: kv["tasks"], devices: devs, line: lineNo})
		default:
			return nil, fail("unknown statement %q (listen, plain, https, device or identity)", words[0])
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ConfigError{File: name, Line: lineNo + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxConfigLine)}
		}
		return nil, &ConfigError{File: name, Msg: err.Error(), Err: err}
	}
	// Identities' task sets are parsed with each device's task map, so
	// an application's task names work; devices may come after them.
	for _, p := range ids {
		fail := func(format string, a ...any) error {
			return &ConfigError{File: name, Line: p.line, Msg: fmt.Sprintf(format, a...)}
		}
		devs := p.devices
		if devs == nil {
			for _, d := range c.Devices {
				devs = append(devs, d.Name)
			}
		}
		for _, dn := range devs {
			d := c.Device(strings.TrimSpace(dn))
			if d == nil {
				return nil, fail("identity %s: unknown device %q", p.id.Name, dn)
			}
			set, err := d.Map.ParseTasks(p.tasks)
			if err != nil {
				return nil, fail("identity %s, device %s: %v", p.id.Name, d.Name, err)
			}
			p.id.Tasks[d.Name] = set
		}
		c.Identities = append(c.Identities, p.id)
	}
	if len(c.Devices) == 0 {
		return nil, &ConfigError{File: name, Msg: "no device lines: the gateway has nothing to serve"}
	}
	if len(c.Identities) == 0 {
		return nil, &ConfigError{File: name, Msg: "no identity lines: no client could use the gateway"}
	}
	for i, a := range c.Identities {
		for _, b := range c.Identities[:i] {
			if a.TokenHash != nil && bytes.Equal(a.TokenHash, b.TokenHash) || a.CertHash != nil && bytes.Equal(a.CertHash, b.CertHash) {
				return nil, &ConfigError{File: name, Msg: fmt.Sprintf("identities %s and %s have the same token or client certificate", b.Name, a.Name)}
			}
		}
	}
	if c.Plain != "" && c.Identity(c.PlainIdentity) == nil {
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("plain: unknown identity %q", c.PlainIdentity)}
	}
	return c, nil
}

type kvs map[string]string

func keyValues(words []string) (kvs, error) {
	kv := kvs{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", w)
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		kv[k] = v
	}
	return kv, nil
}

func (kv kvs) only(keys ...string) error {
	for k := range kv {
		found := false
		for _, x := range keys {
			found = found || k == x
		}
		if !found {
			return fmt.Errorf("unknown key %q (valid: %s)", k, strings.Join(keys, ", "))
		}
	}
	return nil
}

func parseDevice(words []string, path func(string) string) (*DeviceConfig, error) {
	if len(words) < 2 || strings.Contains(words[1], "=") {
		return nil, errors.New("device takes a name and KEY=VALUE settings")
	}
	d := &DeviceConfig{Name: words[1], Queue: DefaultQueue, Timeout: DefaultTimeout, Retries: DefaultRetries}
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	kv, err := keyValues(words[2:])
	if err != nil {
		return nil, err
	}
	if err := kv.only("port", "udp", "esp", "mssl", "host-key", "device-ip", "host-ip", "task-map", "queue", "timeout", "retries", "reset"); err != nil {
		return nil, fmt.Errorf("device %s: %v", d.Name, err)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("device %s: %s", d.Name, fmt.Sprintf(format, a...))
	}
	d.Port, d.UDP = kv["port"], kv["udp"]
	if (d.Port == "") == (d.UDP == "") {
		return nil, fail("give exactly one of port=PATH and udp=HOST:PORT")
	}
	d.Port = path(d.Port)
	switch {
	case kv["esp"] != "" && kv["mssl"] == "":
		d.Leg, d.SAFile = LegESP, path(kv["esp"])
		for _, k := range []string{"host-key", "device-ip", "host-ip"} {
			if kv[k] != "" {
				return nil, fail("%s goes with mssl=GRANT", k)
			}
		}
	case kv["mssl"] != "" && kv["esp"] == "":
		d.Leg, d.Grant = LegMSSL, path(kv["mssl"])
		d.HostKey = path(kv["host-key"])
		if d.HostKey == "" {
			d.HostKey = strings.TrimSuffix(d.Grant, ".grant") + ".hostkey"
		}
		for _, k := range []string{"device-ip", "host-ip"} {
			if s := kv[k]; s != "" {
				a, err := netip.ParseAddr(s)
				if err != nil || !a.Is4() {
					return nil, fail("%s=%q is not an IPv4 address", k, s)
				}
				if k == "device-ip" {
					d.DeviceIP = a
				} else {
					d.HostIP = a
				}
			}
		}
		if d.Port != "" && !d.DeviceIP.IsValid() {
			return nil, fail("MSSL over a serial port needs device-ip=A.B.C.D")
		}
	default:
		return nil, fail("give exactly one of esp=SAFILE and mssl=GRANT")
	}
	if s := kv["reset"]; s != "" {
		if d.Port == "" {
			return nil, fail("reset= goes with port=PATH")
		}
		r, err := device.ParseReset(s)
		if err != nil {
			return nil, fail("reset=%q: want auto or never", s)
		}
		d.Reset = r
	}
	d.TaskMap = path(kv["task-map"])
	if s := kv["queue"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxQueue {
			return nil, fail("queue=%q: want 1..%d", s, MaxQueue)
		}
		d.Queue = n
	}
	if s := kv["timeout"]; s != "" {
		t, err := time.ParseDuration(s)
		if err != nil || t <= 0 || t > time.Minute {
			return nil, fail("timeout=%q: want a duration up to 1m (2s)", s)
		}
		d.Timeout = t
	}
	if s := kv["retries"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10 {
			return nil, fail("retries=%q: want 0..10", s)
		}
		d.Retries = n
	}
	return d, nil
}

// checkName allows device names that are one CoAP path segment.
func checkName(s string) error {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return fmt.Errorf("device name %q: want 1..64 of a-z A-Z 0-9 - _ (not starting with '.')", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("device name %q: want 1..64 of a-z A-Z 0-9 - _", s)
		}
	}
	return nil
}

// parseSHA256 reads "sha256:HEX" (64 hex digits; colons, as openssl
// prints fingerprints, are allowed).
func parseSHA256(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if !ok {
		return nil, errors.New("want sha256:HEX")
	}
	b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("want sha256: and %d hex digits", 2*sha256.Size)
	}
	return b, nil
}

// readPSK reads a PSK file: the key as hex digits on one line (16 to 64
// bytes), the file private to its owner.
func readPSK(path string) ([]byte, error) {
	data, err := keyfile.ReadPrivate(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(data))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: a PSK file holds the key as hex digits", path)
	}
	if len(k) < MinPSKSize || len(k) > MaxPSKSize {
		return nil, fmt.Errorf("%s: a key of %d bytes; want %d..%d", path, len(k), MinPSKSize, MaxPSKSize)
	}
	return k, nil
}
