package gateway

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appTaskGateway starts a gateway whose device dev3 (a fake device that
// does not know tasks 17 and 18: 404 once it ran them) has two
// application tasks, pump (17, changes the device) and level (18,
// read-only), which identity erin (a client certificate) may run over
// HTTPS. do sends a request without a body, with headers h, and returns the
// status and body; ran returns how many tasks the device ran since its
// last call; base is the gateway's origin.
func appTaskGateway(t *testing.T) (do func(method, path string, h map[string]string) (int, string), ran func() int, base string) {
	erin := clientCert(t)
	dir := t.TempDir()
	tm := filepath.Join(dir, "pump.tasks")
	if err := os.WriteFile(tm, []byte("mstool-task-map 1\n17 pump args=u8:state\n18 level read-only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := httpsConfig(t, fmt.Sprintf("device dev3 port=/dev/null esp=%s task-map=%s\nidentity erin client-cert=%s tasks=id,pump,level devices=dev3\n",
		filepath.Join(dir, "x.sa"), tm, Fingerprint(erin.Certificate[0])))
	tg := startGW(t, cfg, Options{})
	started := make(chan struct{}, 16)
	tg.devs["dev3"].set(func(d *fakeDevice) { d.started = started })
	c := httpsClient(t, cfg, erin)
	base = "https://" + tg.g.HTTPSAddr().String()
	do = func(method, path string, h map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ran = func() int {
		n := 0
		for {
			select {
			case <-started:
				n++
			default:
				return n
			}
		}
	}
	return do, ran, base
}

// A browser sends the client certificate it chose for the gateway with
// every request to it, whichever page made the request: a page elsewhere
// could run a task as that identity (cross-site request forgery), with an
// <img src> for a GET, or a form. A request a browser marks cross-site
// (Sec-Fetch-Site) or sends from another origin (Origin) is 403, before
// anything runs; the gateway's own origin, a URL typed by the user
// (Sec-Fetch-Site: none) and clients that are not browsers are served.
func TestHTTPSCrossSiteRefused(t *testing.T) {
	do, ran, base := appTaskGateway(t)
	for _, tc := range []struct {
		name   string
		method string
		h      map[string]string
	}{
		{"img from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}},
		{"same site, other origin", "GET", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"PUT from another origin", "PUT", map[string]string{"Origin": "https://evil.example"}},
		{"GET from an opaque origin", "GET", map[string]string{"Origin": "null"}},
		{"plain-http origin of the same host", "GET", map[string]string{"Origin": "http://" + strings.TrimPrefix(base, "https://")}},
	} {
		for _, path := range []string{"/dev3/pump?state=1", "/dev3/level"} {
			if code, _ := do(tc.method, path, tc.h); code != http.StatusForbidden {
				t.Errorf("%s: %s %s: %d, want 403", tc.name, tc.method, path, code)
			}
			if n := ran(); n != 0 {
				t.Errorf("%s: the device ran %d tasks", tc.name, n)
			}
		}
	}
	for _, tc := range []struct {
		name string
		h    map[string]string
	}{
		{"no browser headers", nil},
		{"typed URL", map[string]string{"Sec-Fetch-Site": "none"}},
		{"the gateway's own origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": base}},
	} {
		if code, _ := do("PUT", "/dev3/pump?state=1", tc.h); code != http.StatusNotFound {
			t.Errorf("%s: %d, want the device's answer (404)", tc.name, code)
		}
		if n := ran(); n != 1 {
			t.Errorf("%s: the device ran %d tasks, want 1", tc.name, n)
		}
	}
	// The page is only read: a link to it from elsewhere still opens it.
	if code, _ := do("GET", "/dev3/", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusOK {
		t.Errorf("the page from a link elsewhere: %d", code)
	}
}

// An application task may change the device unless its task map line
// says read-only: a GET of it is 405 and runs nothing (a GET must be
// safe: a client, a proxy or a browser's prefetch may repeat it); a
// read-only one is a GET, as the built-in reads are. The page and
// /.well-known/core give each its method.
func TestAppTaskMethods(t *testing.T) {
	do, ran, _ := appTaskGateway(t)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
		runs         int
	}{
		{"GET", "/dev3/pump?state=1", http.StatusMethodNotAllowed, "(its task map line does not say read-only): use PUT", 0},
		{"GET", "/dev3/pump", http.StatusBadRequest, "pump takes", 0},
		{"PUT", "/dev3/pump?state=1", http.StatusNotFound, "", 1},
		{"GET", "/dev3/level", http.StatusNotFound, "", 1},
		{"PUT", "/dev3/level", http.StatusMethodNotAllowed, "use GET", 0},
	} {
		code, body := do(tc.method, tc.path, nil)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
		if n := ran(); n != tc.runs {
			t.Errorf("%s %s: the device ran %d tasks, want %d", tc.method, tc.path, n, tc.runs)
		}
	}
	_, page := do("GET", "/dev3/", nil)
	for _, want := range []string{"<code>/dev3/pump</code></td><td>PUT</td>", "<code>/dev3/level</code></td><td>GET</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
}
