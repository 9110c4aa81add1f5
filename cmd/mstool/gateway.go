package main

// mstool gateway: CoAP over DTLS-PSK for standard clients in front of
// devices reached through ESP or MSSL (pkg/gateway, docs/gateway.md).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/gateway"
)

const gatewayHint = "the configuration format is in docs/gateway.md"

func gatewayCommand(ui *UI) *cli.Command {
	return &cli.Command{
		Name:  "gateway",
		Usage: "serve devices' tasks to standard clients: CoAP over DTLS (PSK) and HTTPS in front, ESP or MSSL to the devices",
		Description: "Runs in the foreground until SIGINT or SIGTERM. Each device's tasks are CoAP\n" +
			"resources coaps://GATEWAY/DEVICE/TASK?ARGS (GET to read, PUT to change), listed\n" +
			"by GET /.well-known/core; clients authenticate with a DTLS pre-shared key\n" +
			"(TLS_PSK_WITH_AES_128_CCM_8 only), and each PSK identity may run the tasks its\n" +
			"'identity' line names. With an 'https' line the same tasks are served over\n" +
			"HTTPS (TLS 1.3; bearer tokens or client certificates) as task result JSON,\n" +
			"and GET /DEVICE/ is a page of the tasks and their last results; without a\n" +
			"certificate the gateway makes one and logs its fingerprint.\n" +
			"The configuration file lists devices and identities\n" +
			"(docs/gateway.md). Logs go to standard error; with --json, standard output\n" +
			"carries one status object per line (listening, status, stopped).\n\n" +
			"   mstool gateway --config gw.conf\n" +
			"   coap-client-openssl -u alice -k KEY 'coaps://127.0.0.1/dev1/adc?ch=3'\n" +
			"   curl --cacert gateway-https.crt -H 'Authorization: Bearer TOKEN' 'https://127.0.0.1:8443/dev1/adc?ch=3'",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "the configuration `FILE` (docs/gateway.md)"},
			&cli.StringFlag{Name: "listen", Usage: "serve CoAP over DTLS on `ADDR:PORT` (overrides the file's listen; default :5684)"},
			&cli.BoolFlag{Name: "insecure-plain", Usage: "allow the file's plain (unencrypted) CoAP on an address that is not loopback"},
			&cli.DurationFlag{Name: "status-interval", Value: time.Minute, Usage: "with --json, write a status line every `DURATION` (0: only at start and stop)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("run 'mstool gateway --help' for usage", "gateway: unexpected argument %q", c.Args().First())
			}
			if err := requireFlags(c, "config"); err != nil {
				return err
			}
			return runGateway(ui, c)
		},
	}
}

func runGateway(ui *UI, c *cli.Context) error {
	path := c.String("config")
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		// A key file the configuration names and mstool refuses is
		// fileError's; any other mistake in the file is a usage error.
		var ce *gateway.ConfigError
		if errors.As(err, &ce) && fileRefusal(err, path) == nil {
			return usageErrorf(gatewayHint, "%v", err)
		}
		return fileError(err, path, "check --config")
	}
	if l := c.String("listen"); l != "" {
		cfg.Listen = l
	}
	opt := gateway.Options{AllowPlain: c.Bool("insecure-plain"), Log: func(msg string) { ui.Infof("%s", msg) }}
	if ui.Verbosity > 0 {
		opt.SessionLog = func(msg string) { ui.Debugf("%s", msg) }
		opt.RequestLog = func(msg string) { ui.Debugf("%s", msg) }
	}
	g, err := gateway.New(cfg, opt)
	if errors.Is(err, gateway.ErrPlainNotLoopback) {
		return usageErrorf("give the plain line a loopback address (127.0.0.1:5683), or --insecure-plain", "%v", err)
	}
	if err != nil {
		return failf(gatewayHint, "%v", err)
	}
	if cfg.Plain != "" {
		ui.Warnf("serving plain CoAP on %s as identity %s: no encryption and no authentication, whoever reaches the address runs that identity's tasks", cfg.Plain, cfg.PlainIdentity)
	}
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ui.Lines = true
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()

	// The listening line once the sockets are open (or Serve failed).
	for g.Addr() == nil {
		select {
		case err := <-done:
			return linkError(err, "choose another --listen address or port")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if ui.JSON {
		ev := map[string]any{"event": "listening", "addr": g.Addr().String(), "devices": len(cfg.Devices), "identities": len(cfg.Identities)}
		if a := g.PlainAddr(); a != nil {
			ev["plain_addr"] = a.String()
		}
		if a := g.HTTPSAddr(); a != nil {
			ev["https_addr"], ev["https_cert"] = a.String(), g.CertFingerprint()
		}
		ui.WriteJSON(ev)
	}
	var tick <-chan time.Time
	if ui.JSON && c.Duration("status-interval") > 0 {
		t := time.NewTicker(c.Duration("status-interval"))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			ui.WriteJSON(map[string]any{"event": "status", "time": time.Now().UTC().Format(time.RFC3339), "stats": g.Stats()})
		case err := <-done:
			if err != nil {
				return linkError(err, "")
			}
			s := g.Stats()
			if ui.JSON {
				return ui.WriteJSON(map[string]any{"event": "stopped", "stats": s})
			}
			https := ""
			if cfg.HTTPS != "" {
				https = fmt.Sprintf(", %d HTTPS handshakes failed", s.HTTPSHandshakeFailed)
			}
			ui.Infof("stopped: %d requests (%d answered 2.xx, %d 4.xx, %d 5.xx), %d DTLS sessions, %d handshakes failed, %d datagrams dropped%s",
				s.Requests, s.Success, s.ClientError, s.ServerError, s.Sessions, s.HandshakeFailed,
				s.DTLSGarbage+s.PeersRefused+s.Overrun+s.DTLSAuthFailed+s.CoAPMalformed, https)
			return nil
		}
	}
}
