//go:build wasip1

package action

import (
	"strconv"
	"unsafe"
)

//go:wasmimport faasedge result
func hostResult(ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport faasedge http_request
func hostHTTPRequest(ptr unsafe.Pointer, size uint32) int64

//go:wasmimport faasedge kv_get
func hostKVGet(ptr unsafe.Pointer, size uint32) int64

//go:wasmimport faasedge kv_set
func hostKVSet(kptr unsafe.Pointer, ksize uint32, vptr unsafe.Pointer, vsize uint32) int64

//go:wasmimport faasedge kv_delete
func hostKVDelete(ptr unsafe.Pointer, size uint32) int64

//go:wasmimport faasedge kv_list
func hostKVList(ptr unsafe.Pointer, size uint32) int64

//go:wasmimport faasedge ipfs_add
func hostIPFSAdd(ptr unsafe.Pointer, size uint32) int64

// Each host function has its own wrapper, so that a module imports only
// the host functions its code can reach: an action is linked only against
// the capabilities it uses.

func callHTTP(req []byte) ([]byte, error)      { return take(opHTTP, hostHTTPRequest(buf(req))) }
func callKVGet(key []byte) ([]byte, error)     { return take(opKVGet, hostKVGet(buf(key))) }
func callKVDelete(key []byte) ([]byte, error)  { return take(opKVDelete, hostKVDelete(buf(key))) }
func callKVList(prefix []byte) ([]byte, error) { return take(opKVList, hostKVList(buf(prefix))) }
func callIPFSAdd(data []byte) ([]byte, error)  { return take(opIPFSAdd, hostIPFSAdd(buf(data))) }

func callKVSet(key, value []byte) ([]byte, error) {
	kp, kn := buf(key)
	vp, vn := buf(value)
	return take(opKVSet, hostKVSet(kp, kn, vp, vn))
}

func buf(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

// take takes the result of a host call that returned n: its length, or a
// negated error code with the error's text pending.
func take(op string, n int64) ([]byte, error) {
	if n < 0 {
		msg := make([]byte, maxErrorText)
		msg = msg[:hostResult(unsafe.Pointer(&msg[0]), maxErrorText)]
		return nil, hostError(op, -n, msg)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]byte, n)
	return out[:hostResult(unsafe.Pointer(&out[0]), uint32(n))], nil
}

// hostError, the host function names and the error text bound serve the
// wasip1 build only: other builds have no host to call.
func hostError(op string, code int64, msg []byte) error {
	if _, ok := codes[code]; !ok {
		msg = append(msg, " (error code "+strconv.FormatInt(code, 10)+")"...)
	}
	return &HostError{Op: op, Code: code, Message: string(msg)}
}

// The host functions (the executor package documents their ABI).
const (
	opHTTP     = "http_request"
	opKVGet    = "kv_get"
	opKVSet    = "kv_set"
	opKVDelete = "kv_delete"
	opKVList   = "kv_list"
	opIPFSAdd  = "ipfs_add"
)

// maxErrorText bounds the error texts the host returns.
const maxErrorText = 1024
