package gateway

import (
	"bytes"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// rawExchange sends one request with the options and payload given on a
// raw DTLS session and returns the response to it (Acknowledgement or
// Non-confirmable with its token); wait bounds how long it waits (ok
// false: no response).
func rawExchange(t *testing.T, dc *piondtls.Conn, typ message.Type, mid uint16, code codes.Code, path string, payload []byte, wait time.Duration, opts ...message.Option) (r message.Message, body string, ok bool) {
	t.Helper()
	p, q, _ := strings.Cut(path, "?")
	m := message.Message{Code: code, Type: typ, MessageID: int32(mid), Token: []byte{0x5c, byte(mid >> 8), byte(mid)}, Payload: payload}
	var err error
	if m.Options, _, err = m.Options.SetPath(make([]byte, 64), p); err != nil {
		t.Fatal(err)
	}
	for _, x := range strings.Split(q, "&") {
		if x != "" {
			m.Options = m.Options.Add(message.Option{ID: message.URIQuery, Value: []byte(x)})
		}
	}
	for _, o := range opts {
		m.Options = m.Options.Add(o)
	}
	b := make([]byte, 2048)
	n, err := coder.DefaultCoder.Encode(m, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Write(b[:n]); err != nil {
		t.Fatal(err)
	}
	dc.SetReadDeadline(time.Now().Add(wait))
	defer dc.SetReadDeadline(time.Time{})
	for {
		n, err := dc.Read(b)
		if err != nil {
			return r, "", false
		}
		r = message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(b[:n], &r); err != nil {
			t.Fatalf("%v %s: an answer that is not CoAP: %x", code, path, b[:n])
		}
		if bytes.Equal(r.Token, m.Token) && (r.Type == message.Acknowledgement && r.MessageID == int32(mid) || r.Type == message.NonConfirmable) {
			return r, string(r.Payload), true
		}
	}
}

func block1(num uint32, more bool, szx uint32) message.Option {
	v := num<<4 | szx
	if more {
		v |= 8
	}
	b := []byte{byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return message.Option{ID: message.Block1, Value: b}
}

// Critical options the gateway does not act on are refused (RFC 7252
// §5.4.1), not ignored: a conditional PUT (If-Match, If-None-Match) is
// 4.02 and runs no task, as is a Non-confirmable one (rejected: no
// answer); Proxy-Uri and Proxy-Scheme are 5.05 (§5.7.2).
func TestGatewayCriticalOptions(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	dc := rawSession(t, tg.g.Addr(), "alice", keyAlice)
	led := func(mid uint16) string {
		_, body, ok := rawExchange(t, dc, message.Confirmable, mid, codes.GET, "/dev1/led", nil, 10*time.Second)
		if !ok {
			t.Fatal("GET /dev1/led: no answer")
		}
		return body
	}
	if l := led(1); !strings.Contains(l, "led: false") {
		t.Fatalf("led at start: %q", l)
	}
	for i, tc := range []struct {
		name string
		opt  message.Option
		code codes.Code
	}{
		{"If-Match", message.Option{ID: message.IfMatch, Value: []byte{0x12, 0x34}}, codes.BadOption},
		{"If-None-Match", message.Option{ID: message.IfNoneMatch}, codes.BadOption},
		{"Proxy-Uri", message.Option{ID: message.ProxyURI, Value: []byte("coap://192.0.2.1/x")}, codes.ProxyingNotSupported},
		{"Proxy-Scheme", message.Option{ID: message.ProxyScheme, Value: []byte("coap")}, codes.ProxyingNotSupported},
	} {
		mid := uint16(10 + i)
		r, body, ok := rawExchange(t, dc, message.Confirmable, mid, codes.PUT, "/dev1/led", []byte("on"), 10*time.Second, tc.opt)
		if !ok || r.Code != tc.code {
			t.Errorf("PUT /dev1/led with %s: %v %q (answered %v), want %v", tc.name, r.Code, body, ok, tc.code)
		}
		if l := led(mid + 100); !strings.Contains(l, "led: false") {
			t.Fatalf("PUT /dev1/led with %s turned the LED on: %q", tc.name, l)
		}
	}
	if _, _, ok := rawExchange(t, dc, message.NonConfirmable, 20, codes.PUT, "/dev1/led", []byte("on"), 500*time.Millisecond,
		message.Option{ID: message.IfMatch, Value: []byte{1}}); ok {
		t.Error("a Non-confirmable PUT with If-Match is answered")
	}
	if l := led(21); !strings.Contains(l, "led: false") {
		t.Fatalf("a Non-confirmable PUT with If-Match turned the LED on: %q", l)
	}
	// The options the gateway does act on still work.
	if r, body, _ := rawExchange(t, dc, message.Confirmable, 22, codes.GET, "/dev1/adc?ch=3", nil, 10*time.Second,
		message.Option{ID: message.URIHost, Value: []byte("gw.example")}, message.Option{ID: message.URIPort, Value: []byte{0x16, 0x34}}); r.Code != codes.Content {
		t.Errorf("GET with Uri-Host and Uri-Port: %v %q", r.Code, body)
	}
}

// A request body sent block-wise (Block1, RFC 7959) is assembled up to
// MaxMessage, as a body in one message: a block beyond it (or a Size1
// over it) is 4.13 with Size1 at once, so that a client cannot make the
// gateway hold a body of any size; a transfer within it is served.
func TestGatewayBlock1Bounded(t *testing.T) {
	tg := startGW(t, testConfig(t, "plain 127.0.0.1:0 identity=alice\n"), Options{})
	dc := rawSession(t, tg.g.Addr(), "alice", keyAlice)
	full := bytes.Repeat([]byte("1"), 1024)
	// SZX 6: 1024-byte blocks. Block 0 fits; block 1 would end past
	// MaxMessage.
	r, body, ok := rawExchange(t, dc, message.Confirmable, 1, codes.PUT, "/dev1/settings-write", full, 10*time.Second, block1(0, true, 6))
	if !ok || r.Code != codes.Continue {
		t.Fatalf("block 0 of 1024: %v %q", r.Code, body)
	}
	r, body, ok = rawExchange(t, dc, message.Confirmable, 2, codes.PUT, "/dev1/settings-write", full, 10*time.Second, block1(1, true, 6))
	if s1, _ := r.Options.GetUint32(message.Size1); !ok || r.Code != codes.RequestEntityTooLarge || s1 != MaxMessage {
		t.Errorf("block 1 of 1024 (body over %d bytes): %v %q, Size1 %d", MaxMessage, r.Code, body, s1)
	}
	// A Size1 over the limit: refused at the first block.
	r, body, _ = rawExchange(t, dc, message.Confirmable, 3, codes.PUT, "/dev1/settings-write", full[:16], 10*time.Second,
		block1(0, true, 0), message.Option{ID: message.Size1, Value: []byte{0x10, 0x00}})
	if r.Code != codes.RequestEntityTooLarge {
		t.Errorf("Size1 4096: %v %q", r.Code, body)
	}
	// Within the limit: "1 4660" in 16-byte blocks.
	arg := []byte("1              4660")
	r, body, _ = rawExchange(t, dc, message.Confirmable, 4, codes.PUT, "/dev1/settings-write", arg[:16], 10*time.Second, block1(0, true, 0))
	if r.Code != codes.Continue {
		t.Fatalf("small block-wise PUT, block 0: %v %q", r.Code, body)
	}
	r, body, _ = rawExchange(t, dc, message.Confirmable, 5, codes.PUT, "/dev1/settings-write", arg[16:], 10*time.Second, block1(1, false, 0))
	if r.Code != codes.Changed || !strings.Contains(body, "value: 4660") {
		t.Errorf("small block-wise PUT, block 1: %v %q", r.Code, body)
	}
}
