package mssl

// SealRecordForTest and OpenRecordForTest expose the record layer to the
// vector tests.
func SealRecordForTest(key [KeySize]byte, salt [SaltSize]byte, dir, typ byte, seq uint32, pt, extra []byte) []byte {
	return newDirection(key, salt, dir).seal(nil, typ, seq, pt, extra)
}

func OpenRecordForTest(key [KeySize]byte, salt [SaltSize]byte, dir byte, rec, extra []byte) ([]byte, error) {
	r, err := ParseRecord(rec)
	if err != nil {
		return nil, err
	}
	return newDirection(key, salt, dir).open(nil, rec, r, extra)
}
