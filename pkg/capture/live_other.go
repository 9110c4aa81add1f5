//go:build !linux

package capture

// OpenLive opens a live capture; only Linux (AF_PACKET) is supported.
func OpenLive(iface string) (LiveSource, error) { return nil, ErrLiveUnsupported }
