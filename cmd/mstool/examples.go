package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// example is one command line of a command's help, with what it does.
type example struct {
	line string // as typed; shell redirections and pipes allowed after the words
	what string
}

// examples holds one example per command, by command path. Each command's
// --help ends with its example, and the man page's EXAMPLES section lists
// them all. TestExamples runs each one's flags through the parser and
// through the command's required-flags check.
var examples = map[string]example{
	"keygen":        {"mstool keygen -y owner.pem", "print the public key of the owner's signing key"},
	"keygen owner":  {"mstool keygen owner -o owner.pem > owner.pub", "generate the owner's signing key; its public key goes to standard output"},
	"keygen device": {"mstool keygen device -o dev.key --id 42", "generate the identity of device 42"},
	"keygen sa":     {"mstool keygen sa -o host.sa --host-ip 10.0.0.1 --device-ip 10.0.0.2", "generate SA material for a device at 10.0.0.2"},

	"grant":         {"mstool grant inspect alice.grant", "show what a grant allows, without a key"},
	"grant sign":    {"mstool grant sign -k owner.pem -d dev.key --host-ip 10.0.0.1 -t led,uptime -s 1 --valid-for 720h -o alice", "let the host at 10.0.0.1 run led and uptime for 30 days under serial 1: writes alice.grant and alice.hostkey"},
	"grant verify":  {"mstool grant verify --issuer owner.pub --task led alice.grant", "check a grant's signature and that it permits led"},
	"grant inspect": {"mstool grant inspect alice.grant", "show a grant's fields"},
	"grant revoke":  {"mstool grant revoke -k owner.pem --device-id 0x2a --serial-floor 5 -o rev5", "sign rev5.floor, which makes device 0x2a refuse grants with serials below 5"},

	"provision":         {"mstool provision -d dev.key --device-ip 10.0.0.2 --sa host.sa --issuer owner.pub -o dev.hex", "build the EEPROM image of a device at 10.0.0.2"},
	"provision inspect": {"mstool provision inspect dev.hex", "show what an EEPROM image holds"},
	"flash":             {"mstool flash -b uno -p /dev/ttyACM0 --eeprom dev.hex firmware/build/atmega328p/mstool.elf", "flash the firmware and the EEPROM image onto an Uno"},
	"identify":          {"mstool identify -p /dev/ttyUSB0", "show what is on a serial port"},

	"esp":           {"mstool esp exec -p /dev/ttyACM0 --sa host.sa uptime", "run the uptime task through ESP"},
	"esp ping":      {"mstool esp ping -p /dev/ttyACM0 --sa host.sa -c 3 --pcap link.pcap", "three ESP-protected pings, recorded in link.pcap"},
	"esp send":      {"mstool esp send -p /dev/ttyACM0 --sa host.sa --reply hello", "send one datagram and print the reply"},
	"esp recv":      {"mstool esp recv --udp 10.0.0.2:4500 --sa host.sa -c 1", "print the next datagram from the device"},
	"esp exec":      {"mstool esp exec -p /dev/ttyACM0 --sa host.sa led on", "switch the device's LED on"},
	"esp shell":     {"mstool esp shell -p /dev/ttyACM0 --sa host.sa", "run tasks interactively"},
	"esp tunnel":    {"mstool esp tunnel -p /dev/ttyACM0 --sa host.sa", "an interface (mstun0) to the device; then: ip addr add 10.0.0.1 peer 10.0.0.2 dev mstun0"},
	"esp sa":        {"mstool esp sa new -o host.sa --host-ip 10.0.0.1 --device-ip 10.0.0.2", "create the host's SA file for a device at 10.0.0.2"},
	"esp sa new":    {"mstool esp sa new -o host.sa --suite aes128-gcm16 --host-ip 10.0.0.1 --device-ip 10.0.0.2", "an SA file with AES-GCM instead of the default suite"},
	"esp sa show":   {"mstool esp sa show host.sa", "show an SA file's associations, without keys"},
	"esp sa export": {"mstool esp sa export --wireshark -o esp_sa host.sa", "write Wireshark's esp_sa table for this SA file"},
	"esp sa state":  {"mstool esp sa state host.sa", "show the sequence numbers used from this SA file (host.sa.state)"},

	"mssl":         {"mstool mssl exec -g alice.grant --udp 10.0.0.2:7412 uptime", "run the uptime task over MSSL"},
	"mssl connect": {"mstool mssl connect -g alice.grant -p /dev/ttyACM0 --device-ip 10.0.0.2", "open an interactive MSSL session over the serial line"},
	"mssl exec":    {"mstool mssl exec -g alice.grant --udp 10.0.0.2:7412 led on", "switch the LED on with the rights of alice.grant"},

	"bootstrap":            {"mstool bootstrap enrol --repo devices.repo --count 10 -o labels", "enrol ten devices: labels, device files, repository entries"},
	"bootstrap enrol":      {"mstool bootstrap enrol --repo devices.repo --id 0x2a -o labels --svg", "enrol device 0x2a: its QR label as PNG and SVG, its device file and its repository entry"},
	"bootstrap serve":      {"mstool bootstrap serve --repo devices.repo --controllers ctl.key --listen 0.0.0.0:7447", "run the authentication server for the controllers in ctl.key"},
	"bootstrap join":       {"mstool bootstrap join --controller ctl.key --server 10.0.0.1:7447 --device-udp 10.0.0.2 --label-image label.png -o dev.key", "re-key the device of a photographed label and keep its new identity"},
	"bootstrap controller": {"mstool bootstrap controller --id 1 -o ctl.key", "make controller 1's key, shared with the server"},

	"gateway": {"mstool gateway --config gw.conf", "serve the tasks of gw.conf's devices to CoAP clients with a DTLS key"},

	"sniff":      {"mstool sniff -i eth0 --sa host.sa -c 10", "show ten ESP packets on eth0, decrypted"},
	"decrypt":    {"mstool decrypt link.pcap --sa host.sa -o plain.pcap", "decrypt a capture for Wireshark or tshark"},
	"bench":      {"mstool bench -p /dev/ttyACM0 --host", "measure the device's crypto, and this machine's for comparison"},
	"sim":        {"mstool sim --mcu atmega168 --eeprom dev168.hex", "simulate an ATmega168 with a provisioned EEPROM image"},
	"completion": {"mstool completion bash > ~/.local/share/bash-completion/completions/mstool", "install bash completion for this user"},
	"man":        {"mstool man > mstool.1", "write the man page"},
}

// exampleHelp appends cmd's example to its description (the end of
// --help), once.
func exampleHelp(path string, cmd *cli.Command) {
	ex, ok := examples[path]
	if !ok {
		return
	}
	text := "Example: " + ex.what + "\n   " + ex.line
	if cmd.Description == "" {
		cmd.Description = text
		return
	}
	if !strings.HasSuffix(cmd.Description, text) {
		cmd.Description = strings.TrimRight(cmd.Description, "\n") + "\n\n" + text
	}
}

// exampleArgs is ex's command line as arguments of mstool (without the
// program name), up to the first redirection or pipe.
func exampleArgs(ex example) []string {
	var args []string
	for _, w := range strings.Fields(ex.line)[1:] {
		if strings.ContainsAny(w[:1], "><|&#") {
			break
		}
		args = append(args, w)
	}
	return args
}
