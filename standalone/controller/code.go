package controller

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// maxInlineSize is whisk.db.max-inline-size: code smaller than this is
// stored inline as a mem: attachment name, larger code as a couch:
// attachment (openwhisk-wire.md 4.3).
const maxInlineSize = 16 << 10

// resolveKind lowercases the kind and resolves family defaults; only the
// kinds the standalone's invokers run are accepted.
func resolveKind(cfg Config, kind string) (string, error) {
	k := whisk.NormalizeKind(kind)
	switch k {
	case "nodejs:default", cfg.NodejsDefault:
		return cfg.NodejsDefault, nil
	case "wasm:default", whisk.KindWasm:
		return whisk.KindWasm, nil
	}
	return "", badRequest("The specified runtime '%s' is not supported by this platform. Valid values are: '%s', '%s'.", kind, cfg.NodejsDefault, whisk.KindWasm)
}

// msgWasmAsText answers a .wasm module that arrived as text: the wsk CLI
// base64-encodes only .zip and .jar files, so `wsk action create f f.wasm`
// sends the module's bytes as a string, which cannot carry them intact.
const msgWasmAsText = "wasm:wasip1 code arrived as text, which cannot carry a binary module intact (wsk base64-encodes only .zip and .jar files). " +
	"Zip the module and create the action from the zip (zip f.zip f.wasm; wsk action create f f.zip --kind wasm:wasip1), " +
	"or send exec.code base64-encoded with exec.binary true."

// checkCode says what is wrong with an action's code for its kind.
func checkCode(kind, code string, binary bool) ([]byte, error) {
	if !binary {
		if kind == whisk.KindWasm {
			if strings.HasPrefix(code, "\x00asm") {
				return nil, badRequest(msgWasmAsText)
			}
			c := activation.ParseCode([]byte(code), false)
			if c.CID == "" {
				return nil, badRequest("wasm:wasip1 code must be a zip holding one .wasm module, base64-encoded WebAssembly, or the text ipfs://<CID>; got text that is none of these")
			}
			if _, err := cid.Decode(strings.TrimSuffix(c.CID, "/")); err != nil {
				return nil, badRequest("wasm:wasip1 code %q is not a valid ipfs://<CID>: %v", strings.TrimSpace(code), err)
			}
		}
		// Empty code is accepted, as stock accepts it; the action then
		// fails at initialisation.
		return []byte(code), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code))
	if err != nil {
		return nil, badRequest("binary action code is not valid base64: %v", err)
	}
	// wasm is checked by executor.CheckCode; a nodejs archive, as stock,
	// at initialisation (the JS runner takes zips).
	return b, nil
}

// codeAttachment stores code as the stock store does: inline mem: below
// 16 KiB, otherwise a couch:<uuid> attachment of the decoded bytes.
func codeAttachment(data []byte, binary bool) (whisk.Attachment, map[string]any) {
	ctype := "text/plain; charset=UTF-8"
	if binary {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	n := int64(len(data))
	a := whisk.Attachment{AttachmentType: ctype, Length: &n, Digest: "sha256-" + hex.EncodeToString(sum[:])}
	if len(data) < maxInlineSize {
		a.AttachmentName = whisk.EncodeMemAttachment(data)
		return a, nil
	}
	name := newUUID()
	a.AttachmentName = whisk.CouchScheme + name
	return a, map[string]any{name: map[string]string{"content_type": ctype, "data": base64.StdEncoding.EncodeToString(data)}}
}
