package bootstrap

import "testing"

func TestParseArea(t *testing.T) {
	var ik, psk [KeySize]byte
	var rni [RNSize]byte
	for i := range ik {
		ik[i], psk[i], rni[i] = byte(i), byte(0x80+i), byte(0x10+i)
	}
	area := EnrolArea(ik, rni)
	a, err := ParseArea(area)
	if err != nil {
		t.Fatal(err)
	}
	if a.RNi != rni || a.Active != 0 || !a.Slots[0].Valid || a.Slots[0].Gen != 0 || a.Slots[1].Valid || !a.Slots[1].Erased {
		t.Fatalf("enrolled area: %+v", a)
	}
	if k, gen, ok := AreaKey(area); !ok || k != ik || gen != 0 {
		t.Fatalf("AreaKey: %x %d %v", k, gen, ok)
	}
	// After a commit into slot 1 the new key is in force.
	d := Device{mem: area}
	if err := d.commit(1, 1, psk); err != nil {
		t.Fatal(err)
	}
	a, _ = ParseArea(area)
	if a.Active != 1 || a.Slots[1].Gen != 1 || a.Slots[1].Erased {
		t.Fatalf("after a commit: %+v", a)
	}
	if k, gen, ok := AreaKey(area); !ok || k != psk || gen != 1 {
		t.Fatalf("AreaKey after a commit: %x %d %v", k, gen, ok)
	}
	// A damaged slot 1 (CRC) leaves slot 0 in force.
	area[RNSize+SlotSize+7] ^= 1
	a, _ = ParseArea(area)
	if a.Active != 0 || a.Slots[1].Valid || a.Slots[1].Erased {
		t.Fatalf("damaged slot 1: %+v", a)
	}
	blank := make([]byte, AreaSize)
	for i := range blank {
		blank[i] = 0xFF
	}
	if a, _ = ParseArea(blank); a.Active != -1 {
		t.Fatalf("blank area: %+v", a)
	}
	if _, _, ok := AreaKey(blank); ok {
		t.Fatal("AreaKey of a blank area")
	}
	if _, err := ParseArea(area[:10]); err == nil {
		t.Fatal("short area accepted")
	}
	if RNFingerprint(rni) == RNFingerprint([RNSize]byte{}) || len(RNFingerprint(rni)) != 8 {
		t.Fatal("RNFingerprint")
	}
}
