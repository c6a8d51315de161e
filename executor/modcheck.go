package executor

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/faasedge/faasedge/activation"
)

// Every module is checked before wazero decodes it. wazero's decoder
// (internal/wasm/binary in v1.12.0) allocates for what a module declares
// before reading it: decodeExportSection makes a slice and a map of the
// declared export count, decodeImportSection, decodeFunctionSection,
// decodeGlobalSection, decodeElementSection, decodeCodeSection and
// decodeDataSection a slice of the declared count, decodeUTF8 a buffer of a
// name's declared length, decodeDataSegment one of a segment's declared
// length, decodeCode one of a body's declared size and one of its declared
// locals, and a table's declared minimum is allocated when it is
// instantiated. A 15-byte module declaring 2^24 exports took ~860 MB.
// scanModule walks the same structure without allocating for it and refuses
// a module whose declarations exceed the bytes that follow them or the caps
// below; what the rest costs to decode is estimated and held against the
// action's memory limit.

// Caps on what a module declares: the WebAssembly JS API's
// implementation-defined limits, which every browser engine enforces (the
// element segment count is wasmparser's).
const (
	maxTypes           = 1_000_000
	maxFunctions       = 1_000_000
	maxImports         = 100_000
	maxExports         = 100_000
	maxGlobals         = 1_000_000
	maxTags            = 1_000_000
	maxDataSegments    = 100_000
	maxElementSegments = 100_000
	maxTables          = 100_000
	maxTableElements   = 10_000_000 // per table, and in all tables together
	maxStringBytes     = 100_000
	maxBodyBytes       = 7_654_321
	maxLocals          = 50_000 // per function
	maxParams          = 1_000
	maxResults         = 1_000
)

// Host bytes one declared entry costs once decoded, compiled and
// instantiated: the size of wazero's structure for it (wasm.Import 112,
// wasm.Export 32 plus its map entry, wasm.Global 40, wasm.Code 72 plus the
// function's definition and compiled offsets, wasm.DataSegment 56,
// wasm.ElementSegment 72, wasm.ConstantExpression 24 per element, a table
// slot 8) with room for the allocator's rounding.
const (
	costType     = 128
	costImport   = 256
	costFunction = 256
	costExport   = 128
	costGlobal   = 64
	costTag      = 8
	costTable    = 64
	costData     = 96
	costElement  = 96
	costElemItem = 48
	costSlot     = 8
	costLocal    = 1
)

// Section ids (WebAssembly 2.0 binary format, plus exception handling's tag
// section).
const (
	secCustom = iota
	secType
	secImport
	secFunction
	secTable
	secMemory
	secGlobal
	secExport
	secStart
	secElement
	secCode
	secData
	secDataCount
	secTag
)

var wasmHeader = []byte("\x00asm\x01\x00\x00\x00")

// moduleInfo is what the check learnt of a module.
type moduleInfo struct {
	minPages  uint32 // initial linear memory; 0 without one
	hostBytes int64  // estimated host memory its declarations take (see the cost constants)
}

// memoryFits says whether the module's initial linear memory fits an
// action's memory limit. A run that does not gets the stock "exhausted its
// memory" error, as an OOM-killed container does; a create, this reason.
func (i moduleInfo) memoryFits(limitMB int64) error {
	if need := uint64(i.minPages) * pageSize; need > uint64(limitMB)<<20 {
		return devErrorf("the action's module starts with %d MiB of linear memory, more than its memory limit of %d MB", need>>20, limitMB)
	}
	return nil
}

// hostFits says whether what the module declares takes no more host memory
// than an action's memory limit: a module is not compiled for an action
// that could not hold it.
func (i moduleInfo) hostFits(limitMB int64) error {
	if uint64(i.hostBytes) > uint64(limitMB)<<20 {
		return devErrorf("the action's module declares entries that take about %d MB of host memory, more than its memory limit of %d MB", i.hostBytes>>20, limitMB)
	}
	return nil
}

// CheckCode decodes an action's code as a run does (raw, base64 or zipped
// wasm) and checks its module against the action's memory limit without
// compiling it, so that an action that could never run is refused when it
// is created. Code given by CID is checked when a run fetches it. The
// error says what is wrong.
func CheckCode(a *activation.Action) error {
	if a.Code.CID != "" {
		return nil
	}
	mod, err := decodeModule(a.Code.Inline, a.Code.Binary, a.Main)
	if err != nil {
		return err
	}
	info, err := scanModule(mod)
	if err != nil {
		return err
	}
	mem := runLimits(a.Limits).Memory
	if err := info.memoryFits(mem); err != nil {
		return err
	}
	return info.hostFits(mem)
}

// readModule reads a module of at most limit bytes from r, dropping its
// custom sections as it goes, so that neither a zip bomb nor a module
// padded with a huge custom section (names, DWARF, anything) is ever held
// in memory. hint is the size r claims to hold, for the first allocation,
// which is bounded: a zip's declared size, or base64 text's length, can lie
// or count custom sections.
func readModule(r io.Reader, hint, limit int64) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, limit+1))
	out := make([]byte, len(wasmHeader), min(max(hint, int64(len(wasmHeader))), limit, 16<<20))
	if _, err := io.ReadFull(br, out); err != nil || string(out) != string(wasmHeader) {
		return nil, readFailure(err, "the action's code is not a WebAssembly 1.0 module (bad magic or version)")
	}
	read := int64(len(wasmHeader))
	for {
		id, err := br.ReadByte()
		if err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, readFailure(err, "%s: %v", msgInvalidModule, err)
		}
		size, n, err := readU32(br)
		if err != nil {
			return nil, readFailure(err, "%s: section %d: malformed size: %v", msgInvalidModule, id, err)
		}
		read += 1 + int64(n) + int64(size)
		if read > limit {
			return nil, devErrorf("the action's module is larger than %d bytes", limit)
		}
		if id == secCustom {
			if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
				return nil, readFailure(err, "%s: the module ends inside a custom section", msgInvalidModule)
			}
			continue
		}
		out = append(out, id)
		out = appendU32(out, size)
		hdr := len(out)
		out = append(out, make([]byte, size)...)
		if _, err := io.ReadFull(br, out[hdr:]); err != nil {
			return nil, readFailure(err, "%s: the module ends inside section %d (declared %d bytes)", msgInvalidModule, id, size)
		}
	}
}

// msgInvalidModule begins the text of every error in a module's structure.
const msgInvalidModule = "the action's WebAssembly module is invalid"

// readFailure is the error of a failed read: the reader's own when it says
// what is wrong with the code (bad base64), else the given text.
func readFailure(err error, format string, args ...any) error {
	var dev *devError
	if errors.As(err, &dev) {
		return dev
	}
	return devErrorf(format, args...)
}

// base64Reader reads base64 text; a decoding error is the code's fault.
type base64Reader struct{ r io.Reader }

func (b base64Reader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var corrupt base64.CorruptInputError
	if errors.As(err, &corrupt) {
		err = devErrorf("the action's code is not valid base64: %v", err)
	}
	return n, err
}

func readU32(r io.ByteReader) (v uint32, n int, err error) {
	for shift := 0; shift < 35; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, n, err
		}
		n++
		v |= uint32(b&0x7f) << shift
		if b&0x80 == 0 {
			if shift == 28 && b > 0x0f {
				return 0, n, errors.New("integer too large")
			}
			return v, n, nil
		}
	}
	return 0, n, errors.New("integer too long")
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// scanner reads a module's bytes. Its first error sticks: later reads
// return zeros, so that callers check once per entry.
type scanner struct {
	b   []byte
	off int
	err error
}

func (s *scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

func (s *scanner) left() int { return len(s.b) - s.off }

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.err != nil || s.off >= len(s.b) {
		return 0
	}
	return s.b[s.off]
}

func (s *scanner) byte() byte {
	if s.err != nil {
		return 0
	}
	if s.off >= len(s.b) {
		s.fail("unexpected end at byte %d", s.off)
		return 0
	}
	s.off++
	return s.b[s.off-1]
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (s *scanner) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		b := s.byte()
		if s.err != nil {
			return 0
		}
		v |= uint32(b&0x7f) << shift
		if b&0x80 == 0 {
			if shift == 28 && b > 0x0f {
				s.fail("integer too large at byte %d", s.off)
			}
			return v
		}
	}
	s.fail("integer too long at byte %d", s.off)
	return 0
}

// sleb skips a signed LEB128 of at most n bits.
func (s *scanner) sleb(bits int) {
	for i := 0; i < (bits+6)/7; i++ {
		if s.byte()&0x80 == 0 {
			return
		}
	}
	s.fail("integer too long at byte %d", s.off)
}

func (s *scanner) skip(n uint32) {
	if s.err != nil {
		return
	}
	if uint64(n) > uint64(s.left()) {
		s.fail("%d bytes declared at byte %d, %d left", n, s.off, s.left())
		return
	}
	s.off += int(n)
}

// count reads a vector's length: each entry takes at least minBytes, so
// more than the bytes left could hold is a lie, and more than limit too
// many.
func (s *scanner) count(what string, minBytes int, limit uint32) uint32 {
	n := s.u32()
	if s.err != nil {
		return 0
	}
	if n > limit {
		s.err = fmt.Errorf("%d %s declared, more than the %d allowed", n, what, limit)
		return 0
	}
	if uint64(n)*uint64(minBytes) > uint64(s.left()) {
		s.err = fmt.Errorf("%d %s declared in %d bytes", n, what, s.left())
		return 0
	}
	return n
}

// vec reads a vector's length (see count) and calls item for each of its
// entries until the scan fails; it returns the length.
func (s *scanner) vec(what string, minBytes int, limit uint32, item func()) uint32 {
	n := s.count(what, minBytes, limit)
	for i := uint32(0); i < n && s.err == nil; i++ {
		item()
	}
	return n
}

func (s *scanner) name() {
	n := s.u32()
	if n > maxStringBytes {
		s.fail("a name of %d bytes, more than the %d allowed", n, maxStringBytes)
		return
	}
	start := s.off
	s.skip(n)
	if s.err == nil && !utf8.Valid(s.b[start:s.off]) {
		s.fail("a name at byte %d is not UTF-8", start)
	}
}

// Value and reference type encodings.
const (
	refNullable    = 0x63
	refNonNullable = 0x64
)

func (s *scanner) valType() {
	switch b := s.byte(); b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69: // i32 i64 f32 f64 v128 funcref externref exnref
	case refNullable, refNonNullable:
		s.sleb(33)
	default:
		s.fail("invalid value type %#x at byte %d", b, s.off-1)
	}
}

func (s *scanner) limits(what string) (minimum, maximum uint32, hasMax bool) {
	switch flag := s.byte(); flag {
	case 0x00, 0x02:
		return s.u32(), 0, false
	case 0x01, 0x03:
		return s.u32(), s.u32(), true
	default:
		s.fail("invalid %s limits flag %#x", what, flag)
		return 0, 0, false
	}
}

// constExpr skips a constant expression, up to and including its end.
func (s *scanner) constExpr() {
	for s.err == nil {
		switch op := s.byte(); op {
		case 0x0b: // end
			return
		case 0x41: // i32.const
			s.sleb(32)
		case 0x42: // i64.const
			s.sleb(64)
		case 0x43: // f32.const
			s.skip(4)
		case 0x44: // f64.const
			s.skip(8)
		case 0x23, 0xd2: // global.get, ref.func
			s.u32()
		case 0xd0: // ref.null
			s.sleb(33)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		case 0xfd: // v128.const
			if s.u32() != 0x0c {
				s.fail("invalid vector constant at byte %d", s.off)
			}
			s.skip(16)
		default:
			s.fail("invalid constant expression opcode %#x at byte %d", op, s.off-1)
		}
	}
}

func (s *scanner) funcType() {
	if b := s.byte(); b != 0x60 {
		s.fail("invalid function type %#x at byte %d", b, s.off-1)
		return
	}
	for range s.count("parameters", 1, maxParams) {
		s.valType()
	}
	for range s.count("results", 1, maxResults) {
		s.valType()
	}
}

// scanModule checks module (its custom sections already dropped) and
// estimates what it costs; see the comment at the top of this file.
func scanModule(module []byte) (moduleInfo, error) {
	var info moduleInfo
	if len(module) < len(wasmHeader) || string(module[:len(wasmHeader)]) != string(wasmHeader) {
		return info, devErrorf("%s: bad magic or version", msgInvalidModule)
	}
	cost := int64(0)
	functions, bodies := -1, -1
	var tableSlots uint64
	top := &scanner{b: module, off: len(wasmHeader)}
	for top.left() > 0 && top.err == nil {
		id := top.byte()
		size := top.u32()
		start := top.off
		top.skip(size)
		if top.err != nil {
			break
		}
		s := &scanner{b: module[start:top.off]}
		switch id {
		case secCustom: // dropped by readModule before compiling
			s.off = len(s.b)
		case secType:
			n := s.vec("types", 2, maxTypes, func() {
				if s.peek() != 0x4e {
					s.funcType()
					return
				}
				s.byte() // a recursion group
				cost += int64(s.vec("types in a group", 3, maxTypes, s.funcType)) * costType
			})
			cost += int64(n) * costType
		case secImport:
			n := s.count("imports", 4, maxImports)
			for i := uint32(0); i < n && s.err == nil; i++ {
				s.name()
				s.name()
				if kind := s.byte(); kind != 0x00 && s.err == nil {
					return info, devErrorf("the action's module imports a %s: only WASI preview 1 functions (%s) are provided", externName(kind), wasiModule)
				}
				s.u32()
			}
			cost += int64(n) * costImport
		case secFunction:
			n := s.vec("functions", 1, maxFunctions, func() { s.u32() })
			functions = int(n)
			cost += int64(n) * costFunction
		case secTable:
			n := s.vec("tables", 3, maxTables, func() {
				initExpr := s.peek() == 0x40
				if initExpr {
					s.skip(2)
				}
				s.valType()
				minimum, _, _ := s.limits("table")
				if minimum > maxTableElements {
					s.fail("a table of %d elements, more than the %d allowed", minimum, maxTableElements)
				}
				tableSlots += uint64(minimum)
				if initExpr {
					s.constExpr()
				}
			})
			if tableSlots > maxTableElements {
				s.fail("tables of %d elements in all, more than the %d allowed", tableSlots, maxTableElements)
			}
			cost += int64(n) * costTable
		case secMemory:
			n := s.count("memories", 2, 1)
			if n == 1 {
				info.minPages, _, _ = s.limits("memory")
			}
		case secGlobal:
			n := s.vec("globals", 4, maxGlobals, func() {
				s.valType()
				s.byte() // mutability
				s.constExpr()
			})
			cost += int64(n) * costGlobal
		case secExport:
			n := s.vec("exports", 3, maxExports, func() {
				s.name()
				s.byte()
				s.u32()
			})
			cost += int64(n) * costExport
		case secStart, secDataCount:
			s.u32()
		case secElement:
			n := s.vec("element segments", 3, maxElementSegments, func() { cost += s.elementSegment() })
			cost += int64(n) * costElement
		case secCode:
			bodies = int(s.vec("function bodies", 2, maxFunctions, func() { cost += s.body() }))
		case secData:
			n := s.vec("data segments", 2, maxDataSegments, func() {
				switch flag := s.u32(); flag {
				case 0:
					s.constExpr()
				case 1:
				case 2:
					s.u32()
					s.constExpr()
				default:
					s.fail("invalid data segment flag %d", flag)
				}
				size := s.u32()
				s.skip(size)
				cost += int64(size)
			})
			cost += int64(n) * costData
		case secTag:
			n := s.vec("tags", 2, maxTags, func() {
				s.byte()
				s.u32()
			})
			cost += int64(n) * costTag
		default:
			return info, devErrorf("%s: unknown section id %d", msgInvalidModule, id)
		}
		if s.err == nil && s.left() != 0 {
			s.fail("%d bytes left over", s.left())
		}
		if s.err != nil {
			return info, devErrorf("%s: section %d at byte %d: %v", msgInvalidModule, id, start, s.err)
		}
	}
	if top.err != nil {
		return info, devErrorf("%s: %v", msgInvalidModule, top.err)
	}
	if max(functions, 0) != max(bodies, 0) {
		return info, devErrorf("%s: %d functions declared, %d bodies", msgInvalidModule, max(functions, 0), max(bodies, 0))
	}
	info.hostBytes = cost + int64(tableSlots)*costSlot
	return info, nil
}

// body checks one function body and returns what its locals cost.
func (s *scanner) body() int64 {
	size := s.u32()
	if size > maxBodyBytes {
		s.fail("a function body of %d bytes, more than the %d allowed", size, maxBodyBytes)
		return 0
	}
	end := s.off + int(size)
	if s.err != nil || uint64(size) > uint64(s.left()) || size == 0 {
		s.fail("a function body of %d bytes at byte %d, %d left", size, s.off, s.left())
		return 0
	}
	b := &scanner{b: s.b[:end], off: s.off}
	var locals uint64
	for range b.count("local declarations", 2, maxLocals) {
		locals += uint64(b.u32())
		b.valType()
		if locals > maxLocals {
			b.fail("%d locals, more than the %d allowed", locals, maxLocals)
		}
	}
	if b.err == nil && b.b[end-1] != 0x0b {
		b.fail("a function body that does not end with end")
	}
	if b.err != nil {
		s.err = b.err
		return 0
	}
	s.off = end
	return int64(locals) * costLocal
}

// elementSegment checks one element segment and returns what its entries
// cost.
func (s *scanner) elementSegment() int64 {
	flag := s.u32()
	if flag > 7 {
		s.fail("invalid element segment flag %d", flag)
		return 0
	}
	active, explicitTable, exprs := flag&1 == 0, flag&2 != 0, flag&4 != 0
	if active && explicitTable {
		s.u32()
	}
	if active {
		s.constExpr()
	}
	if !active || explicitTable {
		if exprs {
			s.valType()
		} else {
			s.byte() // elemkind
		}
	}
	if exprs {
		n := s.count("element expressions", 2, maxTableElements)
		for i := uint32(0); i < n && s.err == nil; i++ {
			s.constExpr()
		}
		return int64(n) * costElemItem
	}
	n := s.count("element indices", 1, maxTableElements)
	for i := uint32(0); i < n && s.err == nil; i++ {
		s.u32()
	}
	return int64(n) * costElemItem
}

func externName(kind byte) string {
	switch kind {
	case 0x01:
		return "table"
	case 0x02:
		return "memory"
	case 0x03:
		return "global"
	case 0x04:
		return "tag"
	}
	return fmt.Sprintf("import of kind %#x", kind)
}
