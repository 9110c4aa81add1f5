package device

import (
	"context"
	"errors"
	"fmt"
)

// cmdBootstrap is the management command that carries one flight of
// secure bootstrapping to the device (docs/management.md, BOOTSTRAP;
// firmware/lib/bootstrap.c): the request payload is flight 4, the reply
// payload flight 5 or the device's NAK (docs/bootstrap.md).
const cmdBootstrap = 0x07

// ErrNoBootstrap reports a firmware built without CONFIG_BOOTSTRAP.
var ErrNoBootstrap = errors.New("device: this firmware does not answer bootstrap flights (built without CONFIG_BOOTSTRAP)")

// Bootstrap sends one bootstrap flight (flight 4) and returns the
// device's reply (flight 5 or a NAK). A payload the device does not take
// for a flight 4 gets a format error.
func (d *Device) Bootstrap(ctx context.Context, flight []byte) ([]byte, error) {
	p, err := d.request(ctx, cmdBootstrap, flight, 0)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Code == ErrCodeCommand {
			return nil, fmt.Errorf("%w: %w", ErrNoBootstrap, err)
		}
		return nil, err
	}
	return p, nil
}
