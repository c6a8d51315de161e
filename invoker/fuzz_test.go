package invoker

import (
	"encoding/json"
	"testing"
)

// FuzzUnlock: locked arguments as an ActivationMessage carries them,
// decrypted with the stock keys. Whatever the ciphertext, scheme or
// content, unlocking returns JSON or an error; a value that decrypts is
// the compact JSON it was locked as.
func FuzzUnlock(f *testing.F) {
	u, err := newUnlocker(ParameterStorage{AES128: ScalaKey128, AES256: ScalaKey256})
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range JavaVectors {
		f.Add(`{"p":"`+v.Cipher+`","q":1}`, "p", v.Scheme)
	}
	f.Add(`{"p":"AAAADA"}`, "p", SchemeAES128)
	f.Add(`{"p":"AAAAgAMKERgfJi00O0JJUFdeZWxzeoGIj5adpKuyucDH"}`, "p", SchemeAES256)
	f.Add(`[1,2]`, "p", SchemeAES128)
	f.Fuzz(func(t *testing.T, content, key, scheme string) {
		out, err := u.unlock(json.RawMessage(content), map[string]string{key: scheme})
		if err != nil {
			return
		}
		if string(out) != content && !json.Valid(out) {
			t.Fatalf("unlocked %q into invalid JSON %q", content, out)
		}
	})
}
