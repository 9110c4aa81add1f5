package capture

import (
	"bytes"
	"context"
	"testing"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// FuzzDecryptCapture feeds arbitrary bytes to DecryptCapture as a capture
// file. It must never panic or hang, and whatever it accepts it writes as a
// capture that reads back with the same number of packets.
func FuzzDecryptCapture(f *testing.F) {
	sf, out, back := session(f, 99, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1, UDPEncap: true})
	for i, lt := range linkTypes {
		pkts := traffic(f, lt, out, back, 3)
		f.Add(build(f, lt, i%2 == 0, pkts))
	}
	sas := sf.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o bytes.Buffer
		st, err := DecryptCapture(context.Background(), bytes.NewReader(data), &o, sas, Options{Workers: 2, Window: 4})
		if err != nil {
			return
		}
		frames, _ := readAll(t, o.Bytes())
		if uint64(len(frames)) != st.Packets {
			t.Fatalf("wrote %d packets, counted %d", len(frames), st.Packets)
		}
		if st.Packets != st.Decrypted+st.FailedICV+st.Replayed+st.UnknownSPI+st.Malformed+st.Dummy+st.Unrepresentable+st.Other {
			t.Fatalf("stats do not add up: %+v", st)
		}
	})
}
