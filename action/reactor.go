//go:build wasip1

package action

import (
	"encoding/json"
	"unsafe"
)

// The reactor ABI (the executor package documents it). A module built
// without -buildmode=c-shared exports these too, but it also exports
// _start, which makes it a command: they are never called.

//go:linkname userMain main.main
func userMain()

var in, out []byte

//go:wasmexport faasedge_alloc
func alloc(size uint32) uint32 {
	start()
	if cap(in) < int(size) {
		in = make([]byte, size)
	}
	in = in[:size]
	if size == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&in[0])))
}

//go:wasmexport faasedge_run
func run(ptr, size uint32) uint64 {
	start()
	var req struct {
		Value json.RawMessage   `json:"value"`
		Env   map[string]string `json:"env"`
	}
	if err := json.Unmarshal(in[:size], &req); err != nil {
		out = errorResult(err)
	} else {
		out = handler(req.Value, req.Env)
	}
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}

// start runs main once, in which Run (or RunRaw) registers the handler.
func start() {
	if handler != nil {
		return
	}
	bootstrapping = true
	userMain()
	bootstrapping = false
	if handler == nil {
		panic("action: main did not call action.Run or action.RunRaw")
	}
}
