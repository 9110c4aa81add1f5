// Package device talks to an mstool device (a board or the simulated
// device) over its management channel: SLIP-framed, CRC-checked
// request/reply frames on the same UART that carries SLIP/IPv4
// (docs/management.md). It identifies the device, runs its benchmarks and
// computes crypto primitives on it.
//
// The serial line runs at 115200 baud, 8N1, no flow control (Baud).
package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/mstool/mstool/pkg/slip"
)

// Baud is the device UART's speed (8N1, no flow control).
const Baud = 115200

// Errors callers can branch on (errors.Is).
var (
	// ErrPortNotFound: the serial port does not exist.
	ErrPortNotFound = errors.New("device: serial port not found")
	// ErrPortBusy: another program has the port open.
	ErrPortBusy = errors.New("device: serial port busy")
	// ErrPermission: the user may not open the port (on Debian: not in
	// the dialout group).
	ErrPermission = errors.New("device: permission denied on serial port")
	// ErrNotSerial: the path is not a serial port.
	ErrNotSerial = errors.New("device: not a serial port")
	// ErrNoAnswer: the device sent no valid reply in time, after retries.
	ErrNoAnswer = errors.New("device: device not answering")
	// ErrAuth: an authenticated decryption on the device rejected its
	// input (one opaque error for every authentication failure).
	ErrAuth = errors.New("device: authentication failed")
	// ErrTooLarge: the request does not fit in the device's frame.
	ErrTooLarge = errors.New("device: request larger than the device's frame")
	// ErrOverCap: the request is over one of the device's per-frame work
	// caps (HashMax; docs/management.md "Work caps"). The client refuses
	// such requests before sending them; a device's refusal (a
	// *RemoteError with ErrCodeLimit) matches it too.
	ErrOverCap = errors.New("device: request over the device's per-frame work cap")
	// ErrNoEngineering: the device's firmware was built without the
	// engineering commands (BENCH, COMPUTE, RSA: CONFIG_MGMT_CRYPTO=0, the
	// configuration for a device in service); it answers them as unknown.
	ErrNoEngineering = errors.New("device: the firmware has no engineering commands (BENCH, COMPUTE, RSA; built with CONFIG_MGMT_CRYPTO=0)")
)

// RemoteError is an error reply from the device.
type RemoteError struct {
	Code    byte // MGMT_E_* of firmware/lib/mgmt.h
	Command byte // the request type it answers
}

// Remote error codes.
const (
	ErrCodeCommand     = 1  // unknown command
	ErrCodeFormat      = 2  // malformed payload
	ErrCodePrimitive   = 3  // unknown primitive
	ErrCodeParam       = 4  // bad parameter for the primitive
	ErrCodeUnsupported = 5  // primitive not built into this firmware
	ErrCodeTooBig      = 6  // result would not fit in a frame
	ErrCodeLimit       = 13 // over a per-frame work cap (ErrOverCap)
)

func (e *RemoteError) Error() string {
	msg := map[byte]string{
		ErrCodeCommand:     "unknown command",
		ErrCodeFormat:      "malformed request",
		ErrCodePrimitive:   "unknown primitive",
		ErrCodeParam:       "bad parameter",
		ErrCodeUnsupported: "primitive not built into this firmware",
		ErrCodeTooBig:      "result too large for a frame",
		ErrCodeLimit:       "over the per-frame work cap",
	}[e.Code]
	if msg == "" {
		msg = fmt.Sprintf("error code %d", e.Code)
	}
	return fmt.Sprintf("device: command 0x%02x refused: %s", e.Command, msg)
}

// Is makes a refusal for being over a work cap match ErrOverCap.
func (e *RemoteError) Is(target error) bool {
	return target == ErrOverCap && e.Code == ErrCodeLimit
}

// Conn is the byte link to a device: a go.bug.st/serial Port, or anything
// with the same read-timeout semantics (Read returns 0, nil on timeout).
type Conn interface {
	io.ReadWriteCloser
	SetReadTimeout(t time.Duration) error
	ResetInputBuffer() error
}

// Options tune a Device. The zero value is usable.
type Options struct {
	// Timeout for one reply (default 2 s). Long computations (Bench,
	// repeated hashes) extend it by their own estimate.
	Timeout time.Duration
	// Retries after a timeout: 0 means the default, 2; negative means
	// none. Requests are idempotent, so retrying is safe.
	Retries int
	// Reset says whether opening the port may reset the board (Open only;
	// New never waits): ResetAuto, the default, makes Open wait until the
	// device answers (WaitReady), ResetNever sends at once.
	Reset Reset
	// ReadyWait bounds Open's wait under ResetAuto (default
	// DefaultReadyWait).
	ReadyWait time.Duration
	// Log, when set, is told of the waits and retries, one line each
	// ("IDENTIFY: no reply within 2s, retry 1/2"): mstool -v. The
	// package never prints.
	Log func(msg string)
	// Trace, when set, is given every management frame sent ("send") and
	// received ("recv"), before SLIP framing: mstool -vv.
	Trace func(dir string, frame []byte)
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, a...))
	}
}

func (o *Options) trace(dir string, frame []byte) {
	if o.Trace != nil {
		o.Trace(dir, frame)
	}
}

// cmdName names a request type for messages.
func cmdName(typ byte) string {
	switch typ {
	case cmdIdentify:
		return "IDENTIFY"
	case cmdStats:
		return "STATS"
	case cmdBench:
		return "BENCH"
	case cmdCompute:
		return "COMPUTE"
	case cmdStatus:
		return "STATUS"
	case cmdProv:
		return "PROVISION"
	case cmdRSA:
		return "RSA"
	}
	return fmt.Sprintf("command 0x%02x", typ)
}

// Device is an open management channel. Its methods are safe for
// concurrent use (requests are serialised).
type Device struct {
	mu      sync.Mutex
	conn    Conn
	r       *slip.Reader
	seq     byte
	opts    Options
	info    *Info
	dropped int // frames received that were not our reply
}

// Open opens the serial port at path (115200 8N1) and returns a Device.
// Port errors map to ErrPortNotFound, ErrPortBusy, ErrPermission or
// ErrNotSerial, wrapped with the path. Unless opts.Reset is ResetNever,
// Open then waits until the device answers (WaitReady: the board may have
// reset into its bootloader when the port opened); if nothing answers
// within opts.ReadyWait it closes the port and returns an error wrapping
// ErrNoAnswer.
func Open(path string, opts *Options) (*Device, error) {
	p, err := OpenPort(path)
	if err != nil {
		return nil, err
	}
	if opts != nil {
		opts.logf("port %s opened (%d 8N1)", path, Baud)
	}
	d, err := New(p, opts)
	if err != nil {
		return nil, err
	}
	if d.opts.Reset == ResetNever {
		return d, nil
	}
	if err := d.WaitReady(context.Background(), d.opts.ReadyWait); err != nil {
		d.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return d, nil
}

// OpenPort opens the serial port at path at the device's line settings
// (115200 8N1, no flow control). The port is locked (flock) against other
// mstool processes and programs that honour locks, so a second opener gets
// ErrPortBusy, even as root, for which the kernel's TIOCEXCL does not
// apply; the lock is released when the returned port is closed. Errors
// map to ErrPortNotFound, ErrPortBusy, ErrPermission or ErrNotSerial,
// wrapped with the path.
func OpenPort(path string) (serial.Port, error) {
	lock, err := lockPort(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", classify(err), path, err)
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("%w: %s: %v", classify(err), path, err)
	}
	if lock == nil {
		return p, nil
	}
	return &lockedPort{Port: p, lock: lock}, nil
}

// lockedPort releases its lock when the port is closed.
type lockedPort struct {
	serial.Port
	lock io.Closer
}

func (p *lockedPort) Close() error {
	err := p.Port.Close()
	p.lock.Close()
	return err
}

func classify(err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return ErrPortBusy
		case serial.PortNotFound:
			return ErrPortNotFound
		case serial.PermissionDenied:
			return ErrPermission
		case serial.InvalidSerialPort:
			return ErrNotSerial
		}
	}
	switch {
	case errors.Is(err, errLocked):
		return ErrPortBusy
	case errors.Is(err, fs.ErrNotExist):
		return ErrPortNotFound
	case errors.Is(err, fs.ErrPermission):
		return ErrPermission
	}
	return ErrNotSerial
}

// New wraps an open Conn. The input buffer is flushed first: stale bytes
// from before the port was opened are not replies.
func New(c Conn, opts *Options) (*Device, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	switch {
	case o.Retries < 0:
		o.Retries = 0
	case o.Retries == 0:
		o.Retries = 2
	}
	if err := c.SetReadTimeout(50 * time.Millisecond); err != nil {
		c.Close()
		return nil, fmt.Errorf("device: %w", err)
	}
	_ = c.ResetInputBuffer()
	return &Device{conn: c, r: slip.NewReader(c, 2048), opts: o, seq: byte(time.Now().UnixNano())}, nil
}

// Close closes the port.
func (d *Device) Close() error { return d.conn.Close() }

// request sends one request and waits for the reply with the same
// sequence number, retrying on timeout. extra extends the timeout.
func (d *Device) request(ctx context.Context, typ byte, payload []byte, extra time.Duration) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.info != nil && overhead+len(payload) > d.info.FrameMax {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, overhead+len(payload), d.info.FrameMax)
	}
	var lastErr error
	for attempt := 0; attempt <= d.opts.Retries; attempt++ {
		d.seq++
		seq := d.seq
		if err := d.send(typ, seq, payload); err != nil {
			return nil, err
		}
		reply, err := d.await(ctx, typ, seq, d.opts.Timeout+extra)
		if err == nil {
			return reply, nil
		}
		var re *RemoteError
		if errors.As(err, &re) && re.Code == ErrCodeCommand && (typ == cmdBench || typ == cmdCompute || typ == cmdRSA) {
			return nil, fmt.Errorf("%w: %w", ErrNoEngineering, err)
		}
		if !errors.Is(err, ErrNoAnswer) {
			return nil, err
		}
		if attempt < d.opts.Retries {
			d.opts.logf("%s: no reply within %v, retry %d/%d", cmdName(typ), d.opts.Timeout+extra, attempt+1, d.opts.Retries)
		} else {
			d.opts.logf("%s: no reply within %v, no retries left", cmdName(typ), d.opts.Timeout+extra)
		}
		lastErr = err
	}
	return nil, lastErr
}

// send writes one request frame.
func (d *Device) send(typ, seq byte, payload []byte) error {
	f := marshalFrame(typ, seq, payload)
	d.opts.trace("send", f)
	if _, err := d.conn.Write(slip.Encode(f)); err != nil {
		return fmt.Errorf("device: write: %w", err)
	}
	return nil
}

func (d *Device) await(ctx context.Context, typ, seq byte, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (no reply within %v)", ErrNoAnswer, timeout)
		}
		f, err := d.r.ReadFrame()
		if errors.Is(err, io.ErrNoProgress) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("device: read: %w", err)
		}
		d.opts.trace("recv", f)
		rtyp, rseq, payload, perr := parseFrame(f)
		if perr != nil || rseq != seq {
			d.dropped++ // IPv4, noise, or a late reply to an earlier attempt
			if perr != nil {
				d.opts.logf("dropped a frame of %d bytes: %v", len(f), perr)
			} else {
				d.opts.logf("dropped a reply to request %d (a late answer to an earlier attempt?)", rseq)
			}
			continue
		}
		switch rtyp {
		case typ | typeReply:
			return bytes.Clone(payload), nil
		case typeError:
			if len(payload) == 2 {
				return nil, &RemoteError{Code: payload[0], Command: payload[1]}
			}
			return nil, fmt.Errorf("device: malformed error reply %x", payload)
		default:
			d.dropped++
		}
	}
}

// Info is the device's answer to IDENTIFY.
type Info struct {
	Proto       int      `json:"protocol"`
	Firmware    string   `json:"firmware"`
	MCU         string   `json:"mcu"`
	Signature   string   `json:"signature"` // device signature bytes, hex
	FCPU        uint32   `json:"f_cpu"`
	Options     uint16   `json:"options"`
	OptionNames []string `json:"option_names"`
	FrameMax    int      `json:"frame_max"`
	PayloadMax  int      `json:"payload_max"`
	RxRing      int      `json:"uart_rx_ring"`
	TxRing      int      `json:"uart_tx_ring"`
	RAM         int      `json:"ram"`
	FlashKiB    int      `json:"flash_kib"`
	EEPROM      int      `json:"eeprom"`
}

// Option bits of Info.Options.
const (
	OptAESDecrypt = 1 << 0
	OptAESAsm     = 1 << 1
	OptMD5        = 1 << 2
	OptSHA256     = 1 << 3
	// OptEngineering: BENCH, COMPUTE and RSA are built (IDENTIFY bit 6;
	// bits 4 and 5 are docs/firmware-net.md's).
	OptEngineering = 1 << 6
	// OptMSSL: MSSL is built (IDENTIFY bit 7, CONFIG_MSSL). Firmware
	// built before the bit was defined leaves it clear either way.
	OptMSSL = 1 << 7
)

// Identify asks the device who it is. The answer is cached and also
// bounds later requests to the device's frame size.
func (d *Device) Identify(ctx context.Context) (*Info, error) {
	p, err := d.request(ctx, cmdIdentify, nil, 0)
	if err != nil {
		return nil, err
	}
	c := cursor{b: p, ok: true}
	in := &Info{Proto: int(c.u8())}
	v := c.bytes(3)
	in.FCPU = c.u32()
	sig := c.bytes(3)
	in.Options = c.u16()
	in.FrameMax = int(c.u16())
	in.PayloadMax = int(c.u16())
	in.RxRing = int(c.u16())
	in.TxRing = int(c.u16())
	in.RAM = int(c.u16())
	in.FlashKiB = int(c.u16())
	in.EEPROM = int(c.u16())
	name := c.bytes(int(c.u8()))
	if !c.ok || len(c.b) != 0 {
		return nil, fmt.Errorf("device: malformed identify reply (%d bytes)", len(p))
	}
	if in.Proto != protoVersion {
		return nil, fmt.Errorf("device: management protocol version %d, this mstool speaks %d", in.Proto, protoVersion)
	}
	in.Firmware = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
	in.Signature = fmt.Sprintf("%02x%02x%02x", sig[0], sig[1], sig[2])
	for _, ch := range name {
		// printed in messages and tables: never let a device put terminal
		// control sequences on the host's screen
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return nil, fmt.Errorf("device: malformed identify reply (MCU name %q)", name)
		}
	}
	in.MCU = string(name)
	for _, o := range []struct {
		bit  uint16
		name string
	}{{OptAESDecrypt, "aes-decrypt"}, {OptAESAsm, "aes-asm"}, {OptMD5, "md5"}, {OptSHA256, "sha256"}, {OptEngineering, "engineering"}, {OptMSSL, "mssl"}} {
		if in.Options&o.bit != 0 {
			in.OptionNames = append(in.OptionNames, o.name)
		}
	}
	d.mu.Lock()
	d.info = in
	d.mu.Unlock()
	return in, nil
}

// Stats are the device's counters since boot.
type Stats struct {
	FramesOK     uint32 `json:"frames_ok"`
	DropCRC      uint32 `json:"drop_crc"`
	DropLength   uint32 `json:"drop_length"`
	DropOversize uint32 `json:"drop_oversize"`
	DropEscape   uint32 `json:"drop_escape"`
	DropOther    uint32 `json:"drop_other"`
	IPv4         uint32 `json:"ipv4"`
	Errors       uint32 `json:"errors"`
	RxOverruns   uint32 `json:"rx_overruns"`
	ResetCause   byte   `json:"reset_cause"` // MCUSR at boot
}

// Stats reads the device's counters.
func (d *Device) Stats(ctx context.Context) (*Stats, error) {
	p, err := d.request(ctx, cmdStats, nil, 0)
	if err != nil {
		return nil, err
	}
	c := cursor{b: p, ok: true}
	s := &Stats{FramesOK: c.u32(), DropCRC: c.u32(), DropLength: c.u32(), DropOversize: c.u32(),
		DropEscape: c.u32(), DropOther: c.u32(), IPv4: c.u32(), Errors: c.u32(), RxOverruns: c.u32(), ResetCause: c.u8()}
	if !c.ok || len(c.b) != 0 {
		return nil, fmt.Errorf("device: malformed stats reply (%d bytes)", len(p))
	}
	return s, nil
}

// WriteRaw writes bytes to the line as they are (tests use it to send
// garbage). Replies the garbage provokes, if any, are discarded by later
// requests.
func (d *Device) WriteRaw(p []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.conn.Write(p)
	return err
}

// Request sends a raw management request and returns the reply payload
// (for tests of the protocol itself).
func (d *Device) Request(ctx context.Context, typ byte, payload []byte) ([]byte, error) {
	return d.request(ctx, typ, payload, 0)
}
