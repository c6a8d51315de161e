package invoker

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// ParameterStorage is whisk.parameter-storage: the base64 keys the
// controller encrypts default parameters with. An empty key leaves its
// scheme off, and values locked with it pass through as they are.
type ParameterStorage struct {
	AES128 string // aes128, for "aes-128"
	AES256 string // aes256, for "aes-256"
}

// Encryption schemes of lockedArgs (ParameterEncryption.scala).
const (
	SchemeAES128 = "aes-128"
	SchemeAES256 = "aes-256"
)

// unlocker decrypts locked arguments (openwhisk-wire.md 6.4).
type unlocker map[string]cipher.AEAD // by scheme

// newUnlocker reads the keys. The IV lengths are the stock ones: 12 bytes
// for aes-128 and 128 for aes-256; the key length picks AES-128, -192 or
// -256 whatever the scheme's name, as Java's SecretKeySpec does.
func newUnlocker(ps ParameterStorage) (unlocker, error) {
	u := unlocker{}
	for _, s := range []struct {
		scheme, key string
		ivLen       int
	}{{SchemeAES128, ps.AES128, 12}, {SchemeAES256, ps.AES256, 128}} {
		if s.key == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.key))
		if err != nil {
			return nil, fmt.Errorf("%s key: not base64: %w", s.scheme, err)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%s key: %w", s.scheme, err)
		}
		aead, err := cipher.NewGCMWithNonceSize(block, s.ivLen)
		if err != nil {
			return nil, fmt.Errorf("%s key: %w", s.scheme, err)
		}
		u[s.scheme] = aead
	}
	return u, nil
}

// unlock is ContainerProxy.unlockArguments: each key of locked whose value
// in content is a string is decrypted with its scheme. A scheme without a
// key passes the value through; content that is not an object is returned
// as it is. A value that does not decrypt is an error, naming the key.
func (u unlocker) unlock(content json.RawMessage, locked map[string]string) (json.RawMessage, error) {
	if len(locked) == 0 || len(content) == 0 || content[0] != '{' {
		return content, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil {
		return content, nil
	}
	changed := false
	for key, scheme := range locked {
		aead, ok := u[scheme]
		v, present := fields[key]
		var s string
		if !ok || !present || json.Unmarshal(v, &s) != nil {
			continue
		}
		plain, err := decrypt(aead, s)
		if err != nil {
			return nil, fmt.Errorf("locked argument %q (%s): %w", key, scheme, err)
		}
		fields[key] = plain
		changed = true
	}
	if !changed {
		return content, nil
	}
	return json.Marshal(fields)
}

// decrypt is AesEncryption.decrypt: base64 of a 4-byte big-endian IV
// length, the IV, then the AES-GCM ciphertext and its 128-bit tag; the
// plaintext is the compact JSON of the original value.
func decrypt(aead cipher.AEAD, s string) (json.RawMessage, error) {
	msg, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Java's basic decoder does not require the padding.
		if msg, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, fmt.Errorf("not base64: %w", err)
		}
	}
	if len(msg) < 4 {
		return nil, fmt.Errorf("%d bytes, too short for the IV length", len(msg))
	}
	ivLen := binary.BigEndian.Uint32(msg)
	if ivLen != uint32(aead.NonceSize()) {
		return nil, fmt.Errorf("invalid iv length %d, want %d", ivLen, aead.NonceSize())
	}
	rest := msg[4:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%d bytes after the IV length, too short", len(rest))
	}
	iv, sealed := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	plain, err := aead.Open(nil, iv, sealed, nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, plain); err != nil {
		return nil, fmt.Errorf("plaintext is not JSON: %w", err)
	}
	return buf.Bytes(), nil
}
