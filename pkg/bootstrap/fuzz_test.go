package bootstrap

import (
	"path/filepath"
	"testing"
	"time"
)

// Fuzz targets for every parser: go test ./pkg/bootstrap -fuzz FuzzX.
// Seeds are the valid flights (added here) and the corpus kept in
// testdata/fuzz.

func FuzzParseLabel(f *testing.F) {
	f.Add(testLabel.String())
	f.Add("MSB1:0000002A:101112131415161718191A1B1C1D1E1F:0000")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLabel(s)
		if err != nil {
			return
		}
		// Anything accepted round-trips to the canonical payload.
		if l2, err := ParseLabel(l.String()); err != nil || l2 != l {
			t.Fatalf("accepted %q does not round-trip", s)
		}
	})
}

// FuzzServer feeds arbitrary datagrams to a server: it must never panic,
// and never answer a message that does not authenticate.
func FuzzServer(f *testing.F) {
	for _, p := range parsers(nil) {
		f.Add(p.msg)
	}
	f.Add(MarshalJoin(testSK, &JoinRequest{Controller: 1, TS: uint64(testEpoch.Unix()), Device: 5}))
	repo, err := CreateRepository(filepath.Join(f.TempDir(), "repo"))
	if err != nil {
		f.Fatal(err)
	}
	repo.Add(Entry{Device: 5, Key: [KeySize]byte{5}})
	srv := &Server{Repo: repo, Controllers: map[uint32][KeySize]byte{1: testSK}, Now: func() time.Time { return testEpoch }}
	f.Fuzz(func(t *testing.T, msg []byte) {
		resp := srv.Handle(msg)
		if resp == nil {
			return
		}
		if _, err := OpenJoin(testSK, msg); err != nil {
			if _, err := OpenConfirm(testSK, msg); err != nil {
				t.Fatalf("answered a message that does not authenticate: %x", msg)
			}
		}
	})
}

// FuzzDevice feeds arbitrary datagrams to the reference device: it must
// never panic and never change its key without a valid flight 4.
func FuzzDevice(f *testing.F) {
	ik, rni := [KeySize]byte{1}, [RNSize]byte{2}
	f.Add(MarshalRekey(ik, 9, TID{3}, rni, [RNSize]byte{4}))
	f.Add([]byte("MB\x01\x04"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := NewDevice(9, ik, rni)
		r := d.Handle(msg)
		k, _ := d.Key()
		if k != ik {
			if _, _, err := open(ik, msg, TypeRekey, Flight4Size); err != nil {
				t.Fatalf("key changed by %x", msg)
			}
		}
		if r != nil && len(r) != NAKSize && len(r) != Flight5Size {
			t.Fatalf("reply of %d bytes", len(r))
		}
	})
}

func FuzzParsers(f *testing.F) {
	for _, p := range parsers(nil) {
		f.Add(p.msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		key := [KeySize]byte{7}
		OpenJoin(key, msg)
		OpenKeys(key, msg)
		OpenConfirm(key, msg)
		OpenDone(key, msg)
		OpenError(key, msg)
		OpenProof(key, msg, 42, TID{}, [RNSize]byte{})
		ParseNAK(msg)
		ParseHeader(msg)
		ParseControllers(msg)
		ParseEnrolled(msg)
		parseRepo(msg)
	})
}
