package capture

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// fuzzMinimize is the default -test.fuzzminimizetime of this package.
//
// Go's fuzzer stops fuzzing to minimize every input that finds new
// coverage, for up to -test.fuzzminimizetime (60 s by default), and
// reports the executions only when it is done. Its minimizer tries
// removing every subrange of the input: quadratic in the input's length.
// A capture of a few packets is a few KB, so that is millions of
// DecryptCapture calls and every find used the whole minute: `go test
// -fuzz FuzzDecryptCapture` showed about one execution a second.
// Bounded to 10000 calls (well under a second), minimization still cuts
// the tail and most single bytes; -fuzzminimizetime on the command line
// overrides it.
const fuzzMinimize = "10000x"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimize); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// FuzzDecryptCapture feeds arbitrary bytes to DecryptCapture as a capture
// file. It must never panic or hang, and whatever it accepts it writes as a
// capture that reads back with the same number of packets. Options.Size
// is set as the CLI sets it, so a small input gets small buffers (the
// 1 MiB ones made every call cost about 150 µs).
func FuzzDecryptCapture(f *testing.F) {
	sf, out, back := session(f, 99, safile.Options{Suite: esp.SuiteAES128CBCHMACSHA1, UDPEncap: true})
	for i, lt := range linkTypes {
		pkts := traffic(f, lt, out, back, 3)
		f.Add(build(f, lt, i%2 == 0, pkts))
	}
	sas := sf.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o bytes.Buffer
		st, err := DecryptCapture(context.Background(), bytes.NewReader(data), &o, sas, Options{Workers: 2, Window: 4, Size: int64(len(data))})
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
