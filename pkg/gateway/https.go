package gateway

// HTTPS for browsers and scripts: the same task resources as CoAP,
// https://GATEWAY/DEVICE/TASK?ARGS answering the task result JSON of
// docs/json.md, and a server-rendered page per device (GET /DEVICE/).
// TLS 1.3 only; clients authenticate with a bearer token or a client
// certificate that an identity line names (docs/gateway.md, "HTTPS").

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/tasks"
)

// The certificate the gateway makes when the https line names none: its
// files next to the configuration, and how long it is valid.
const (
	DefaultCertFile = "gateway-https.crt"
	DefaultKeyFile  = "gateway-https.key"
	CertValidity    = 365 * 24 * time.Hour
)

// QueryTokenParam is the query parameter that carries a bearer token when
// the https line has query-token=on (RFC 6750 §2.3).
const QueryTokenParam = "access_token"

// Fingerprint is the SHA-256 of a certificate (DER) as openssl prints it,
// "sha256:AB:CD:...": the form an identity's client-cert= takes.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	parts := make([]string, len(h))
	for i, b := range h {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "sha256:" + strings.Join(parts, ":")
}

// LoadOrMakeCert returns the HTTPS certificate of cfg: the files cfg
// names (the key private to its owner, as every key file). With
// cfg.CertAuto and neither file there, it makes a self-signed ECDSA P-256
// certificate for cfg.CertHosts (default: localhost, 127.0.0.1, ::1 and
// this host's name) and writes the key 0600 (pkg/keyfile, never over an
// existing file); made reports that.
func LoadOrMakeCert(cfg *Config) (cert *tls.Certificate, made bool, err error) {
	_, errC := os.Stat(cfg.CertFile)
	_, errK := os.Stat(cfg.KeyFile)
	if cfg.CertAuto && errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist) {
		if err := makeCert(cfg.CertFile, cfg.KeyFile, cfg.CertHosts); err != nil {
			return nil, false, fmt.Errorf("gateway: https certificate: %w", err)
		}
		made = true
	}
	certPEM, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return nil, false, fmt.Errorf("gateway: https certificate: %w", err)
	}
	keyPEM, err := keyfile.ReadPrivate(cfg.KeyFile)
	if err != nil {
		return nil, false, fmt.Errorf("gateway: https key: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, false, fmt.Errorf("gateway: https certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	return &c, made, nil
}

func makeCert(certFile, keyFile string, hosts []string) error {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
		if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
			hosts = append(hosts, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mstool gateway " + hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(strings.TrimSpace(h)); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.TrimSpace(h))
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := keyfile.WriteNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return err
	}
	return keyfile.WriteNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// tokenEqual compares token hashes in constant time (a variable so a
// test can see it is the one used).
var tokenEqual = subtle.ConstantTimeCompare

// errNoCredential: the request carries no credential an identity has.
var errNoCredential = errors.New("no valid credential")

// identify finds the identity a request proves: its bearer token (the
// Authorization header, or with query-token=on the access_token
// parameter), else its client certificate. Every identity's token hash is
// compared, in constant time, whatever matches.
func (g *Gateway) identify(r *http.Request, query []string) (*Identity, []string, error) {
	token := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, t, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, query, errNoCredential
		}
		token = strings.TrimSpace(t)
	}
	rest := query[:0:0]
	for _, q := range query {
		if k, v, _ := strings.Cut(q, "="); k == QueryTokenParam {
			if !g.cfg.QueryToken {
				return nil, query, fmt.Errorf("%s in the URL is not accepted (query-token=on): send Authorization: Bearer", QueryTokenParam)
			}
			if token != "" {
				return nil, query, fmt.Errorf("a token in the header and in the URL")
			}
			token = v
			continue
		}
		rest = append(rest, q)
	}
	if token != "" {
		h := sha256.Sum256([]byte(token))
		var found *Identity
		for _, id := range g.cfg.Identities {
			if id.TokenHash != nil && tokenEqual(id.TokenHash, h[:]) == 1 {
				found = id
			}
		}
		if found == nil {
			return nil, rest, errNoCredential
		}
		return found, rest, nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		h := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		for _, id := range g.cfg.Identities {
			if id.CertHash != nil && subtle.ConstantTimeCompare(id.CertHash, h[:]) == 1 {
				return id, rest, nil
			}
		}
	}
	return nil, rest, errNoCredential
}

// HTTPStatus is the HTTP status of an outcome (docs/gateway.md, "HTTPS").
func HTTPStatus(o Outcome) int {
	switch o {
	case OK:
		return http.StatusOK
	case BadRequest:
		return http.StatusBadRequest
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case NotAcceptable:
		return http.StatusNotAcceptable
	case UnsupportedFormat:
		return http.StatusUnsupportedMediaType
	case DeviceFailed:
		return http.StatusBadGateway
	case Busy:
		return http.StatusServiceUnavailable
	case Unreachable:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// LastResult is the last result of a device's task, whoever asked.
type LastResult struct {
	Result tasks.Result
	At     time.Time
}

func (g *Gateway) remember(device string, r *tasks.Result) {
	if r == nil {
		return
	}
	g.lastMu.Lock()
	g.last[device+"/"+r.Task] = LastResult{Result: *r, At: time.Now()}
	g.lastMu.Unlock()
}

// Last returns the last result of task on device (ok false: none yet).
func (g *Gateway) Last(device, task string) (LastResult, bool) {
	g.lastMu.Lock()
	defer g.lastMu.Unlock()
	l, ok := g.last[device+"/"+task]
	return l, ok
}

// pageCSS is the page's only style; the CSP allows it by its hash.
const pageCSS = `body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}code{font-size:1.1em}`

var pageCSP = func() string {
	h := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

var pageTemplate = template.Must(template.New("device").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Device}}: mstool gateway</title><style>` + pageCSS + `</style></head>
<body><h1>Device {{.Device}}</h1>
<p>Tasks that <code>{{.Identity}}</code> may run, with the last result the gateway saw (from any client).</p>
<table><tr><th>task</th><th>method</th><th>parameters</th><th>last result</th><th>at</th></tr>
{{range .Rows}}<tr><td><code>{{.Path}}</code></td><td>{{.Method}}</td><td>{{.Args}}</td><td>{{if .Has}}{{range .Fields}}<code>{{.}}</code> {{end}}{{else}}none yet{{end}}</td><td>{{.At}}</td></tr>
{{end}}</table></body></html>
`))

type pageRow struct {
	Path, Method, Args, At string
	Has                    bool
	Fields                 []string
}

// resultFields are a result's fields as "name: value", in order.
func resultFields(r *tasks.Result) []string {
	var out []string
	for _, f := range r.Fields {
		out = append(out, fmt.Sprintf("%s: %v", f.Name, f.Value))
	}
	if len(out) == 0 {
		out = append(out, "status: "+r.Status)
	}
	return out
}

// MaxHTTPBody bounds a PUT body (as MaxMessage a CoAP message).
const MaxHTTPBody = MaxMessage

// formatOther is a payload format the gateway does not read.
const formatOther Format = -2

func (g *Gateway) httpsServer() *http.Server {
	return &http.Server{
		Handler: http.HandlerFunc(g.serveHTTP),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			MaxVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{*g.cert},
			// Any client certificate is asked for and its signature
			// checked by crypto/tls; an identity line names the ones
			// that mean anything (by fingerprint): no CA.
			ClientAuth: tls.RequestClientCert,
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       g.opt.Idle,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		// A connection closed before its TLS handshake completed (a
		// client that offered no TLS 1.3, aborted, sent garbage or
		// nothing until ReadHeaderTimeout) is counted; net/http
		// reports its error only to ErrorLog.
		ConnState: func(c net.Conn, s http.ConnState) {
			if tc, ok := c.(*tls.Conn); ok && s == http.StateClosed && !tc.ConnectionState().HandshakeComplete {
				g.st.httpsHandshakeFailed.Add(1)
			}
		},
	}
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	who := "-"
	reply := func(code int, ctype string, body []byte) {
		if g.opt.RequestLog != nil {
			path := r.URL.Path
			if q := redactQuery(r.URL.RawQuery); q != "" {
				path += "?" + q
			}
			g.opt.RequestLog(fmt.Sprintf("%s %s %s (https): %d %s (%d ms)", who, r.Method, logPath(path), code, http.StatusText(code), time.Since(t0).Milliseconds()))
		}
		hd.Set("Content-Type", ctype)
		w.WriteHeader(code)
		w.Write(body)
	}
	fail := func(code int, msg string) {
		b, _ := json.Marshal(map[string]any{"error": msg, "status": code})
		reply(code, "application/json", append(b, '\n'))
	}
	var query []string
	if r.URL.RawQuery != "" {
		for _, q := range strings.Split(r.URL.RawQuery, "&") {
			u, err := url.QueryUnescape(q)
			if err != nil {
				fail(http.StatusBadRequest, "the query is not URL-encoded")
				return
			}
			query = append(query, u)
		}
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(segs) == 2 && segs[1] != "" {
		if why := crossSite(r); why != "" {
			fail(http.StatusForbidden, "a cross-site request ("+why+") may not run a task: open the gateway's own page, or use curl")
			return
		}
	}
	id, query, err := g.identify(r, query)
	if err != nil {
		hd.Set("WWW-Authenticate", `Bearer realm="mstool gateway"`)
		fail(http.StatusUnauthorized, err.Error())
		return
	}
	who = id.Name
	if len(segs) != 2 {
		fail(http.StatusNotFound, "resources are /DEVICE/TASK, pages /DEVICE/")
		return
	}
	if segs[1] == "" {
		if r.Method != http.MethodGet {
			hd.Set("Allow", "GET")
			fail(http.StatusMethodNotAllowed, "GET")
			return
		}
		code, page := g.page(id, segs[0])
		if code != http.StatusOK {
			fail(code, page)
			return
		}
		reply(code, "text/html; charset=utf-8", []byte(page))
		return
	}
	req := &Request{Identity: id.Name, Device: segs[0], Task: segs[1], Query: query, Format: FormatNone, Accept: FormatJSON}
	switch r.Method {
	case http.MethodGet:
		req.Method = GET
	case http.MethodPut:
		req.Method = PUT
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHTTPBody))
		if err != nil {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("a body of at most %d bytes", MaxHTTPBody))
			return
		}
		req.Payload = b
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, _ := mime.ParseMediaType(ct)
			switch mt {
			case "text/plain":
				req.Format = FormatText
			case "application/json":
				req.Format = FormatJSON
			default:
				req.Format = formatOther
			}
		}
	default:
		// 405 in the order of the checks (docs/gateway.md, "Errors"):
		// after 404, 403 and the query's 400.
		req.Method = OtherMethod
	}
	resp := g.Do(r.Context(), req)
	code := HTTPStatus(resp.Outcome)
	if resp.Outcome != OK {
		switch {
		case resp.Outcome == Busy:
			hd.Set("Retry-After", "1")
		case resp.Outcome == MethodNotAllowed && req.Method == OtherMethod:
			hd.Set("Allow", "GET, PUT")
		}
		fail(code, resp.Message)
		return
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		*tasks.Result
	}{"task", resp.Result})
	reply(code, "application/json", append(b, '\n'))
}

// crossSite reports why r is a browser's request made on behalf of
// another site ("" when it is not): its Sec-Fetch-Site is neither
// same-origin nor none (a page elsewhere, an <img> or a form, a link
// followed from elsewhere), or its Origin is not the gateway's own. A
// browser sends a client certificate it has chosen for the gateway with
// any request, whichever page made it, so without this check any web page
// could run a task as that identity: a GET of an application task (which
// GET may run) from an <img src>. Tokens in a header are not sent by the
// browser on its own; the check applies to every credential all the same,
// since the gateway serves no cross-origin client (it sends no CORS
// headers). Clients that are not browsers send neither header.
func crossSite(r *http.Request) string {
	switch s := r.Header.Get("Sec-Fetch-Site"); s {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + s
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, r.Host) {
			return "Origin: " + o
		}
	}
	return ""
}

// redactQuery hides a query token from the request log: every parameter
// whose name, percent-decoded as serveHTTP decodes it for identify, is
// access_token (access%5Ftoken=, %61ccess_token=, access_token%3D...).
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		u, err := url.QueryUnescape(p)
		if err != nil {
			u = p
		}
		if k, _, _ := strings.Cut(u, "="); k == QueryTokenParam {
			parts[i] = QueryTokenParam + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// page renders GET /DEVICE/ for id: the tasks it may run there and their
// last results; or a status and why not.
func (g *Gateway) page(id *Identity, device string) (int, string) {
	if g.devices[device] == nil {
		return http.StatusNotFound, fmt.Sprintf("no device %q", device)
	}
	var rows []pageRow
	for _, rs := range g.Resources(id.Name) {
		if rs.Device != device {
			continue
		}
		row := pageRow{Path: rs.Path, Method: "GET", Args: strings.Join(rs.Args, ", ")}
		if rs.Writes {
			row.Method = "PUT"
			if rs.Task == "led" {
				row.Method = "GET, PUT"
			}
		}
		if l, ok := g.Last(device, rs.Task); ok {
			row.Has, row.Fields, row.At = true, resultFields(&l.Result), l.At.UTC().Format(time.RFC3339)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return http.StatusForbidden, fmt.Sprintf("identity %s may not use device %s", id.Name, device)
	}
	var b strings.Builder
	if err := pageTemplate.Execute(&b, struct {
		Device, Identity string
		Rows             []pageRow
	}{device, id.Name, rows}); err != nil {
		return http.StatusInternalServerError, "the page did not render"
	}
	return http.StatusOK, b.String()
}
