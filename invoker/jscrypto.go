package invoker

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // Node's createHash('md5'), for checksums
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // Node's createHash('sha1')
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
)

// The part of Node's crypto module actions use most: hashes, HMACs and
// random bytes and UUIDs; Web Crypto's crypto.getRandomValues and
// crypto.randomUUID as the global crypto. Ciphers, signatures, key
// derivation and crypto.subtle are not there.

// jsMaxRandomBytes bounds one randomBytes call (Web Crypto's
// getRandomValues allows 65536 bytes; Node more, but an action rarely
// needs more than this).
const jsMaxRandomBytes = 1 << 20

var jsHashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224, "sha256": sha256.New,
	"sha384": sha512.New384, "sha512": sha512.New,
}

// cryptoModule is require('crypto').
func cryptoModule(rt *goja.Runtime, module *goja.Object) {
	exports := module.Get("exports").(*goja.Object)
	newHash := func(alg string, key []byte) *goja.Object {
		mk, ok := jsHashes[alg]
		if !ok {
			panic(rt.NewTypeError("Digest method not supported: " + alg))
		}
		h := mk()
		if key != nil {
			h = hmac.New(mk, key)
		}
		o := rt.NewObject()
		done := false
		_ = o.Set("update", func(call goja.FunctionCall) goja.Value {
			if done {
				panic(rt.NewTypeError("Digest already called"))
			}
			h.Write(buffer.DecodeBytes(rt, call.Argument(0), call.Argument(1)))
			return o
		})
		_ = o.Set("digest", func(call goja.FunctionCall) goja.Value {
			if done {
				panic(rt.NewTypeError("Digest already called"))
			}
			done = true
			return buffer.EncodeBytes(rt, h.Sum(nil), call.Argument(0))
		})
		return o
	}
	_ = exports.Set("createHash", func(alg string) *goja.Object { return newHash(alg, nil) })
	_ = exports.Set("createHmac", func(call goja.FunctionCall) goja.Value {
		return newHash(call.Argument(0).String(), buffer.DecodeBytes(rt, call.Argument(1), goja.Undefined()))
	})
	_ = exports.Set("getHashes", func() []string { return []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} })
	_ = exports.Set("randomBytes", func(n int64) goja.Value {
		if n < 0 || n > jsMaxRandomBytes {
			panic(rt.NewTypeError("randomBytes: size out of range"))
		}
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return buffer.WrapBytes(rt, b)
	})
	// The global crypto, which the prelude installs, is Node's webcrypto.
	web := rt.Get("crypto").ToObject(rt)
	_ = exports.Set("randomUUID", web.Get("randomUUID"))
	_ = exports.Set("getRandomValues", web.Get("getRandomValues"))
	_ = exports.Set("webcrypto", web)
}

// errQuota is Web Crypto's QuotaExceededError text.
var errQuota = errors.New("The ArrayBufferView's byte length exceeds the number of bytes of entropy available via this API (65536)")

// webCrypto is the native half of the global crypto: randomUUID, and
// getRandomValues on a Uint8Array (the prelude passes any integer view as
// one).
func webCrypto(rt *goja.Runtime) *goja.Object {
	o := rt.NewObject()
	_ = o.Set("randomUUID", func() string {
		var u [16]byte
		_, _ = rand.Read(u[:])
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		const hex = "0123456789abcdef"
		out := make([]byte, 0, 36)
		for i, c := range u {
			if i == 4 || i == 6 || i == 8 || i == 10 {
				out = append(out, '-')
			}
			out = append(out, hex[c>>4], hex[c&0xf])
		}
		return string(out)
	})
	_ = o.Set("getRandomValues", func(call goja.FunctionCall) goja.Value {
		v := call.Argument(0)
		b, ok := v.Export().([]byte)
		if !ok {
			panic(rt.NewTypeError("The data argument must be an integer-type TypedArray"))
		}
		if len(b) > 65536 {
			panic(rt.NewGoError(errQuota))
		}
		_, _ = rand.Read(b)
		return v
	})
	return o
}
