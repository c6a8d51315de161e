package wasmtest

// Hostile modules too small or too odd to keep as WAT: each is a way a
// stranger's module once exhausted or crashed the host (issue 10).

// ExportBomb is a 15-byte module (for count >= 2^21) whose export section
// declares count exports and holds the empty name of the first: wazero's
// decoder allocated ~54 bytes per declared export before reading any.
func ExportBomb(count uint32) []byte {
	body := append(appendU32(nil, count), 0)
	return append(append([]byte("\x00asm\x01\x00\x00\x00\x07"), appendU32(nil, uint32(len(body)))...), body...)
}

// WithCustomSection returns module with a custom section named name of
// size zero bytes appended, which wazero with debug info on kept in memory.
func WithCustomSection(module []byte, name string, size int) []byte {
	payload := append(appendU32(nil, uint32(len(name))), name...)
	out := append([]byte(nil), module...)
	out = append(out, 0)
	out = appendU32(out, uint32(len(payload)+size))
	out = append(out, payload...)
	return append(out, make([]byte, size)...)
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
