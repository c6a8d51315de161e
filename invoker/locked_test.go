package invoker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

// The keys of OpenWhisk's ParameterEncryptionTests (exported for the
// engine tests).
const (
	ScalaKey128 = "ra1V6AfOYAv0jCzEdufIFA=="
	ScalaKey256 = "j5rLzhtxwzPyUVUy8/p8XJmBoKeDoSzNJP1SITJEY9E="
)

// Ciphertexts made with Java's javax.crypto the way AesEncryption.encrypt
// does (AES/GCM/NoPadding, 128-bit tag, ByteBuffer of IV length, IV and
// ciphertext, basic base64), with the keys above and fixed IVs: byte i of
// the IV is seed + 7i, seeds 1 to 5 in the order below.
var JavaVectors = []struct{ Scheme, Plain, Cipher string }{
	{SchemeAES128, `"abc"`, "AAAADAEIDxYdJCsyOUBHTjchYHPibsoVD9DaQKhlhNwN1sbI6w=="},
	{SchemeAES128, `"secret"`, "AAAADAIJEBceJSwzOkFIT+QMTJZCg6bh6VTKL+ELqvy/VExgmNnkng=="},
	{SchemeAES256, `"secret"`, "AAAAgAMKERgfJi00O0JJUFdeZWxzeoGIj5adpKuyucDHztXc4+rx+P8GDRQbIikwNz5FTFNaYWhvdn2Ei5KZoKeutbzDytHY3+bt9PsCCRAXHiUsMzpBSE9WXWRrcnmAh46VnKOqsbi/xs3U2+Lp8Pf+BQwTGiEoLzY9REtSWWBnbnV8ZeQuh87WxjY2mUqRgcnMB3+MeN0zYMR6"},
	{SchemeAES256, `{"user":"admin","port":5432}`, "AAAAgAQLEhkgJy41PENKUVhfZm10e4KJkJeepayzusHIz9bd5Ovy+QAHDhUcIyoxOD9GTVRbYmlwd36FjJOaoaivtr3Ey9LZ4Ofu9fwDChEYHyYtNDtCSVBXXmVsc3qBiI+WnaSrsrnAx87V3OPq8fj/Bg0UGyIpMDc+RUxTWmFob3Z9KhYbDDi4C+CQafeJFGLmDYRJnlCw1505GPlya9VuTTxRYrIcE1JG+sPHnOo="},
	{SchemeAES128, `[1,true,null]`, "AAAADAUMExohKC82PURLUptRQgAptbAY8/0cZP6sixuxBm9GsZVvCvqFjqOj"},
}

// lock encrypts value as AesEncryption.encrypt does, with a random IV.
func lock(t testing.TB, keyB64 string, ivLen int, value any) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCMWithNonceSize(block, ivLen)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, ivLen)
	_, _ = rand.Read(iv)
	msg := binary.BigEndian.AppendUint32(nil, uint32(ivLen))
	msg = append(msg, iv...)
	return base64.StdEncoding.EncodeToString(aead.Seal(msg, iv, plain, nil))
}

func TestUnlockJavaVectors(t *testing.T) {
	u, err := newUnlocker(ParameterStorage{AES128: ScalaKey128, AES256: ScalaKey256})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range JavaVectors {
		content, _ := json.Marshal(map[string]string{"p": v.Cipher})
		got, err := u.unlock(content, map[string]string{"p": v.Scheme})
		if err != nil {
			t.Fatalf("%s %s: %v", v.Scheme, v.Plain, err)
		}
		if want := `{"p":` + v.Plain + `}`; string(got) != want {
			t.Errorf("%s: %s, want %s", v.Scheme, got, want)
		}
	}
}

func TestUnlock(t *testing.T) {
	u, err := newUnlocker(ParameterStorage{AES128: ScalaKey128, AES256: ScalaKey256})
	if err != nil {
		t.Fatal(err)
	}
	only128, err := newUnlocker(ParameterStorage{AES128: ScalaKey128})
	if err != nil {
		t.Fatal(err)
	}
	secret := lock(t, ScalaKey128, 12, "abc")
	obj := lock(t, ScalaKey256, 128, map[string]any{"n": 1.5, "s": []any{"x"}})
	raw, _ := base64.StdEncoding.DecodeString(secret)
	raw[len(raw)-1] ^= 1 // the last byte of the tag
	tampered := base64.StdEncoding.EncodeToString(raw)
	wrongIV := lock(t, ScalaKey128, 16, "abc") // a 16-byte IV where aes-128 uses 12
	wrongKey := lock(t, ScalaKey256, 12, "abc")
	for _, tc := range []struct {
		name    string
		u       unlocker
		content string
		locked  map[string]string
		want    string
		err     string
	}{
		{name: "strings and objects decrypt", u: u, content: `{"a":"` + secret + `","b":"` + obj + `","c":"plain"}`,
			locked: map[string]string{"a": SchemeAES128, "b": SchemeAES256}, want: `{"a":"abc","b":{"n":1.5,"s":["x"]},"c":"plain"}`},
		{name: "nothing locked is unchanged", u: u, content: `{"z":1, "a":"x"}`, want: `{"z":1, "a":"x"}`},
		{name: "an unknown scheme passes through", u: u, content: `{"a":"` + secret + `"}`, locked: map[string]string{"a": "rot-13"}, want: `{"a":"` + secret + `"}`},
		{name: "a scheme without a key passes through", u: only128, content: `{"b":"` + obj + `"}`, locked: map[string]string{"b": SchemeAES256}, want: `{"b":"` + obj + `"}`},
		{name: "a value that is not a string passes through", u: u, content: `{"a":{"k":1}}`, locked: map[string]string{"a": SchemeAES128}, want: `{"a":{"k":1}}`},
		{name: "a missing key is ignored", u: u, content: `{"b":2}`, locked: map[string]string{"a": SchemeAES128}, want: `{"b":2}`},
		{name: "array content is kept", u: u, content: `["` + secret + `"]`, locked: map[string]string{"0": SchemeAES128}, want: `["` + secret + `"]`},
		{name: "a tampered value fails", u: u, content: `{"a":"` + tampered + `"}`, locked: map[string]string{"a": SchemeAES128}, err: `locked argument "a" (aes-128): cipher: message authentication failed`},
		{name: "the wrong IV length fails", u: u, content: `{"a":"` + wrongIV + `"}`, locked: map[string]string{"a": SchemeAES128}, err: "invalid iv length 16, want 12"},
		{name: "the wrong key fails", u: u, content: `{"a":"` + wrongKey + `"}`, locked: map[string]string{"a": SchemeAES128}, err: "message authentication failed"},
		{name: "base64 of nothing fails", u: u, content: `{"a":"AAA="}`, locked: map[string]string{"a": SchemeAES128}, err: "too short for the IV length"},
		{name: "not base64 fails", u: u, content: `{"a":"%%%"}`, locked: map[string]string{"a": SchemeAES128}, err: "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.u.unlock(json.RawMessage(tc.content), tc.locked)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case string(got) != tc.want:
				t.Fatalf("%s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNewUnlockerBadKeys(t *testing.T) {
	for _, ps := range []ParameterStorage{{AES128: "not base64!"}, {AES256: base64.StdEncoding.EncodeToString([]byte("short"))}} {
		if _, err := newUnlocker(ps); err == nil {
			t.Errorf("%+v accepted", ps)
		}
	}
}
