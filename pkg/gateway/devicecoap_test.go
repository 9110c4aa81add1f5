package gateway

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/mstool/mstool/internal/vectors"
)

// The device's CoAP server (firmware/lib/coap.c) is checked by the
// firmware's host test against vectors/coap.txt byte for byte. Here an
// implementation we did not write, go-coap's decoder, reads the same
// records: every request it accepts as a request is answered (unless it
// repeats a Non-confirmable one) with a response it accepts too, of the
// right type, message id and token, a response code and, with a payload,
// Content-Format 42; every message it does not accept as a request gets a
// Reset when its header says Confirmable, nothing otherwise.
func TestDeviceCoAPVectors(t *testing.T) {
	recs, err := vectors.Load(filepath.Join("..", "..", "vectors", "coap.txt"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{} // sender and request, in file order
	n := 0
	for _, r := range recs {
		if r.Text("alg") != "coap" {
			continue
		}
		n++
		req, resp := r.Hex("request"), r.Hex("response")
		src := []byte{10, 0, 0, 1, 0x9c, 0x40}
		if r.Has("src") {
			src = r.Hex("src")
		}
		key := string(src) + string(req)
		dup := seen[key]
		seen[key] = true

		m := message.Message{Options: make(message.Options, 0, 16)} // Decode fills, never grows
		_, derr := coder.DefaultCoder.Decode(req, &m)
		isRequest := derr == nil && m.Code >= codes.GET && m.Code < 0x20 &&
			!(len(req) > 0 && req[len(req)-1] == 0xFF) // a marker with no payload
		con := len(req) >= 1 && req[0]&0x30 == 0

		if !isRequest {
			if len(req) >= 4 && req[0]>>6 == 1 && con {
				if !bytes.Equal(resp, []byte{0x70, 0, req[2], req[3]}) {
					t.Errorf("%s (%s): not a request (%v), want a Reset, got %x", r.Text("name"), r.Pos(), derr, resp)
				}
			} else if len(resp) != 0 {
				t.Errorf("%s (%s): not a request, not Confirmable: want no reply, got %x", r.Text("name"), r.Pos(), resp)
			}
			continue
		}
		if len(resp) == 0 {
			if con || !dup {
				t.Errorf("%s (%s): request %v not answered", r.Text("name"), r.Pos(), m.String())
			}
			continue
		}
		p := message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(resp, &p); err != nil {
			t.Errorf("%s (%s): response %x: %v", r.Text("name"), r.Pos(), resp, err)
			continue
		}
		wantType := message.NonConfirmable
		if con {
			wantType = message.Acknowledgement
		}
		if p.Type != wantType || p.MessageID != int32(binary.BigEndian.Uint16(req[2:])) ||
			!bytes.Equal(p.Token, m.Token) {
			t.Errorf("%s (%s): response %v to %v: want type %v, the request's message id and token", r.Text("name"), r.Pos(), p.String(), m.String(), wantType)
		}
		if cls := p.Code >> 5; cls != 2 && cls != 4 && cls != 5 {
			t.Errorf("%s (%s): response code %v", r.Text("name"), r.Pos(), p.Code)
		}
		if len(p.Payload) > 0 {
			cf, err := p.Options.ContentFormat()
			if err != nil || cf != message.AppOctets || p.Code>>5 != 2 {
				t.Errorf("%s (%s): payload with %v, Content-Format %v (%v)", r.Text("name"), r.Pos(), p.Code, cf, err)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d coap records", n)
	}
}
