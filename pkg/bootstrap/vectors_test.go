package bootstrap

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/safile"
)

var update = flag.Bool("update", false, "rewrite vectors/bootstrap.txt")

func seq(start byte) (k [16]byte) {
	for i := range k {
		k[i] = start + byte(i)
	}
	return
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

type vbuf struct{ strings.Builder }

func (v *vbuf) rec(name string, kv ...any) {
	fmt.Fprintf(v, "\nalg = bootstrap\nsource = mstool: docs/bootstrap.md, computed by pkg/bootstrap (vectors_test.go)\nname = %s\n", name)
	for i := 0; i < len(kv); i += 2 {
		fmt.Fprintf(v, "%s = %x\n", kv[i], kv[i+1])
	}
}

// The fixed inputs of the published exchange.
var (
	vIK    = seq(0x00)
	vRNi   = seq(0x10)
	vRNc   = seq(0x20)
	vSK    = seq(0x40)
	vTID   = TID{0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37}
	vTS    = uint64(1700000000)
	vDev   = uint32(0x0000002a)
	vCtl   = uint32(0x00000001)
	vFirst = "# bootstrap vectors"
)

func makeVectors(t *testing.T) string {
	var v vbuf
	v.WriteString(vFirst + ` (docs/bootstrap.md). Our own: computed by pkg/bootstrap from
# fixed inputs; regenerate with 'go test ./pkg/bootstrap -run TestVectors -update'
# only for a deliberate protocol change. Every record has alg = bootstrap and a name:
#   psk       ik rni rnc psk                 PSK = AES-128(key = ik, rni xor rnc)
#   kdf       master sa c block              KDFBlock: AES-128(master, c || sa || 0^14)
#   sas       master spi_h2d enc_h2d spi_d2h enc_d2h
#                                            DeriveSAs, aes128-ccm8 (enc = 16-byte key || 3-byte salt)
#   exchange  skcs controller device ts tid ik rni rnc label flight2 flight3 flight4 psk
#             flight5 flight6 flight7
#                                            one whole join: the server holds ik for device, its
#                                            clock reads ts; the device holds ik and rni and ends
#                                            with psk as its master key; label is the payload (ASCII)
`)
	v.rec("psk", "ik", vIK[:], "rni", vRNi[:], "rnc", vRNc[:], "psk", DerivePSK(vIK, vRNi, vRNc))
	psk := DerivePSK(vIK, vRNi, vRNc)
	for _, sa := range []byte{SAHostToDevice, SADeviceToHost} {
		blk := KDFBlock(psk, sa, 1)
		v.rec("kdf", "master", psk[:], "sa", []byte{sa}, "c", []byte{1}, "block", blk[:])
	}
	f, err := DeriveSAs(psk, safile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.rec("sas", "master", psk[:], "spi_h2d", be32(f.Outbound[0].SPI), "enc_h2d", f.Outbound[0].EncKey,
		"spi_d2h", be32(f.Inbound[0].SPI), "enc_d2h", f.Inbound[0].EncKey)

	ex := runExchange(t, vSK, vCtl, vDev, vTS, vTID, vIK, vRNi, vRNc, nil)
	v.rec("exchange", "skcs", vSK[:], "controller", be32(vCtl), "device", be32(vDev), "ts", be64(vTS), "tid", vTID[:],
		"ik", vIK[:], "rni", vRNi[:], "rnc", vRNc[:], "label", []byte(Label{Device: vDev, RNi: vRNi}.String()),
		"flight2", ex.f2, "flight3", ex.f3, "flight4", ex.f4, "psk", ex.psk[:],
		"flight5", ex.f5, "flight6", ex.f6, "flight7", ex.f7)
	return v.String()
}

type exchangeOut struct {
	f2, f3, f4, f5, f6, f7 []byte
	psk                    [KeySize]byte
}

// runExchange drives the server and the reference device through one
// join with fixed inputs; got, when set, supplies the controller's
// messages from a vector instead of building them (the device and server
// must answer them byte for byte).
func runExchange(t *testing.T, sk [16]byte, ctl, dev uint32, ts uint64, tid TID, ik, rni, rnc [16]byte, got map[string][]byte) exchangeOut {
	t.Helper()
	repo, err := CreateRepository(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	repo.Add(Entry{Device: dev, Key: ik})
	srv := &Server{Repo: repo, Controllers: map[uint32][KeySize]byte{ctl: sk}, Now: func() time.Time { return time.Unix(int64(ts), 0) }}
	var o exchangeOut
	o.f2 = MarshalJoin(sk, &JoinRequest{Controller: ctl, TID: tid, TS: ts, RNc: rnc, Device: dev, RNi: rni})
	o.f3 = srv.Handle(pick(got, "flight2", o.f2))
	d := NewDevice(dev, ik, rni)
	o.f4 = MarshalRekey(ik, dev, tid, rni, rnc)
	o.f5 = d.Handle(pick(got, "flight4", o.f4))
	o.psk, _ = d.Key()
	o.f6 = MarshalConfirm(sk, &Confirm{Controller: ctl, TID: tid, Device: dev, RNc: rnc, Proof: o.f5})
	o.f7 = srv.Handle(pick(got, "flight6", o.f6))
	return o
}

func pick(m map[string][]byte, k string, def []byte) []byte {
	if m != nil {
		return m[k]
	}
	return def
}

func TestVectors(t *testing.T) {
	got := makeVectors(t)
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bootstrap.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatal("vectors/bootstrap.txt differs from what pkg/bootstrap computes (run with -update only for a deliberate change)")
	}
	// Reproduce every record from the file alone.
	recs, err := vectors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		k16 := func(n string) [16]byte { return [16]byte(r.Hex(n)) }
		switch r.Text("name") {
		case "psk":
			if p := DerivePSK(k16("ik"), k16("rni"), k16("rnc")); !bytes.Equal(p[:], r.Hex("psk")) {
				t.Errorf("%s: psk", r.Pos())
			}
		case "kdf":
			b := KDFBlock(k16("master"), r.Hex("sa")[0], r.Hex("c")[0])
			if !bytes.Equal(b[:], r.Hex("block")) {
				t.Errorf("%s: kdf block", r.Pos())
			}
		case "sas":
			f, _ := DeriveSAs(k16("master"), safile.Options{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddr("10.0.0.2")})
			if !bytes.Equal(be32(f.Outbound[0].SPI), r.Hex("spi_h2d")) || !bytes.Equal(f.Outbound[0].EncKey, r.Hex("enc_h2d")) ||
				!bytes.Equal(be32(f.Inbound[0].SPI), r.Hex("spi_d2h")) || !bytes.Equal(f.Inbound[0].EncKey, r.Hex("enc_d2h")) {
				t.Errorf("%s: sas", r.Pos())
			}
		case "exchange":
			in := map[string][]byte{}
			for _, n := range r.Names() {
				if r.Has(n) && n != "alg" && n != "source" && n != "name" {
					in[n] = r.Hex(n)
				}
			}
			o := runExchange(t, k16("skcs"), binary.BigEndian.Uint32(in["controller"]), binary.BigEndian.Uint32(in["device"]),
				binary.BigEndian.Uint64(in["ts"]), TID(in["tid"]), k16("ik"), k16("rni"), k16("rnc"), in)
			for n, b := range map[string][]byte{"flight2": o.f2, "flight3": o.f3, "flight4": o.f4, "flight5": o.f5, "flight6": o.f6, "flight7": o.f7, "psk": o.psk[:]} {
				if !bytes.Equal(b, in[n]) {
					t.Errorf("%s: %s differs", r.Pos(), n)
				}
			}
			if l, err := ParseLabel(string(in["label"])); err != nil || l.Device != binary.BigEndian.Uint32(in["device"]) || l.RNi != k16("rni") {
				t.Errorf("%s: label", r.Pos())
			}
		default:
			t.Errorf("%s: unknown record %q", r.Pos(), r.Text("name"))
		}
	}
}
