package activation

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/faasedge/faasedge/whisk"
)

// Scheme prefixes code given as text that is an IPFS content id:
// "ipfs://<CID>".
const Scheme = "ipfs://"

// maxCIDText bounds text read as "ipfs://<CID>": longer text is inline
// code, whatever it starts with.
const maxCIDText = 512

// Code is where an action's code is: exactly one of Inline, Attachment and
// CID is set.
type Code struct {
	// Inline is the code itself: JS text, raw wasm, a zip, or base64 of
	// either when Binary is set.
	Inline []byte `json:"inline,omitempty"`
	// Binary says Inline is base64 still to be decoded.
	Binary bool `json:"binary,omitempty"`
	// Attachment names a document attachment ("couch:..." or "mem:...")
	// the store has not read yet.
	Attachment string `json:"attachment,omitempty"`
	// CID is the IPFS content id the code is fetched by.
	CID string `json:"cid,omitempty"`
	// Digest keys compiled-code caches; Key computes one when empty.
	Digest string `json:"digest,omitempty"`
}

// ParseCode reads code as an action document, a code attachment or /init
// gives it: the text "ipfs://<CID>" is a CID (not checked here: fetching
// it does), anything else inline code, base64 when binary. It is the one
// place that tells the two apart.
func ParseCode(code []byte, binary bool) Code {
	if len(code) < maxCIDText {
		if c, ok := bytes.CutPrefix(bytes.TrimSpace(code), []byte(Scheme)); ok {
			return Code{CID: string(c), Digest: string(c)}
		}
	}
	return Code{Inline: code, Binary: binary}
}

// CodeOf reads an action document's exec: a string is ParseCode's (base64
// by the stock rule, whisk.LooksBase64), an object an attachment.
func CodeOf(exec whisk.Exec) (Code, error) {
	if s, ok := exec.InlineCode(); ok {
		return ParseCode([]byte(s), whisk.LooksBase64(s)), nil
	}
	if att, ok := exec.CodeAttachment(); ok {
		return Code{Attachment: att.AttachmentName, Binary: exec.Binary, Digest: att.Digest}, nil
	}
	if len(exec.Code) == 0 {
		return Code{}, errors.New("no code")
	}
	return Code{}, errors.New("code is neither a string nor an attachment")
}

// Decoded returns inline code as runners take it: Inline, base64 decoded
// when Binary (white space around the text ignored).
func (c *Code) Decoded() ([]byte, error) {
	if !c.Binary {
		return c.Inline, nil
	}
	return base64.StdEncoding.DecodeString(string(bytes.TrimSpace(c.Inline)))
}

// Key is the compiled-code cache key: Digest, else the CID, else the
// SHA-256 of Inline. Callers that run the same code often set Digest:
// hashing megabytes costs more than a warm run.
func (c *Code) Key() string {
	switch {
	case c.Digest != "":
		return c.Digest
	case c.CID != "":
		return c.CID
	}
	sum := sha256.Sum256(c.Inline)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// String names the code for messages: "ipfs://<CID>", the attachment, or
// the size of inline code.
func (c Code) String() string {
	switch {
	case c.CID != "":
		return Scheme + c.CID
	case c.Attachment != "":
		return c.Attachment
	}
	return fmt.Sprintf("%d bytes of inline code", len(c.Inline))
}
