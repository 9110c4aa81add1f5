package vectors

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, rs []Record)
	}{
		{"empty file", "", func(t *testing.T, rs []Record) { wantLen(t, rs, 0) }},
		{"only comments and blanks", "# a\n\n   \n# b\n", func(t *testing.T, rs []Record) { wantLen(t, rs, 0) }},
		{"one record", "alg = md5\nsource = RFC 1321\nmsg = 616263\ndigest = 00FF\n", func(t *testing.T, rs []Record) {
			wantLen(t, rs, 1)
			r := rs[0]
			if r.Alg != "md5" || r.Source != "RFC 1321" || r.Line != 1 || r.File != "t.txt" {
				t.Fatalf("record = %+v", r)
			}
			eq(t, r.Hex("msg"), []byte("abc"))
			eq(t, r.Hex("digest"), []byte{0, 0xff})
			if !reflect.DeepEqual(r.Names(), []string{"alg", "source", "msg", "digest"}) {
				t.Fatalf("Names = %v", r.Names())
			}
			if !r.Has("msg") || r.Has("key") || r.Hex("key") != nil {
				t.Fatal("Has/Hex of an absent field")
			}
			if r.FieldPos("digest") != "t.txt:4" || r.Pos() != "t.txt:1" {
				t.Fatalf("positions %s %s", r.FieldPos("digest"), r.Pos())
			}
		}},
		{"no spaces around =, CRLF, trailing blanks", "alg=x\r\nsource=s  \r\nk=0a\r\n", func(t *testing.T, rs []Record) {
			wantLen(t, rs, 1)
			eq(t, rs[0].Hex("k"), []byte{10})
		}},
		{"empty hex value", "alg = a\nsource = s\nmsg =\n", func(t *testing.T, rs []Record) {
			b := rs[0].Hex("msg")
			if b == nil || len(b) != 0 {
				t.Fatalf("msg = %#v, want empty non-nil", b)
			}
		}},
		{"continuation lines and comments inside", "alg = a\n# c\nsource = s\nkey = 0001\n  0203\n# mid\n\t0405\nnote = one\n two\n", func(t *testing.T, rs []Record) {
			eq(t, rs[0].Hex("key"), []byte{0, 1, 2, 3, 4, 5})
			if rs[0].Text("note") != "one two" {
				t.Fatalf("note = %q", rs[0].Text("note"))
			}
		}},
		{"several records, many blanks", "\n\nalg = a\nsource = s\n\n\n\nalg = b\nsource = t\nrepeat = 1000000\nresult = fail\n\n", func(t *testing.T, rs []Record) {
			wantLen(t, rs, 2)
			if rs[1].Line != 8 || rs[1].Int("repeat") != 1000000 || !rs[1].ExpectFail() || rs[0].ExpectFail() {
				t.Fatalf("second record %+v", rs[1])
			}
		}},
		{"text keeps inner spaces and #", "alg = aes-128-ccm\nsource = RFC 3610 section 8, Packet Vector #1\n", func(t *testing.T, rs []Record) {
			if rs[0].Source != "RFC 3610 section 8, Packet Vector #1" {
				t.Fatalf("source %q", rs[0].Source)
			}
		}},
		{"Hex returns a copy", "alg = a\nsource = s\nk = 01\n", func(t *testing.T, rs []Record) {
			rs[0].Hex("k")[0] = 9
			eq(t, rs[0].Hex("k"), []byte{1})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("t.txt", strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rs)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"duplicate field", "alg = a\nsource = s\nkey = 00\nkey = 01\n", "t.txt:4: duplicate field \"key\""},
		{"odd hex", "alg = a\nsource = s\nkey = 000\n", "t.txt:3: key: odd number of hex digits"},
		{"odd hex across continuation", "alg = a\nsource = s\nkey = 00\n 0\n", "t.txt:3: key: odd number"},
		{"non-hex digit", "alg = a\nsource = s\nkey = 0g\n", "t.txt:3: key: invalid hex digit"},
		{"0x prefix", "alg = a\nsource = s\nkey = 0x00\n", "t.txt:3: key: invalid hex digit"},
		{"space inside hex", "alg = a\nsource = s\nkey = 00 11\n", "t.txt:3: key: invalid hex digit"},
		{"no equals", "alg = a\nsource = s\njunk\n", "t.txt:3: expected \"name = value\""},
		{"uppercase name", "alg = a\nsource = s\nKey = 00\n", "t.txt:3: invalid field name \"Key\""},
		{"space in name", "alg = a\nsource = s\nmy key = 00\n", "t.txt:3: invalid field name"},
		{"empty name", "alg = a\nsource = s\n= 00\n", "t.txt:3: invalid field name"},
		{"continuation first", "  00\nalg = a\n", "t.txt:1: continuation line outside a field"},
		{"continuation after blank", "alg = a\nsource = s\n\n  00\n", "t.txt:4: continuation line outside a field"},
		{"missing alg", "source = s\nkey = 00\n", "t.txt:1: record has no alg"},
		{"missing source", "\nalg = a\nkey = 00\n", "t.txt:2: record has no source"},
		{"empty alg", "alg =\nsource = s\n", "t.txt:1: empty alg"},
		{"bad integer", "alg = a\nsource = s\nrepeat = 12x\n", "t.txt:3: repeat: invalid integer"},
		{"negative integer", "alg = a\nsource = s\nrepeat = -1\n", "t.txt:3: repeat: invalid integer"},
		{"plus integer", "alg = a\nsource = s\nrepeat = +1\n", "t.txt:3: repeat: invalid integer"},
		{"huge integer", "alg = a\nsource = s\nrepeat = 99999999999\n", "t.txt:3: repeat: invalid integer"},
		{"empty integer", "alg = a\nsource = s\nrepeat =\n", "t.txt:3: repeat: invalid integer"},
		{"bad result", "alg = a\nsource = s\nresult = maybe\n", "t.txt:3: result must be pass or fail"},
		{"error in second record", "alg = a\nsource = s\n\nalg = b\nsource = s\nk = 1\n", "t.txt:6: k: odd"},
		{"long line", "alg = a\nsource = s\nk = " + strings.Repeat("00", MaxLineLen) + "\n", "t.txt:3: line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("t.txt", strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error; records %+v", rs)
			}
			if !strings.HasPrefix(err.Error(), "vectors: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	rs, err := Parse("t.txt", strings.NewReader("alg = a\nsource = s\nkey = 00\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rs[0].Require("key"); err != nil {
		t.Fatal(err)
	}
	err = rs[0].Require("key", "iv", "pt")
	if err == nil || !strings.Contains(err.Error(), "t.txt:1: a record lacks iv, pt") {
		t.Fatalf("Require = %v", err)
	}
}

func TestStringRoundTrip(t *testing.T) {
	in := "alg = a\nsource = RFC x §1\nkey = 00AA\n  bb\nrepeat = 7\nmsg =\nresult = fail\n"
	rs, err := Parse("t.txt", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "alg = a\nsource = RFC x §1\nkey = 00aabb\nrepeat = 7\nmsg = \nresult = fail\n"
	if got := rs[0].String(); got != want {
		t.Fatalf("String =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadAndDir(t *testing.T) {
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Fatalf("Dir() = %s: %v", d, err)
	}
	p := filepath.Join(t.TempDir(), "v.txt")
	if err := os.WriteFile(p, []byte("alg = a\nsource = s\n\nalg = b\nsource = s\nk = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p+":6:") {
		t.Fatalf("Load error %v, want one naming %s:6", err, p)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	// Dir fails outside any module.
	t.Chdir(t.TempDir())
	if d, err := Dir(); err == nil {
		t.Fatalf("Dir() outside a module = %s", d)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("alg = a\nsource = s\nkey = 0001\n  0203\nrepeat = 3\n\nalg = b\nsource = t\nmsg =\nresult = fail\n")
	f.Add("# c\n\nalg=x\r\nsource=y\r\nnote = a\n b\n")
	f.Add("alg = a\nsource = s\nkey = 000\n")
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := Parse("f.txt", strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "vectors: f.txt") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		// Whatever parses must print and re-parse to the same records.
		var b strings.Builder
		for _, r := range rs {
			if r.Alg == "" || r.Source == "" {
				t.Fatalf("record without alg/source: %+v", r)
			}
			b.WriteString(r.String())
			b.WriteString("\n")
		}
		again, err := Parse("f.txt", strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if len(again) != len(rs) {
			t.Fatalf("re-parse: %d records, want %d", len(again), len(rs))
		}
		for i := range rs {
			if got, want := again[i].String(), rs[i].String(); got != want {
				t.Fatalf("re-parse record %d:\n%s\nwant\n%s", i, got, want)
			}
		}
	})
}

func wantLen(t *testing.T, rs []Record, n int) {
	t.Helper()
	if len(rs) != n {
		t.Fatalf("%d records, want %d", len(rs), n)
	}
}

func eq(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}
