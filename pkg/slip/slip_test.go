package slip

import (
	"bytes"
	"io"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"empty", nil, []byte{End, End}},
		{"plain", []byte{1, 2, 3}, []byte{End, 1, 2, 3, End}},
		{"end", []byte{End}, []byte{End, Esc, EscEnd, End}},
		{"esc", []byte{Esc}, []byte{End, Esc, EscEsc, End}},
		{"escend-literals", []byte{EscEnd, EscEsc}, []byte{End, EscEnd, EscEsc, End}},
		{"mixed", []byte{0x45, End, Esc, 0}, []byte{End, 0x45, Esc, EscEnd, Esc, EscEsc, 0, End}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.in); !bytes.Equal(got, tt.want) {
				t.Fatalf("Encode(%x) = %x, want %x", tt.in, got, tt.want)
			}
		})
	}
}

func collect(d *Decoder, p []byte) [][]byte {
	var out [][]byte
	d.Feed(p, func(f []byte) { out = append(out, append([]byte(nil), f...)) })
	return out
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		in        []byte
		want      [][]byte
		oversized uint64
		badEsc    uint64
	}{
		{"one", 10, []byte{End, 1, 2, End}, [][]byte{{1, 2}}, 0, 0},
		{"no leading end", 10, []byte{1, 2, End}, [][]byte{{1, 2}}, 0, 0},
		{"empty frames ignored", 10, []byte{End, End, End, 7, End, End}, [][]byte{{7}}, 0, 0},
		{"escapes", 10, []byte{End, Esc, EscEnd, Esc, EscEsc, End}, [][]byte{{End, Esc}}, 0, 0},
		{"two", 10, []byte{End, 1, End, 2, End}, [][]byte{{1}, {2}}, 0, 0},
		{"exactly max", 3, []byte{End, 1, 2, 3, End}, [][]byte{{1, 2, 3}}, 0, 0},
		{"oversized dropped then next ok", 3, []byte{End, 1, 2, 3, 4, End, 5, End}, [][]byte{{5}}, 1, 0},
		{"bad escape dropped", 10, []byte{End, 1, Esc, 9, 2, End, 3, End}, [][]byte{{3}}, 0, 1},
		{"escape then end", 10, []byte{End, 1, Esc, End, 3, End}, [][]byte{{3}}, 0, 1},
		{"partial not emitted", 10, []byte{End, 1, 2}, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.max)
			got := collect(d, tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d frames %x, want %d %x", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("frame %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
			if d.Stats.Oversized != tt.oversized || d.Stats.BadEscape != tt.badEsc {
				t.Fatalf("stats %+v, want oversized %d badescape %d", d.Stats, tt.oversized, tt.badEsc)
			}
		})
	}
}

func TestDecodeByteAtATime(t *testing.T) {
	frame := []byte{0, End, 1, Esc, 2, EscEnd, EscEsc}
	enc := Encode(frame)
	d := NewDecoder(0)
	var got [][]byte
	for _, b := range enc {
		got = append(got, collect(d, []byte{b})...)
	}
	if len(got) != 1 || !bytes.Equal(got[0], frame) {
		t.Fatalf("got %x, want one frame %x", got, frame)
	}
}

type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestReader(t *testing.T) {
	var stream []byte
	stream = append(stream, 0x55, 0x66) // noise before the first End
	stream = AppendEncode(stream, []byte{1, 2})
	stream = AppendEncode(stream, bytes.Repeat([]byte{9}, 20)) // oversized
	stream = AppendEncode(stream, []byte{End})
	r := NewReader(&chunkReader{data: stream, n: 3}, 8)
	var got [][]byte
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	want := [][]byte{{0x55, 0x66}, {1, 2}, {End}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d = %x, want %x", i, got[i], want[i])
		}
	}
	if r.Stats().Oversized != 1 {
		t.Fatalf("oversized = %d, want 1", r.Stats().Oversized)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{End, Esc, EscEnd, EscEsc, 0x45})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any frame survives encode/decode unchanged.
		enc := Encode(data)
		d := NewDecoder(len(data) + 1)
		got := collect(d, enc)
		if len(data) == 0 {
			if len(got) != 0 {
				t.Fatalf("empty frame delivered: %x", got)
			}
		} else if len(got) != 1 || !bytes.Equal(got[0], data) {
			t.Fatalf("round trip of %x gave %x", data, got)
		}
		// Arbitrary input never yields a frame over the limit nor one
		// containing an unescaped End, and never panics.
		d2 := NewDecoder(16)
		d2.Feed(data, func(f []byte) {
			if len(f) == 0 || len(f) > 16 {
				t.Fatalf("bad frame length %d", len(f))
			}
		})
	})
}
