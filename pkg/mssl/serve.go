package mssl

import (
	"errors"
	"io"
	"net"
	"net/netip"
)

// ServePacket answers MSSL datagrams on pc until pc is closed, as the
// device does on its UDP port.
func (s *Server) ServePacket(pc net.PacketConn) error {
	buf := make([]byte, 65536)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		peer := ua.AddrPort()
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		for _, m := range s.Handle(peer, buf[:n]) {
			if _, err := pc.WriteTo(m, addr); err != nil {
				return err
			}
		}
	}
}

// ServeStream answers length-prefixed MSSL messages on rw until it ends;
// peer stands for the stream's source address (the grant's host address
// check uses it).
func (s *Server) ServeStream(rw io.ReadWriter, peer netip.AddrPort) error {
	for {
		m, err := ReadFrame(rw)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		for _, r := range s.Handle(peer, m) {
			if err := WriteFrame(rw, r); err != nil {
				return err
			}
		}
	}
}
