package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
)

// MaxMessage bounds a CoAP message the gateway reads (task arguments and
// results are small), and a request body sent block-wise (Block1, RFC
// 7959): a larger one is refused at its first block (tooLarge).
const MaxMessage = 1152

// maxBlockTransfers bounds the block-wise request bodies one CoAP session
// (or plain CoAP address) assembles at once (go-coap's default: 4096).
const maxBlockTransfers = 2

// CoAPCode is the response code of an outcome (RFC 7252 §5.9).
func CoAPCode(o Outcome, m Method) codes.Code {
	switch o {
	case OK:
		if m == PUT {
			return codes.Changed
		}
		return codes.Content
	case BadRequest:
		return codes.BadRequest
	case Forbidden:
		return codes.Forbidden
	case NotFound:
		return codes.NotFound
	case MethodNotAllowed:
		return codes.MethodNotAllowed
	case NotAcceptable:
		return codes.NotAcceptable
	case UnsupportedFormat:
		return codes.UnsupportedMediaType
	case DeviceFailed:
		return codes.BadGateway
	case Busy:
		return codes.ServiceUnavailable
	case Unreachable:
		return codes.GatewayTimeout
	}
	return codes.InternalServerError
}

type handler struct{ g *Gateway }

func (h *handler) errorsFunc(err error) {
	var me *udpClient.MalformedMessageError
	if errors.As(err, &me) {
		h.g.st.coapMalformed.Add(1)
		return
	}
	var he *handshakeError
	if errors.As(err, &he) {
		return // counted: handshake_failed
	}
	h.g.st.errors.Add(1)
}

func (h *handler) dtlsServer(ctx context.Context) *dtlsServer.Server {
	return dtlsServer.New(
		options.WithContext(ctx),
		options.WithHandlerFunc(func(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
			id := ""
			if c, ok := w.Conn().NetConn().(*dtlsConn); ok {
				id = c.identity
			}
			h.serve(w, r, id)
		}),
		options.WithErrors(h.errorsFunc),
		options.WithMaxMessageSize(MaxMessage),
		options.WithRequestMonitor(h.tooLarge),
		options.WithBlockwiseReceivingMessagesCacheMaxEntries(maxBlockTransfers),
		options.WithDTLSHandshakeTimeout(h.g.opt.HandshakeTimeout),
		options.WithInactivityMonitor(h.g.opt.Idle, func(cc *udpClient.Conn) { cc.Close() }),
	)
}

// plainServer serves plain CoAP: go-coap's DTLS server (one session per
// source address, no handshake) on plainListener, so that the plain port
// keeps state for at most Options.MaxPeers addresses, as the DTLS port.
func (h *handler) plainServer(ctx context.Context) *dtlsServer.Server {
	return dtlsServer.New(
		options.WithContext(ctx),
		options.WithHandlerFunc(func(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
			h.serve(w, r, h.g.cfg.PlainIdentity)
		}),
		options.WithErrors(h.errorsFunc),
		options.WithMaxMessageSize(MaxMessage),
		options.WithRequestMonitor(h.tooLarge),
		options.WithBlockwiseReceivingMessagesCacheMaxEntries(maxBlockTransfers),
		options.WithInactivityMonitor(h.g.opt.Idle, func(cc *udpClient.Conn) { cc.Close() }),
	)
}

// tooLarge is go-coap's request monitor: it runs on every message before
// go-coap's block-wise layer stores a block. A block of a request body
// (Block1, RFC 7959) whose body would exceed MaxMessage (its offset and
// payload, or its Size1) is answered 4.13 Request Entity Too Large with
// Size1 MaxMessage (§2.9.3) and dropped, so that no client makes the
// gateway assemble a body larger than a message it takes whole (go-coap
// has no limit of its own: a client could send blocks for as long as
// the transfer lasts).
func (h *handler) tooLarge(cc *udpClient.Conn, r *pool.Message) (bool, error) {
	if r.Code() < codes.GET || r.Code() >= 32 || (r.Type() != message.Confirmable && r.Type() != message.NonConfirmable) {
		return false, nil
	}
	b1, err := r.GetOptionUint32(message.Block1)
	if err != nil {
		return false, nil
	}
	size := int64(0)
	if szx, num, _, err := blockwise.DecodeBlockOption(b1); err == nil {
		size = num * szx.Size()
	}
	if n, err := r.BodySize(); err == nil {
		size += n
	}
	if s1, err := r.GetOptionUint32(message.Size1); err == nil {
		size = max(size, int64(s1))
	}
	if size <= MaxMessage {
		return false, nil
	}
	h.g.st.requests.Add(1)
	h.g.st.byClass[4].Add(1)
	resp := cc.AcquireMessage(cc.Context())
	defer cc.ReleaseMessage(resp)
	resp.SetCode(codes.RequestEntityTooLarge)
	resp.SetToken(r.Token())
	if r.Type() == message.Confirmable {
		resp.SetType(message.Acknowledgement)
		resp.SetMessageID(r.MessageID())
	} else {
		resp.SetType(message.NonConfirmable)
		resp.SetMessageID(cc.GetMessageID())
	}
	resp.SetOptionUint32(message.Size1, MaxMessage)
	resp.SetContentFormat(message.TextPlain)
	resp.SetBody(bytes.NewReader([]byte(fmt.Sprintf("a request body of at most %d bytes", MaxMessage))))
	if err := cc.Session().WriteMessage(resp); err != nil {
		h.g.st.errors.Add(1)
	}
	return true, nil
}

// optionError checks a request's critical options (RFC 7252 §5.4.1): the
// gateway acts on Uri-Host, Uri-Port, Uri-Path, Uri-Query, Accept, and
// Block1 and Block2 (go-coap's block-wise layer). Proxy-Uri and
// Proxy-Scheme are 5.05 (§5.7.2: the gateway is no forward proxy); any
// other, such as If-Match and If-None-Match (conditional requests,
// §5.10.8, which the gateway does not implement: it would run a PUT the
// client meant to be conditional), is 4.02 Bad Option. go-coap itself
// answers critical options it does not know with 4.02.
func optionError(r *pool.Message) (codes.Code, string) {
	for _, o := range r.Options() {
		switch o.ID {
		case message.URIHost, message.URIPort, message.URIPath, message.URIQuery, message.Accept, message.Block1, message.Block2:
		case message.ProxyURI, message.ProxyScheme:
			return codes.ProxyingNotSupported, "the gateway is not a proxy"
		default:
			if o.ID%2 == 1 {
				return codes.BadOption, fmt.Sprintf("option %d (%v) is not supported", o.ID, o.ID)
			}
		}
	}
	return 0, ""
}

func (h *handler) serve(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, identity string) {
	t0 := time.Now()
	reply := func(c codes.Code, f message.MediaType, body []byte) {
		if h.g.opt.RequestLog != nil {
			path, _ := r.Path()
			if q, _ := r.Queries(); len(q) > 0 {
				path += "?" + strings.Join(q, "&")
			}
			who := identity
			if who == "" {
				who = "-"
			}
			h.g.opt.RequestLog(fmt.Sprintf("%s %v %s: %d.%02d %v (%d ms)", who, r.Code(), logPath(path), c>>5, c&31, c, time.Since(t0).Milliseconds()))
		}
		var rd *bytes.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		if err := w.SetResponse(c, f, rd); err != nil {
			h.g.st.errors.Add(1)
		}
	}
	// Critical options first (RFC 7252 §5.4.1): an unsupported one in a
	// Non-confirmable request rejects it (§4.3): no answer, no task.
	if c, msg := optionError(r); c != 0 {
		if c == codes.BadOption && r.Type() == message.NonConfirmable {
			h.g.st.coapMalformed.Add(1)
			return
		}
		h.g.st.requests.Add(1)
		h.g.st.byClass[c>>5].Add(1)
		reply(c, message.TextPlain, []byte(msg))
		return
	}
	// The checks of docs/gateway.md, "Errors", in its order: the path
	// (4.04) first; Do checks the rest, the method and Accept last.
	path, _ := r.Path()
	accept := FormatNone
	if a, err := r.Accept(); err == nil {
		accept = Format(a)
	}
	if path == "/.well-known/core" || path == ".well-known/core" {
		switch {
		case r.Code() != codes.GET:
			reply(codes.MethodNotAllowed, message.TextPlain, []byte("GET"))
		case accept != FormatNone && accept != FormatLink:
			reply(codes.NotAcceptable, message.TextPlain, []byte("/.well-known/core answers in application/link-format (40)"))
		default:
			reply(codes.Content, message.AppLinkFormat, []byte(LinkFormat(h.g.Resources(identity))))
		}
		return
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != 2 {
		h.g.st.requests.Add(1)
		h.g.st.byClass[4].Add(1)
		reply(codes.NotFound, message.TextPlain, []byte("resources are /DEVICE/TASK (GET /.well-known/core lists them)"))
		return
	}
	m := OtherMethod
	switch r.Code() {
	case codes.GET:
		m = GET
	case codes.PUT:
		m = PUT
	}
	req := &Request{Identity: identity, Method: m, Device: segs[0], Task: segs[1], Format: FormatNone, Accept: accept}
	req.Query, _ = r.Queries()
	if cf, err := r.ContentFormat(); err == nil {
		req.Format = Format(cf)
	}
	if r.Body() != nil {
		b, err := r.ReadBody()
		if err != nil {
			reply(codes.BadRequest, message.TextPlain, nil)
			return
		}
		req.Payload = b
	}
	resp := h.g.Do(r.Context(), req)
	code := CoAPCode(resp.Outcome, m)
	if resp.Outcome != OK {
		// RFC 7252 §5.5.2: a diagnostic payload in plain text.
		reply(code, message.TextPlain, []byte(resp.Message))
		return
	}
	if req.Accept == FormatJSON {
		b, _ := json.Marshal(resp.Result)
		reply(code, message.AppJSON, b)
		return
	}
	reply(code, message.TextPlain, []byte(ResultText(resp)))
}

// ResultText is a result as text: one "name: value" line per field.
func ResultText(r *Response) string {
	var b strings.Builder
	for _, f := range r.Result.Fields {
		fmt.Fprintf(&b, "%s: %v\n", f.Name, f.Value)
	}
	if len(r.Result.Fields) == 0 && r.Result.Raw != "" {
		fmt.Fprintf(&b, "raw: %s\n", r.Result.Raw)
	}
	return b.String()
}

// LinkFormat is resources in the CoRE link format (RFC 6690): each with
// rt="mstool.task", the content-formats it answers in (ct), the methods
// (if="mstool.get" or "mstool.put") and its arguments as a title.
func LinkFormat(rs []Resource) string {
	links := make([]string, 0, len(rs))
	for _, r := range rs {
		iface := "mstool.get"
		if r.Writes {
			iface = "mstool.put"
		}
		l := fmt.Sprintf(`<%s>;rt="mstool.task";if="%s";ct="0 50"`, r.Path, iface)
		if len(r.Args) > 0 {
			l += fmt.Sprintf(`;title="%s"`, strings.Join(r.Args, "&"))
		}
		links = append(links, l)
	}
	return strings.Join(links, ",")
}
