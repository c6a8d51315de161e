// Command reactorconst is a Go reactor that answers every activation with
// the same result without reading its request: the benchmarks use it to
// tell the cost of a call into Go's runtime from the work of an action.
package main

import "unsafe"

func main() {}

var (
	in  = make([]byte, 64<<10)
	out = []byte(`{"ok":true}`)
)

//go:wasmexport faasedge_alloc
func alloc(size uint32) uint32 {
	if int(size) > len(in) {
		in = make([]byte, size)
	}
	return uint32(uintptr(unsafe.Pointer(&in[0])))
}

//go:wasmexport faasedge_run
func run(ptr, size uint32) uint64 {
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}
