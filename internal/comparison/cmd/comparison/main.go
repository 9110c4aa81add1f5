// Command comparison measures the rows of docs/COMPARISON.md
// (scripts/comparison.sh runs it; see there for the whole set-up):
//
//	comparison esp  --port P --sa host.sa [--count N] -o esp.json
//	comparison mssl --port P --grant g.grant --device-ip A -o mssl.json
//	comparison dtls --dtls ADDR --plain ADDR --identity ID --key TEXT --path dev1/adc?ch=3 -o dtls.json
//	comparison coap-esp --sa host.sa [--pcap rec.pcap] -o coapesp.json
//	comparison pcap --sa host.sa --host-ip A rec.pcap          (any raw-IP recording, accounted)
//	comparison report --dir DIR --doc docs/COMPARISON.md --size firmware/build/atmega328p/size-report.json
//
// Each measuring command writes a JSON file of messages (internal/comparison
// Message) with the device's cycles where the device reports them
// (management STATUS: the cycles of the last IPv4 packet); report turns the
// files into the measured tables of the document, between its markers.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/internal/comparison"
	"github.com/mstool/mstool/pkg/capture"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/tasks"
)

func main() {
	if len(os.Args) < 2 {
		fatal(errors.New("usage: comparison esp|mssl|dtls|coap-esp|pcap|report [flags]"))
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "esp":
		err = cmdESP(args)
	case "mssl":
		err = cmdMSSL(args)
	case "dtls":
		err = cmdDTLS(args)
	case "coap-esp":
		err = cmdCoAPESP(args)
	case "pcap":
		err = cmdPcap(args)
	case "report":
		err = cmdReport(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "comparison: %v\n", err)
	os.Exit(1)
}

// Run is what a measuring command writes.
type Run struct {
	Row      string               `json:"row"`
	Note     string               `json:"note,omitempty"`
	Messages []comparison.Message `json:"messages"`
	// Sessions: for MSSL, the first (grant verified) and the resumed one.
	Sessions []Session `json:"sessions,omitempty"`
	// CyclesMin: per message label to the device, the minimum over the
	// repetitions (ESP); Samples all of them.
	CyclesMin map[string]uint32   `json:"cycles_min,omitempty"`
	Samples   map[string][]uint32 `json:"cycle_samples,omitempty"`
}

// Session is one MSSL session's messages.
type Session struct {
	Name     string               `json:"name"`
	Cached   bool                 `json:"cached"`
	Messages []comparison.Message `json:"messages"`
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// readPcap returns the packets of a raw-IP pcap, in order.
func readPcap(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, append([]byte(nil), data...))
	}
}

func srcAddr(pkt []byte) netip.Addr {
	if len(pkt) < 20 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(pkt[12:16]))
}

// account turns a recording into messages: packets from host are "→".
func account(pkts [][]byte, host netip.Addr, dec *capture.Decryptor) ([]comparison.Message, error) {
	var out []comparison.Message
	for _, p := range pkts {
		l, label, err := comparison.Packet(p, dec)
		if err != nil {
			return nil, err
		}
		dir := "←"
		if srcAddr(p) == host {
			dir = "→"
		}
		out = append(out, comparison.Message{Dir: dir, Label: label, Phase: comparison.PhaseRequest, Layers: l})
	}
	return out, nil
}

func newRecorder(path string) (*os.File, *link.Recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, err
	}
	rec, err := link.NewRecorder(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, rec, nil
}

// (a) ESP CCM-8: `count` adc requests in one session on the serial link,
// each followed by STATUS for the device's cycles.
func cmdESP(args []string) error {
	fs := flag.NewFlagSet("esp", flag.ExitOnError)
	port := fs.String("port", "", "serial port of the device")
	saPath := fs.String("sa", "", "host SA file")
	count := fs.Int("count", 5, "requests")
	ch := fs.Int("channel", 3, "ADC channel")
	pcapPath := fs.String("pcap", "", "recording (pcap) to write")
	out := fs.String("o", "", "JSON output")
	fs.Parse(args)
	if *pcapPath == "" {
		return errors.New("esp: --pcap FILE (the recording) is required")
	}
	sas, err := safile.ReadFile(*saPath)
	if err != nil {
		return err
	}
	dec, err := capture.NewDecryptor(sas.All())
	if err != nil {
		return err
	}
	msgs, cycles, err := measureESP(*port, *saPath, sas, dec, *pcapPath, *count, func(ctx context.Context, conn *espsession.Conn, _ int) error {
		_, err := conn.Task(ctx, tasks.TaskADC, []byte{byte(*ch)})
		return err
	})
	if err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	r := Run{Row: "esp", Messages: msgs, Samples: map[string][]uint32{"request": cycles}}
	mn := cycles[0]
	for _, c := range cycles {
		mn = min(mn, c)
	}
	r.Messages[0].Cycles = mn
	r.CyclesMin = map[string]uint32{"request": mn}
	return writeJSON(*out, r)
}

// statusTransport reads the device's STATUS after each answer: the
// cycles of the message that the answer answers.
type statusTransport struct {
	mssl.Transport
	mgmt   *device.Device
	mu     sync.Mutex
	cycles []uint32
	err    error
}

func (t *statusTransport) Recv(ctx context.Context) ([]byte, error) {
	m, err := t.Transport.Recv(ctx)
	if err == nil {
		st, serr := t.mgmt.Status(context.Background())
		t.mu.Lock()
		if serr != nil && t.err == nil {
			t.err = serr
		}
		if serr == nil {
			t.cycles = append(t.cycles, st.LastCycles)
		}
		t.mu.Unlock()
	}
	return m, err
}

// (b) MSSL: a session with a grant the device has not verified (RSA),
// one adc request, close; then the same again (the grant cached).
func cmdMSSL(args []string) error {
	fs := flag.NewFlagSet("mssl", flag.ExitOnError)
	port := fs.String("port", "", "serial port of the device")
	gpath := fs.String("grant", "", "grant file (NAME.grant; the host key NAME.hostkey next to it)")
	devIP := fs.String("device-ip", "10.0.0.2", "device address")
	ch := fs.Int("channel", 3, "ADC channel")
	dir := fs.String("dir", ".", "directory for the recordings")
	out := fs.String("o", "", "JSON output")
	fs.Parse(args)
	g, err := os.ReadFile(*gpath)
	if err != nil {
		return err
	}
	parsed, err := grant.Parse(g)
	if err != nil {
		return err
	}
	hkData, err := os.ReadFile(trimExt(*gpath, ".grant") + ".hostkey")
	if err != nil {
		return err
	}
	hk, err := grant.ParseHostKey(hkData)
	if err != nil {
		return err
	}
	dev, err := netip.ParseAddr(*devIP)
	if err != nil {
		return err
	}
	host := parsed.HostIP
	r := Run{Row: "mssl"}
	for i, name := range []string{"first", "resumed"} {
		pcapPath := fmt.Sprintf("%s/mssl-%s.pcap", *dir, name)
		f, rec, err := newRecorder(pcapPath)
		if err != nil {
			return err
		}
		cfg := mssl.TransportConfig{Port: *port, Device: dev, Local: netip.AddrPortFrom(host, uint16(50000+i)), Link: link.Options{Recorder: rec}, NoIdentify: true}
		tr, err := mssl.OpenTransport(context.Background(), cfg)
		if err != nil {
			f.Close()
			return err
		}
		st := tr.(*mssl.SerialTransport)
		mgmt, err := device.New(st.Serial.Management(), &device.Options{Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		wt := &statusTransport{Transport: tr, mgmt: mgmt}
		ctx := context.Background()
		sess, err := mssl.Dial(ctx, mssl.Config{Grant: g, HostKey: hk, Transport: wt, Timeout: 30 * time.Second, Retries: -1, FCPU: 16000000})
		if err != nil {
			f.Close()
			return fmt.Errorf("mssl %s handshake: %w", name, err)
		}
		cached := sess.Cached()
		if _, err := sess.Task(ctx, tasks.TaskADC, []byte{byte(*ch)}); err != nil {
			return err
		}
		if err := sess.Close(ctx); err != nil {
			return err
		}
		f.Close()
		if wt.err != nil {
			return wt.err
		}
		pkts, err := readPcap(pcapPath)
		if err != nil {
			return err
		}
		var msgs []comparison.Message
		phase := comparison.PhaseSetup
		k := 0 // host messages so far: their cycles, in order
		for _, p := range pkts {
			toDev := srcAddr(p) == host
			th := 5
			if toDev {
				th = 4
			}
			l, label, err := comparison.MSSLMessage(p, th)
			if err != nil {
				return err
			}
			switch {
			case label == "Data record":
				phase = comparison.PhaseRequest
			case label == "Alert record" && phase == comparison.PhaseRequest:
				phase = comparison.PhaseClose
			}
			m := comparison.Message{Dir: "←", Label: label, Phase: phase, Layers: l}
			if toDev {
				m.Dir = "→"
				if k < len(wt.cycles) {
					m.Cycles = wt.cycles[k]
				}
				k++
			}
			msgs = append(msgs, m)
		}
		if k != len(wt.cycles) {
			return fmt.Errorf("mssl %s: %d messages to the device, %d cycle counts (a retry?)", name, k, len(wt.cycles))
		}
		r.Sessions = append(r.Sessions, Session{Name: name, Cached: cached, Messages: msgs})
	}
	if r.Sessions[0].Cached || !r.Sessions[1].Cached {
		return fmt.Errorf("mssl: want a first handshake without and a second with the grant cached (got %v, %v)", r.Sessions[0].Cached, r.Sessions[1].Cached)
	}
	return writeJSON(*out, r)
}

func trimExt(s, ext string) string {
	if len(s) > len(ext) && s[len(s)-len(ext):] == ext {
		return s[:len(s)-len(ext)]
	}
	return s
}

// datagram is one UDP datagram a relay saw.
type datagram struct {
	toServer bool
	data     []byte
}

// relay forwards UDP datagrams between one client and server, recording
// them; it stops when stop is closed.
type relay struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	mu     sync.Mutex
	log    []datagram
}

func startRelay(server string) (*relay, error) {
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	r := &relay{conn: c, server: sa}
	go r.run()
	return r, nil
}

func (r *relay) addr() string { return r.conn.LocalAddr().String() }

func (r *relay) run() {
	var up *net.UDPConn
	buf := make([]byte, 65536)
	for {
		n, client, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if up == nil {
			if up, err = net.DialUDP("udp", nil, r.server); err != nil {
				return
			}
			go func(up *net.UDPConn, client *net.UDPAddr) {
				b := make([]byte, 65536)
				for {
					n, err := up.Read(b)
					if err != nil {
						return
					}
					r.record(false, b[:n])
					r.conn.WriteToUDP(b[:n], client)
				}
			}(up, client)
			defer up.Close()
		}
		r.record(true, buf[:n])
		up.Write(buf[:n])
	}
}

func (r *relay) record(toServer bool, b []byte) {
	r.mu.Lock()
	r.log = append(r.log, datagram{toServer, append([]byte(nil), b...)})
	r.mu.Unlock()
}

func (r *relay) stop() []datagram {
	r.conn.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log
}

func coapClient(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "coap-client-openssl", append([]string{"-B", "10"}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("coap-client-openssl %v: %w: %s", args, err, out)
	}
	return out, nil
}

// (c) CoAP over DTLS 1.2 PSK, CCM-8: coap-client-openssl → relay →
// gateway. The relay records the datagrams; the same request through the
// gateway's plain CoAP listener (loopback) gives the CoAP messages in
// clear, so the records' plaintext can be split into CoAP header and
// payload when its length matches.
func cmdDTLS(args []string) error {
	fs := flag.NewFlagSet("dtls", flag.ExitOnError)
	dtlsAddr := fs.String("dtls", "", "the gateway's DTLS address")
	plainAddr := fs.String("plain", "", "the gateway's plain CoAP address (loopback)")
	id := fs.String("identity", "", "PSK identity")
	key := fs.String("key", "", "PSK as text (coap-client -k)")
	path := fs.String("path", "", "resource path and query, e.g. dev1/adc?ch=3")
	pcapOut := fs.String("pcap", "", "write the DTLS datagrams as a pcap (IPv4/UDP headers rebuilt, port 5684)")
	tshark := fs.Bool("tshark", false, "check the record parse against tshark's dissection of --pcap")
	out := fs.String("o", "", "JSON output")
	fs.Parse(args)

	pr, err := startRelay(*plainAddr)
	if err != nil {
		return err
	}
	body, err := coapClient("coap://" + pr.addr() + "/" + *path)
	plain := pr.stop()
	if err != nil {
		return err
	}
	var req, resp [][]byte
	for _, d := range plain {
		if d.toServer {
			req = append(req, d.data)
		} else {
			resp = append(resp, d.data)
		}
	}
	pick := func(l [][]byte) func(n int) []byte {
		return func(n int) []byte {
			for _, m := range l {
				if len(m) == n {
					return m
				}
			}
			return nil
		}
	}

	dr, err := startRelay(*dtlsAddr)
	if err != nil {
		return err
	}
	body2, err := coapClient("-u", *id, "-k", *key, "coaps://"+dr.addr()+"/"+*path)
	dgs := dr.stop()
	if err != nil {
		return err
	}
	r := Run{Row: "dtls", Note: fmt.Sprintf("plain answer %q, DTLS answer %q", bytes.TrimSpace(body), bytes.TrimSpace(body2))}
	if *pcapOut != "" {
		if err := writeDatagrams(*pcapOut, dgs); err != nil {
			return err
		}
		if *tshark {
			n, err := tsharkCheck(*pcapOut, dgs)
			if err != nil {
				return err
			}
			r.Note += fmt.Sprintf("; tshark dissects the same %d DTLS records with the same types and lengths", n)
		}
	}
	phase := comparison.PhaseSetup
	for _, d := range dgs {
		coap := pick(resp)
		dir := "←"
		if d.toServer {
			coap, dir = pick(req), "→"
		}
		l, label, err := comparison.DTLSDatagram(d.data, coap)
		if err != nil {
			return err
		}
		if l.App+l.AppHeader > 0 {
			phase = comparison.PhaseRequest
		} else if phase == comparison.PhaseRequest {
			phase = comparison.PhaseClose
		}
		r.Messages = append(r.Messages, comparison.Message{Dir: dir, Label: label, Phase: phase, Layers: l})
	}
	return writeJSON(*out, r)
}

// writeDatagrams writes the relay's datagrams as a raw-IP pcap: each in an
// IPv4/UDP packet between 127.0.0.1:40000 (client) and 127.0.0.2:5684
// (gateway). The addresses and ports are the pcap's, not the relay's.
func writeDatagrams(path string, dgs []datagram) error {
	f, rec, err := newRecorder(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cl, gw := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	for _, d := range dgs {
		h := ipv4.Header{TTL: 64, Protocol: 17, Src: cl, Dst: gw}
		sp, dp := uint16(40000), uint16(comparison.PortCoAPS)
		if !d.toServer {
			h.Src, h.Dst, sp, dp = gw, cl, dp, sp
		}
		pkt, err := ipv4.AppendUDP(nil, &h, sp, dp, d.data)
		if err != nil {
			return err
		}
		rec.Record(pkt)
	}
	return rec.Err()
}

// tsharkCheck dissects the pcap with tshark and checks that it finds the
// records DTLSDatagram parses: per datagram, the content types and
// lengths in order. It returns the number of records.
func tsharkCheck(path string, dgs []datagram) (int, error) {
	cmd := exec.Command("tshark", "-r", path, "-d", "udp.port==5684,dtls", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "dtls.record.content_type", "-e", "dtls.record.length")
	outb, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("tshark: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(outb), "\n"), "\n")
	if len(lines) != len(dgs) {
		return 0, fmt.Errorf("tshark: %d packets, the relay recorded %d", len(lines), len(dgs))
	}
	n := 0
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 2 {
			return 0, fmt.Errorf("tshark: packet %d: %q", i+1, l)
		}
		types, lens := strings.Split(f[0], ","), strings.Split(f[1], ",")
		var want []string
		var wantLen []string
		for d := dgs[i].data; len(d) >= comparison.DTLSRecordHeader; {
			rl := int(d[11])<<8 | int(d[12])
			want = append(want, fmt.Sprint(d[0]))
			wantLen = append(wantLen, fmt.Sprint(rl))
			if comparison.DTLSRecordHeader+rl > len(d) {
				break
			}
			d = d[comparison.DTLSRecordHeader+rl:]
		}
		if strings.Join(types, ",") != strings.Join(want, ",") || strings.Join(lens, ",") != strings.Join(wantLen, ",") {
			return 0, fmt.Errorf("tshark: packet %d: types %v lengths %v, parsed %v %v", i+1, types, lens, want, wantLen)
		}
		n += len(want)
	}
	return n, nil
}

// (d) CoAP over ESP to the device's own CoAP server. The request is
// coap-client's own message (captured on the loopback). With --port (a
// device whose image has the CoAP server, profile esp-coap) it is sent
// through an ESP session exactly as (a)'s task requests, --count times
// with a fresh message id each, the reply awaited and the device's cycles
// read with STATUS; the recording is accounted by the same code as (a).
// With --pcap, a recording of the exchange made elsewhere (a raw-IP pcap of
// the serial link or of the tunnel) is accounted. With neither, the
// request is only sealed by the host's ESP code and the reply is pending.
func cmdCoAPESP(args []string) error {
	fs := flag.NewFlagSet("coap-esp", flag.ExitOnError)
	saPath := fs.String("sa", "", "host SA file")
	port := fs.String("port", "", "serial port of a device with the CoAP server (optional)")
	count := fs.Int("count", 5, "requests (with --port)")
	recPath := fs.String("rec", "", "recording (pcap) to write (with --port)")
	pcapPath := fs.String("pcap", "", "a recording of CoAP over ESP to account (optional)")
	path := fs.String("path", "4?3", "resource path and query (task 4 = adc, channel 3)")
	out := fs.String("o", "", "JSON output")
	fs.Parse(args)
	sas, err := safile.ReadFile(*saPath)
	if err != nil {
		return err
	}
	dec, err := capture.NewDecryptor(sas.All())
	if err != nil {
		return err
	}
	host := sas.Outbound[0].Src
	if *pcapPath != "" {
		pkts, err := readPcap(*pcapPath)
		if err != nil {
			return err
		}
		msgs, err := account(pkts, host, dec)
		if err != nil {
			return err
		}
		return writeJSON(*out, Run{Row: "coap-esp", Note: "measured from " + *pcapPath, Messages: msgs})
	}
	req, err := coapClientRequest(*path)
	if err != nil {
		return err
	}
	if *port != "" {
		if *recPath == "" {
			return errors.New("coap-esp: --port needs --rec FILE (the recording)")
		}
		return coapOverESP(*port, *saPath, sas, dec, req, *count, *recPath, *out)
	}
	outSA := sas.Outbound[0]
	ob, err := esp.NewOutbound(outSA)
	if err != nil {
		return err
	}
	inner, err := ipv4.AppendUDP(nil, &ipv4.Header{TTL: 64, Protocol: 17, Src: outSA.Src, Dst: outSA.Dst}, 50000, comparison.PortCoAP, req)
	if err != nil {
		return err
	}
	pkt, err := ob.SealPacket(nil, inner)
	if err != nil {
		return err
	}
	l, label, err := comparison.Packet(pkt, dec)
	if err != nil {
		return err
	}
	return writeJSON(*out, Run{Row: "coap-esp", Note: "request: coap-client's message sealed by the host's ESP code (not sent to a device); reply pending",
		Messages: []comparison.Message{{Dir: "→", Label: label, Phase: comparison.PhaseRequest, Layers: l}}})
}

// coapClientRequest returns the request coap-client-openssl sends for
// coap://HOST/path, captured by a loopback listener that answers with a
// Reset (so that coap-client stops at once).
func coapClientRequest(path string) ([]byte, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 2048)
		n, from, err := c.ReadFromUDP(b)
		if err != nil {
			close(got)
			return
		}
		got <- append([]byte(nil), b[:n]...)
		if n >= 4 {
			c.WriteToUDP([]byte{0x70, 0x00, b[2], b[3]}, from) // RST, same message id
		}
	}()
	coapClient("-B", "2", "coap://"+c.LocalAddr().String()+"/"+path) // a Reset: its exit status is not ours
	select {
	case req, ok := <-got:
		if ok {
			return req, nil
		}
	case <-time.After(5 * time.Second):
	}
	return nil, errors.New("coap-esp: coap-client sent nothing")
}

func coapOverESP(port, saPath string, sas *safile.File, dec *capture.Decryptor, req []byte, count int, recPath, out string) error {
	msgs, cycles, err := measureESP(port, saPath, sas, dec, recPath, count, func(ctx context.Context, conn *espsession.Conn, i int) error {
		m := append([]byte(nil), req...)
		m[2], m[3] = byte(0x7a), byte(i) // a new message id each time: no de-duplication
		if err := conn.Send(comparison.PortCoAP, m); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := conn.Recv(wctx); err != nil {
			return fmt.Errorf("no reply from the device's CoAP server (port %d): %w", comparison.PortCoAP, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("coap-esp: %w", err)
	}
	mn := cycles[0]
	for _, c := range cycles {
		mn = min(mn, c)
	}
	r := Run{Row: "coap-esp", Note: "measured on the device", Messages: msgs, Samples: map[string][]uint32{"request": cycles}, CyclesMin: map[string]uint32{"request": mn}}
	r.Messages[0].Cycles = mn
	return writeJSON(out, r)
}

// measureESP opens an ESP session on port with the link recorded in
// recPath, sends one warm-up echo (the first packet after a boot also
// writes the EEPROM state, docs/PERFORMANCE.md), runs exchange count
// times (one request and its answer each), reading the device's cycles
// for each from STATUS, and accounts the recording: the first exchange's
// two messages, and every exchange's cycles.
func measureESP(port, saPath string, sas *safile.File, dec *capture.Decryptor, recPath string, count int,
	exchange func(ctx context.Context, conn *espsession.Conn, i int) error) ([]comparison.Message, []uint32, error) {
	f, rec, err := newRecorder(recPath)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	conn, err := espsession.Open(espsession.OpenConfig{SAs: sas, SAPath: saPath, Port: port, Link: link.Options{Recorder: rec}, Timeout: 3 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	open := true
	defer func() {
		if open {
			conn.Close()
		}
	}()
	mgmt, err := device.New(conn.Serial.Management(), &device.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	if _, err := conn.Ping(ctx, 1, make([]byte, 8)); err != nil {
		return nil, nil, fmt.Errorf("warm-up ping: %w", err)
	}
	warm := rec.Packets()
	var cycles []uint32
	for i := 0; i < count; i++ {
		if err := exchange(ctx, conn, i); err != nil {
			return nil, nil, err
		}
		st, err := mgmt.Status(ctx)
		if err != nil {
			return nil, nil, err
		}
		cycles = append(cycles, st.LastCycles)
	}
	open = false
	if err := conn.Close(); err != nil {
		return nil, nil, err
	}
	f.Close()
	pkts, err := readPcap(recPath)
	if err != nil {
		return nil, nil, err
	}
	if uint64(len(pkts)) != warm+uint64(2*count) {
		return nil, nil, fmt.Errorf("%d packets recorded, want %d (retries?)", len(pkts), warm+uint64(2*count))
	}
	msgs, err := account(pkts, sas.Outbound[0].Src, dec)
	if err != nil {
		return nil, nil, err
	}
	return msgs[warm : warm+2], cycles, nil
}

// pcap: account any raw-IP recording of a serial link.
func cmdPcap(args []string) error {
	fs := flag.NewFlagSet("pcap", flag.ExitOnError)
	saPath := fs.String("sa", "", "host SA file (for ESP)")
	hostIP := fs.String("host-ip", "10.0.0.1", "this host's address")
	fs.Parse(args)
	var dec *capture.Decryptor
	if *saPath != "" {
		sas, err := safile.ReadFile(*saPath)
		if err != nil {
			return err
		}
		if dec, err = capture.NewDecryptor(sas.All()); err != nil {
			return err
		}
	}
	host, err := netip.ParseAddr(*hostIP)
	if err != nil {
		return err
	}
	for _, p := range fs.Args() {
		pkts, err := readPcap(p)
		if err != nil {
			return err
		}
		msgs, err := account(pkts, host, dec)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			l := m.Layers
			fmt.Printf("%s %-28s app %3d  app-hdr %3d  security %3d  udp %d  ipv4 %d  = %3d  slip +%d\n",
				m.Dir, m.Label, l.App, l.AppHeader, l.Security, l.UDP, l.IPv4, l.Wire(), l.SLIP)
		}
	}
	return nil
}
