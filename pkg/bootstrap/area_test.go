package bootstrap

import "testing"

func TestParseArea(t *testing.T) {
	rni := [RNSize]byte{1, 2, 3}
	a, err := ParseArea(EnrolArea(rni))
	if err != nil || a.RNi != rni {
		t.Fatalf("ParseArea(EnrolArea): %v %v", a, err)
	}
	if _, err := ParseArea(make([]byte, AreaSize-1)); err == nil {
		t.Fatal("a short area parsed")
	}
	if _, err := ParseArea(make([]byte, AreaSize+1)); err == nil {
		t.Fatal("a long area parsed")
	}
}
