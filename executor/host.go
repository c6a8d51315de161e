package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/faasedge/faasedge/activation"
)

// hostModule is the import module of the host capabilities (see the
// package documentation).
const hostModule = "faasedge"

// The host functions.
const (
	hostResult   = "result"
	hostHTTP     = "http_request"
	hostKVGet    = "kv_get"
	hostKVSet    = "kv_set"
	hostKVDelete = "kv_delete"
	hostKVList   = "kv_list"
	hostIPFSAdd  = "ipfs_add"
)

// Limits of the key-value capability.
const (
	MaxKeyBytes   = 512
	MaxValueBytes = 1 << 20
	MaxListKeys   = 1000
)

// The error codes host functions return (negated); the pending result then
// holds the error's text.
const (
	codeDenied      = 1 // the host is not allowed, or the capability not given
	codeDNS         = 2 // the host name did not resolve
	codeTimeout     = 3 // the time budget ran out
	codeTooLarge    = 4 // over the byte budget or a size limit
	codeBadRequest  = 5 // malformed input
	codeUnavailable = 6 // the connection or the store failed
	codeNotFound    = 7 // no such key
)

// maxErrorText bounds an error's text, so that a guest can take it into a
// fixed buffer.
const maxErrorText = 1024

// KeyValue is the store behind the key-value capability. Keys are scoped
// by namespace: an implementation must never let one namespace see
// another's keys.
type KeyValue interface {
	Get(ctx context.Context, namespace, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, namespace, key string, value []byte) error
	Delete(ctx context.Context, namespace, key string) error
	// List returns up to limit keys starting with prefix, in byte order.
	List(ctx context.Context, namespace, prefix string, limit int) ([]string, error)
}

// Publisher adds content to IPFS (*ipfs.Node is one).
type Publisher interface {
	Add(ctx context.Context, r io.Reader, cidVersion int) (cid.Cid, error)
}

// WithKeyValue backs the key-value capability with store.
func WithKeyValue(store KeyValue) Option { return func(c *config) { c.host.kv = store } }

// WithPublisher backs the ipfs_add capability with p.
func WithPublisher(p Publisher) Option { return func(c *config) { c.host.publisher = p } }

// hostConfig is what the host capabilities are built from.
type hostConfig struct {
	kv        KeyValue
	publisher Publisher
	http      HTTPPolicy
}

// host is the executor's side of the host capabilities.
type host struct {
	kv        KeyValue
	publisher Publisher
	http      *httpClient
}

// newHost instantiates the host module in rt.
func newHost(ctx context.Context, rt wazero.Runtime, c hostConfig) (*host, error) {
	hc, err := newHTTPClient(c.http)
	if err != nil {
		return nil, err
	}
	h := &host{kv: c.kv, publisher: c.publisher, http: hc}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := rt.NewHostModuleBuilder(hostModule)
	export := func(name string, params, results []api.ValueType, f api.GoModuleFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	export(hostResult, []api.ValueType{i32, i32}, []api.ValueType{i32}, takeResult)
	export(hostHTTP, []api.ValueType{i32, i32}, []api.ValueType{i64}, call(1, (*hostCall).sendHTTP))
	export(hostKVGet, []api.ValueType{i32, i32}, []api.ValueType{i64}, call(1, (*hostCall).kvGet))
	export(hostKVSet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}, call(2, (*hostCall).kvSet))
	export(hostKVDelete, []api.ValueType{i32, i32}, []api.ValueType{i64}, call(1, (*hostCall).kvDelete))
	export(hostKVList, []api.ValueType{i32, i32}, []api.ValueType{i64}, call(1, (*hostCall).kvList))
	export(hostIPFSAdd, []api.ValueType{i32, i32}, []api.ValueType{i64}, call(1, (*hostCall).addIPFS))
	if _, err := b.Instantiate(ctx); err != nil {
		return nil, fmt.Errorf("executor: host module: %w", err)
	}
	return h, nil
}

// hostError is a failed host call as the guest sees it.
type hostError struct {
	code int64
	msg  string
}

func hostErrorf(code int64, format string, args ...any) *hostError {
	return &hostError{code, fmt.Sprintf(format, args...)}
}

// hostCall is one activation's state of the host capabilities: what the
// action was given, what is left of its budgets and the result the guest
// has not yet taken.
type hostCall struct {
	h         *host
	namespace string // the action's root namespace, the key-value scope
	http      *httpGrant
	kv        bool
	ipfsAdd   bool
	pending   []byte
}

type hostCallKey struct{}

// call adapts a host function over n (ptr, len) buffers of guest memory
// to the ABI: the result's length, or a negated error code, with the
// result or the error's text pending for faasedge.result.
func call(n int, f func(*hostCall, context.Context, [][]byte) ([]byte, *hostError)) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		hc, _ := ctx.Value(hostCallKey{}).(*hostCall)
		if hc == nil { // cannot happen: runs that link the module set it
			stack[0] = api.EncodeI64(-codeDenied)
			return
		}
		args := make([][]byte, n)
		for i := range n {
			b, ok := mod.Memory().Read(uint32(stack[2*i]), uint32(stack[2*i+1]))
			if !ok {
				hc.pending = []byte("argument outside the module's memory")
				stack[0] = api.EncodeI64(-codeBadRequest)
				return
			}
			args[i] = b
		}
		out, herr := f(hc, ctx, args)
		if herr != nil {
			hc.pending = []byte(herr.msg[:min(len(herr.msg), maxErrorText)])
			stack[0] = api.EncodeI64(-herr.code)
			return
		}
		hc.pending = out
		stack[0] = uint64(len(out))
	}
}

// takeResult is faasedge.result(ptr, cap): it copies the pending result
// (at most cap bytes) into the guest's memory, forgets it and returns the
// bytes copied.
func takeResult(ctx context.Context, mod api.Module, stack []uint64) {
	hc, _ := ctx.Value(hostCallKey{}).(*hostCall)
	if hc == nil {
		stack[0] = 0
		return
	}
	n := min(uint32(len(hc.pending)), uint32(stack[1]))
	if !mod.Memory().Write(uint32(stack[0]), hc.pending[:n]) {
		stack[0] = api.EncodeI32(-codeBadRequest)
		return
	}
	hc.pending = nil
	stack[0] = uint64(n)
}

// link checks the module's host imports against what the action was
// given, and returns ctx carrying the activation's host state, or the
// developer error that names the first import the action may not use.
func (r *run) link(ctx context.Context, m *module) (context.Context, error) {
	if len(m.hostImports) == 0 {
		return ctx, nil
	}
	hc, err := r.hostCall()
	if err != nil {
		return ctx, err
	}
	for _, name := range m.hostImports {
		var missing string
		switch name {
		case hostResult:
		case hostHTTP:
			if hc.http == nil {
				missing = "annotate the action with " + activation.AnnotationAllowedHosts
			}
		case hostKVGet, hostKVSet, hostKVDelete, hostKVList:
			switch {
			case !hc.kv:
				missing = "annotate the action with " + activation.AnnotationKV + "=true"
			case r.e.host.kv == nil:
				missing = "this invoker has no key-value store"
			}
		case hostIPFSAdd:
			switch {
			case !hc.ipfsAdd:
				missing = "annotate the action with " + activation.AnnotationIPFSAdd + "=true"
			case r.e.host.publisher == nil:
				missing = "this invoker has no IPFS node"
			}
		}
		if missing != "" {
			return ctx, devErrorf("link error: the action's module imports %s.%s, which the action is not given (%s)", hostModule, name, missing)
		}
	}
	return context.WithValue(ctx, hostCallKey{}, hc), nil
}

// hostCall is the activation's host state for the action's capabilities.
func (r *run) hostCall() (*hostCall, error) {
	c := r.a.Capabilities
	if c.Invalid != "" {
		return nil, devErrorf("%s", c.Invalid)
	}
	g, err := r.httpGrant()
	if err != nil {
		return nil, err
	}
	return &hostCall{h: r.e.host, namespace: rootNamespace(r.a.Name.Path), http: g, kv: c.KV, ipfsAdd: c.IPFSAdd}, nil
}

// rootNamespace is the namespace of an action path "ns[/package]".
func rootNamespace(path string) string {
	ns, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ns
}

func checkKey(key []byte, what string) *hostError {
	switch {
	case len(key) > MaxKeyBytes:
		return hostErrorf(codeTooLarge, "%s of %d bytes: at most %d", what, len(key), MaxKeyBytes)
	case !utf8.Valid(key):
		return hostErrorf(codeBadRequest, "%s is not UTF-8", what)
	}
	return nil
}

func (hc *hostCall) kvGet(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	if herr := checkKey(args[0], "key"); herr != nil {
		return nil, herr
	}
	if len(args[0]) == 0 {
		return nil, hostErrorf(codeBadRequest, "empty key")
	}
	v, ok, err := hc.h.kv.Get(ctx, hc.namespace, string(args[0]))
	switch {
	case err != nil:
		return nil, hostErrorf(codeUnavailable, "key-value store: %v", err)
	case !ok:
		return nil, hostErrorf(codeNotFound, "key %q not found", args[0])
	}
	return v, nil
}

func (hc *hostCall) kvSet(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	if herr := checkKey(args[0], "key"); herr != nil {
		return nil, herr
	}
	switch {
	case len(args[0]) == 0:
		return nil, hostErrorf(codeBadRequest, "empty key")
	case len(args[1]) > MaxValueBytes:
		return nil, hostErrorf(codeTooLarge, "value of %d bytes: at most %d", len(args[1]), MaxValueBytes)
	}
	// Copy: the store may keep the slice, and args[1] is guest memory.
	if err := hc.h.kv.Set(ctx, hc.namespace, string(args[0]), bytes.Clone(args[1])); err != nil {
		return nil, hostErrorf(codeUnavailable, "key-value store: %v", err)
	}
	return nil, nil
}

func (hc *hostCall) kvDelete(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	if herr := checkKey(args[0], "key"); herr != nil {
		return nil, herr
	}
	if err := hc.h.kv.Delete(ctx, hc.namespace, string(args[0])); err != nil {
		return nil, hostErrorf(codeUnavailable, "key-value store: %v", err)
	}
	return nil, nil
}

func (hc *hostCall) kvList(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	if herr := checkKey(args[0], "prefix"); herr != nil {
		return nil, herr
	}
	keys, err := hc.h.kv.List(ctx, hc.namespace, string(args[0]), MaxListKeys)
	if err != nil {
		return nil, hostErrorf(codeUnavailable, "key-value store: %v", err)
	}
	if keys == nil {
		keys = []string{}
	}
	out, _ := json.Marshal(keys) // strings always marshal
	return out, nil
}

func (hc *hostCall) addIPFS(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	// Kubo's default: CIDv0, as `faasedge ipfs add` prints.
	c, err := hc.h.publisher.Add(ctx, bytes.NewReader(args[0]), 0)
	if err != nil {
		return nil, hostErrorf(codeUnavailable, "ipfs add: %v", err)
	}
	return []byte(c.String()), nil
}
