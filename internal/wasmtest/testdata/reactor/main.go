// Command reactor is the Go reactor test action, built with
// -buildmode=c-shared: the executor instantiates it once, runs _initialize,
// and then calls faasedge_run for each activation (the executor package
// documents the ABI). It answers like the echo command:
//
//	{"log": "text"}    prints text on stdout and on stderr before answering
//	{"panic": "text"}  panics (the instance is lost)
//	{"print": "text"}  answers text as is instead of JSON
//	{"env": "NAME"}    answers {"env": the activation's NAME}
//	{"calls": true}    answers {"calls": calls this instance has served}
//	anything else      answers the parameters unchanged
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"unsafe"
)

func main() {}

var (
	in, out []byte
	calls   int
)

//go:wasmexport faasedge_alloc
func alloc(size uint32) uint32 {
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
	calls++
	out = answer(in[:size])
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}

func answer(req []byte) []byte {
	var r struct {
		Value json.RawMessage   `json:"value"`
		Env   map[string]string `json:"env"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return []byte(`{"error":"bad request"}`)
	}
	var p map[string]any
	_ = json.Unmarshal(r.Value, &p) // arrays echo unchanged
	if s, ok := p["log"].(string); ok {
		fmt.Println(s)
		fmt.Fprintln(os.Stderr, s)
	}
	if s, ok := p["panic"].(string); ok {
		panic(s)
	}
	if s, ok := p["print"].(string); ok {
		return []byte(s)
	}
	if name, ok := p["env"].(string); ok {
		b, _ := json.Marshal(map[string]string{"env": r.Env[name]})
		return b
	}
	if _, ok := p["calls"]; ok {
		b, _ := json.Marshal(map[string]int{"calls": calls})
		return b
	}
	return r.Value
}
