package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mstool/mstool/internal/comparison"
)

const (
	markBegin = "<!-- comparison:begin (scripts/comparison.sh writes this part) -->"
	markEnd   = "<!-- comparison:end -->"
)

func readRun(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	return &r, json.Unmarshal(b, &r)
}

type sizeReport struct {
	Total   struct{ Flash, RAM int } `json:"total"`
	Groups  map[string]struct{ Flash, RAM int }
	Modules map[string]struct{ Flash, RAM int }
}

func readSize(path string) *sizeReport {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var s sizeReport
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}

// sum adds the modules of the image that it has; ok is false when it has
// none of them. used names those it has.
func (s *sizeReport) sum(mods ...string) (flash, ram int, used []string, ok bool) {
	for _, m := range mods {
		v, found := s.Modules[m]
		if !found {
			continue
		}
		used = append(used, m)
		flash += v.Flash
		ram += v.RAM
	}
	return flash, ram, used, len(used) > 0
}

func n(v int) string {
	s := fmt.Sprint(v)
	if v < 0 {
		return "−" + n(-v)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func cyc(c uint32) string {
	if c == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%.2f ms)", n(int(c)), float64(c)/16000)
}

// phase sums: messages each way, layers, device cycles.
type phaseSum struct {
	to, from int
	l        comparison.Layers
	cycles   uint32
}

func sumPhase(msgs []comparison.Message, phase string) phaseSum {
	var s phaseSum
	for _, m := range msgs {
		if m.Phase != phase {
			continue
		}
		if m.Dir == "→" {
			s.to++
		} else {
			s.from++
		}
		s.l = s.l.Add(m.Layers)
		s.cycles += m.Cycles
	}
	return s
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "directory of the measuring commands' JSON files")
	doc := fs.String("doc", "docs/COMPARISON.md", "document to update")
	ref := fs.String("size", "firmware/build/atmega328p/size-report.json", "size report of the reference image")
	prof := fs.String("profiles", "firmware/build/profile", "directory of the profile images (PROFILE/atmega328p/size-report.json)")
	stamp := fs.String("stamp", "", "what the figures were measured on (commit, date)")
	fs.Parse(args)
	espRun, err := readRun(*dir + "/esp.json")
	if err != nil {
		return err
	}
	msslRun, err := readRun(*dir + "/mssl.json")
	if err != nil {
		return err
	}
	dtlsRun, err := readRun(*dir + "/dtls.json")
	if err != nil {
		return err
	}
	coapRun, err := readRun(*dir + "/coap-esp.json")
	if err != nil {
		return err
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(markBegin)
	p("")
	p("Measured by `make comparison` (scripts/comparison.sh) %s: ATmega328P at 16 MHz on simavr (`mstool sim`, the reference image), "+
		"libcoap's `coap-client-openssl` against `mstool gateway`. Bytes are counted from the recorded messages "+
		"(internal/comparison); cycles are the device's Timer1 count for the message it answers "+
		"(management STATUS, \"cycles of the last IPv4 packet\": end of the request's SLIP frame to the answer queued).", *stamp)
	p("")

	// Per request.
	p("### Per request: read one ADC channel (task `adc`, channel 3)")
	p("")
	p("| row | message | app payload | app header | security | UDP | IPv4 | IPv4 packet | SLIP framing | serial line | device cycles |")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	reqRow := func(name string, msgs []comparison.Message, serial bool, pending string) {
		var t comparison.Layers
		var c uint32
		for _, m := range msgs {
			if m.Phase != comparison.PhaseRequest {
				continue
			}
			l := m.Layers
			sl, ser := n(l.SLIP), n(l.Serial())
			if !serial {
				sl, ser = "–", "–"
			}
			p("| %s | %s %s | %d | %d | %d | %d | %d | **%d** | %s | %s | %s |", name, m.Dir, m.Label, l.App, l.AppHeader, l.Security, l.UDP, l.IPv4, l.Wire(), sl, ser, cyc(m.Cycles))
			t = t.Add(l)
			c += m.Cycles
		}
		if pending != "" {
			p("| %s | %s | | | | | | | | | |", name, pending)
			return
		}
		sl, ser := n(t.SLIP), n(t.Serial())
		if !serial {
			sl, ser = "–", "–"
		}
		p("| %s | **request + response** | %d | %d | %d | %d | %d | **%d** | %s | %s | %s |", name, t.App, t.AppHeader, t.Security, t.UDP, t.IPv4, t.Wire(), sl, ser, cyc(c))
	}
	reqRow("(a) ESP CCM-8, task service", espRun.Messages, true, "")
	var first, resumed *Session
	for i := range msslRun.Sessions {
		if msslRun.Sessions[i].Cached {
			resumed = &msslRun.Sessions[i]
		} else {
			first = &msslRun.Sessions[i]
		}
	}
	if first == nil || resumed == nil {
		return fmt.Errorf("report: mssl.json lacks a first or a resumed session")
	}
	reqRow("(b) MSSL record (CCM-8)", resumed.Messages, true, "")
	reqRow("(c) CoAP / DTLS 1.2 PSK CCM-8, client ↔ gateway", dtlsRun.Messages, false, "")
	{
		var c, a comparison.Layers
		var cy uint32
		for _, m := range dtlsRun.Messages {
			if m.Phase == comparison.PhaseRequest {
				c = c.Add(m.Layers)
			}
		}
		for _, m := range espRun.Messages {
			if m.Phase == comparison.PhaseRequest {
				a = a.Add(m.Layers)
				cy += m.Cycles
			}
		}
		p("| (c) + (a): through the gateway, end to end | client leg %d + device leg %d IPv4 bytes | | | | | | **%d** | %d | %d (device leg) | %s |",
			c.Wire(), a.Wire(), c.Wire()+a.Wire(), a.SLIP, a.Serial(), cyc(cy))
	}
	coapPending := ""
	if len(coapRun.Messages) < 2 {
		coapPending = "← response: **pending** (the device's CoAP server, profile `esp-coap`, was not built)"
	}
	reqRow("(d) CoAP / ESP CCM-8, device's CoAP server", coapRun.Messages, true, coapPending)
	p("")
	p("App payload: the task's argument (1 byte) or result (2 bytes) for the task service and MSSL; "+
		"the CoAP payload for CoAP (the gateway answers `text/plain`, %s). App header: the task header "+
		"(request 4, reply 5 bytes: docs/tasks.md), or CoAP's header, token, options and payload marker. "+
		"Security: ESP's header, IV, padding, trailer and ICV; MSSL's record type, sequence number and tag; "+
		"DTLS's record header, explicit nonce and tag. SLIP framing: the two END bytes and the escapes, which "+
		"depend on the ciphertext (an escape is 1 in 128 random bytes on average), so that column varies from run to run. "+
		"(c) is the client's leg only: the gateway reaches the device through (a) or (b); it has no serial line and no device cycles of its own. "+
		"(d): %s.", quoteNote(dtlsRun.Note), coapNote(coapRun))
	p("")

	// Session setup.
	p("### Session setup and close")
	p("")
	p("| row | phase | messages → / ← | round trips | security bytes | IPv4 bytes | serial line | device cycles |")
	p("|---|---|---:|---:|---:|---:|---:|---:|")
	p("| (a) ESP CCM-8 | setup | 0 / 0 | 0 | 0 | 0 | 0 | 0 (keys provisioned out of band: `mstool provision`) |")
	setupRow := func(name, phase string, msgs []comparison.Message, serial bool) {
		s := sumPhase(msgs, phase)
		sl := n(s.l.Serial())
		if !serial {
			sl = "–"
		}
		c := cyc(s.cycles)
		if !serial {
			c = "– (gateway)"
		}
		p("| %s | %s | %d / %d | %d | %s | %s | %s | %s |", name, phase, s.to, s.from, s.to, n(s.l.Security), n(s.l.Wire()), sl, c)
	}
	setupRow("(b) MSSL, first handshake (grant verified: RSA-2048)", comparison.PhaseSetup, first.Messages, true)
	setupRow("(b) MSSL, resumed (grant cached)", comparison.PhaseSetup, resumed.Messages, true)
	setupRow("(b) MSSL", comparison.PhaseClose, resumed.Messages, true)
	setupRow("(c) DTLS 1.2 PSK, coap-client ↔ gateway", comparison.PhaseSetup, dtlsRun.Messages, false)
	setupRow("(c) DTLS 1.2 PSK", comparison.PhaseClose, dtlsRun.Messages, false)
	p("| (d) CoAP / ESP | setup | 0 / 0 | 0 | 0 | 0 | 0 | 0 (ESP's SAs) |")
	p("")
	p("Round trips: the messages the initiator sends, each answered before the next (MSSL is lock-step; DTLS counts flights). " +
		"The DTLS client is coap-client-openssl: ClientHello, HelloVerifyRequest (cookie), ClientHello, " +
		"ServerHello + ServerHelloDone (no hint), ClientKeyExchange + ChangeCipherSpec + Finished, ChangeCipherSpec + Finished; " +
		"it ends with a close_notify alert. MSSL's close is a close_notify alert record each way.")
	p("")
	p("Messages of each set-up (IPv4 bytes; the serial line adds SLIP's framing):")
	p("")
	p("| row | message | IPv4 bytes | device cycles |")
	p("|---|---|---:|---:|")
	detail := func(name string, msgs []comparison.Message) {
		for _, m := range msgs {
			if m.Phase != comparison.PhaseSetup {
				continue
			}
			p("| %s | %s %s | %d | %s |", name, m.Dir, m.Label, m.Layers.Wire(), cyc(m.Cycles))
		}
	}
	detail("(b) first", first.Messages)
	detail("(b) resumed", resumed.Messages)
	detail("(c) DTLS", dtlsRun.Messages)
	p("")

	// Flash and RAM.
	p("### Device flash and static RAM (ATmega328P, avr-gcc -Os, bytes)")
	p("")
	p("| part | flash | static RAM | from |")
	p("|---|---:|---:|---|")
	size := func(label, path string, mods ...string) {
		s := readSize(path)
		if s == nil {
			p("| %s | not built | | `%s` |", label, path)
			return
		}
		if len(mods) == 0 {
			p("| %s | %s | %s | `%s` (whole image) |", label, n(s.Total.Flash), n(s.Total.RAM), path)
			return
		}
		f, r, used, ok := s.sum(mods...)
		if !ok {
			p("| %s | not in this image | | `%s` |", label, path)
			return
		}
		p("| %s | %s | %s | `%s`: %s |", label, n(f), n(r), path, strings.Join(used, " + "))
	}
	espProf := *prof + "/esp/atmega328p/size-report.json"
	msslProf := *prof + "/esp-mssl/atmega328p/size-report.json"
	coapProf := *prof + "/esp-coap/atmega328p/size-report.json"
	size("SLIP + IPv4 + ICMP + UDP", espProf, "net/slip", "net/ipv4", "net/icmp", "net/udp", "net/sum")
	size("ESP (CCM-8 only) without crypto", espProf, "esp")
	size("AES + CCM + constant-time compare (shared by ESP and MSSL)", espProf, "crypto/aes_avr", "crypto/aes", "crypto/ccm", "crypto/ct")
	size("task service", espProf, "tasks")
	size("MSSL (seal-only grants) + AES-CMAC", msslProf, "mssl", "crypto/cmac")
	size("RSA verification + SHA-256 (MSSL's first handshake with a signed grant)", *ref, "crypto/rsa", "crypto/bignum_avr", "crypto/sha256", "crypto/sha256_avr")
	size("CoAP server", coapProf, "coap")
	size("image: profile `esp`", espProf)
	size("image: profile `esp-mssl`", msslProf)
	size("image: profile `esp-coap`", coapProf)
	size("image: reference ATmega328P (three ESP suites, MSSL with RSA-2048, management, provisioning)", *ref)
	p("")
	p(markEnd)

	text, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	s := string(text)
	i, j := strings.Index(s, markBegin), strings.Index(s, markEnd)
	if i < 0 || j < i {
		return fmt.Errorf("report: %s has no %q ... %q", *doc, markBegin, markEnd)
	}
	s = s[:i] + strings.TrimSuffix(b.String(), "\n") + s[j+len(markEnd):]
	return os.WriteFile(*doc, []byte(s), 0o644)
}

func coapNote(r *Run) string {
	if len(r.Messages) < 2 {
		return "the request is coap-client's own message (captured on the loopback) sealed with the host's ESP code " +
			"and accounted by the same code as (a), not sent to a device; the response is pending"
	}
	return "coap-client's own request (captured on the loopback), " + r.Note + ", accounted by the same code as (a)"
}

func quoteNote(s string) string {
	if s == "" {
		return "see the script's log"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
