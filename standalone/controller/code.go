package controller

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/faasedge/faasedge/whisk"
	"github.com/ipfs/go-cid"
)

// maxInlineSize is whisk.db.max-inline-size: code smaller than this is
// stored inline as a mem: attachment name, larger code as a couch:
// attachment (openwhisk-wire.md 4.3).
const maxInlineSize = 16 << 10

// WasmKind is the WebAssembly kind (design.md 4).
const WasmKind = "wasm:wasip1"

// resolveKind lowercases the kind and resolves family defaults; only the
// kinds the standalone's invokers run are accepted.
func resolveKind(cfg Config, kind string) (string, error) {
	k := whisk.NormalizeKind(kind)
	switch k {
	case "nodejs:default", cfg.NodejsDefault:
		return cfg.NodejsDefault, nil
	case "wasm:default", WasmKind:
		return WasmKind, nil
	}
	return "", badRequest("The specified runtime '%s' is not supported by this platform. Valid values are: '%s', '%s'.", kind, cfg.NodejsDefault, WasmKind)
}

// checkCode says what is wrong with an action's code for its kind.
func checkCode(kind, code string, binary bool) ([]byte, error) {
	if !binary {
		if kind == WasmKind {
			rest, ok := strings.CutPrefix(strings.TrimSpace(code), "ipfs://")
			if !ok {
				return nil, badRequest("wasm:wasip1 code must be a zip holding one .wasm module, base64-encoded WebAssembly, or the text ipfs://<CID>; got text that is none of these")
			}
			if _, err := cid.Decode(strings.TrimSuffix(rest, "/")); err != nil {
				return nil, badRequest("wasm:wasip1 code %q is not a valid ipfs://<CID>: %v", strings.TrimSpace(code), err)
			}
		}
		if strings.TrimSpace(code) == "" {
			return nil, badRequest("The action code is empty.")
		}
		return []byte(code), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(code))
	if err != nil {
		return nil, badRequest("binary action code is not valid base64: %v", err)
	}
	switch kind {
	case WasmKind:
		if err := checkWasm(b); err != nil {
			return nil, badRequest("wasm:wasip1 code must be a zip holding one .wasm module, base64-encoded WebAssembly, or the text ipfs://<CID>: %v", err)
		}
	default:
		return nil, badRequest("%s actions run plain JavaScript here; zip archives and binary code are not supported", kind)
	}
	return b, nil
}

var wasmMagic = []byte("\x00asm")

func checkWasm(b []byte) error {
	if bytes.HasPrefix(b, wasmMagic) {
		return nil
	}
	if !bytes.HasPrefix(b, []byte("PK")) {
		return errors.New("the bytes are neither a WebAssembly module nor a zip archive")
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("unreadable zip archive: %w", err)
	}
	var mods []*zip.File
	for _, f := range zr.File {
		if strings.HasSuffix(strings.ToLower(f.Name), ".wasm") && !f.FileInfo().IsDir() {
			mods = append(mods, f)
		}
	}
	if len(mods) != 1 {
		return fmt.Errorf("the zip archive holds %d .wasm files, want exactly one", len(mods))
	}
	rc, err := mods[0].Open()
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", mods[0].Name, err)
	}
	defer rc.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, wasmMagic) {
		return fmt.Errorf("zip entry %s is not a WebAssembly module", mods[0].Name)
	}
	return nil
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
