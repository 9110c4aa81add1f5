package gateway

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A browser sends the client certificate it chose for the gateway with
// every request to it, whichever page made the request: a page elsewhere
// could run a task as that identity (cross-site request forgery), with an
// <img src> for a GET, and an application task is run by a GET too. A
// request a browser marks cross-site (Sec-Fetch-Site) or sends from
// another origin (Origin) is 403, before anything runs; the gateway's
// own origin, a URL typed by the user (Sec-Fetch-Site: none) and clients
// that are not browsers are served.
func TestHTTPSCrossSiteRefused(t *testing.T) {
	erin := clientCert(t)
	dir := t.TempDir()
	tm := filepath.Join(dir, "pump.tasks")
	if err := os.WriteFile(tm, []byte("mstool-task-map 1\n17 pump args=u8:state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := httpsConfig(t, fmt.Sprintf("device dev3 port=/dev/null esp=%s task-map=%s\nidentity erin client-cert=%s tasks=id,pump devices=dev3\n",
		filepath.Join(dir, "x.sa"), tm, Fingerprint(erin.Certificate[0])))
	tg := startGW(t, cfg, Options{})
	started := make(chan struct{}, 16)
	tg.devs["dev3"].set(func(d *fakeDevice) { d.started = started })
	c := httpsClient(t, cfg, erin)
	base := "https://" + tg.g.HTTPSAddr().String()
	do := func(method, path string, h map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("1"))
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
		resp.Body.Close()
		return resp.StatusCode
	}
	ran := func() int {
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
	for _, tc := range []struct {
		name   string
		method string
		h      map[string]string
	}{
		{"img from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}},
		{"same site, other origin", "GET", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"PUT from another origin", "PUT", map[string]string{"Origin": "https://evil.example"}},
		{"GET from an opaque origin", "GET", map[string]string{"Origin": "null"}},
		{"plain-http origin of the same host", "GET", map[string]string{"Origin": "http://" + tg.g.HTTPSAddr().String()}},
	} {
		if code := do(tc.method, "/dev3/pump?state=1", tc.h); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, code)
		}
		if n := ran(); n != 0 {
			t.Errorf("%s: the device ran %d tasks", tc.name, n)
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
		// (the fake device does not know task 17: 404, once it ran)
		if code := do("GET", "/dev3/pump?state=1", tc.h); code != http.StatusNotFound {
			t.Errorf("%s: %d, want the device's answer (404)", tc.name, code)
		}
		if n := ran(); n != 1 {
			t.Errorf("%s: the device ran %d tasks, want 1", tc.name, n)
		}
	}
	// The page is only read: a link to it from elsewhere still opens it.
	if code := do("GET", "/dev3/", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusOK {
		t.Errorf("the page from a link elsewhere: %d", code)
	}
}
