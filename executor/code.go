package executor

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// maxModuleBytes bounds a module taken out of a zip or base64, so a zip
// bomb cannot exhaust the host.
const maxModuleBytes = 256 << 20

var (
	wasmMagic = []byte("\x00asm")
	zipMagic  = []byte("PK\x03\x04")
)

// devError is a failure caused by the action's code: a developer error whose
// message is the activation's "error" value.
type devError struct{ msg string }

func (e *devError) Error() string { return e.msg }

func devErrorf(format string, args ...any) error {
	return &devError{fmt.Sprintf(format, args...)}
}

// loadCode returns the module bytes of a, fetching ipfs code.
func (e *Executor) loadCode(ctx context.Context, a *activation.Action) ([]byte, error) {
	code, binary := a.Code.Inline, a.Code.Binary
	switch {
	case a.Code.CID != "":
		if e.fetcher == nil {
			return nil, devErrorf("could not fetch code %s: no IPFS fetcher is configured", a.Code)
		}
		b, err := e.fetcher.Fetch(ctx, a.Code.CID)
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return nil, devErrorf("could not fetch code %s: %v", a.Code, err)
		}
		code, binary = b, false
	case a.Code.Attachment != "":
		return nil, devErrorf("the action's code is an attachment (%s) the invoker did not read", a.Code.Attachment)
	}
	return decodeModule(code, binary, a.Main)
}

// decodeModule turns code in any accepted form into the module's bytes,
// without its custom sections (see readModule).
func decodeModule(code []byte, binary bool, main string) ([]byte, error) {
	if len(code) == 0 {
		return nil, devErrorf("the action has no code")
	}
	raw := bytes.HasPrefix(code, wasmMagic) || bytes.HasPrefix(code, zipMagic)
	if !raw && (binary || whisk.LooksBase64(string(code))) {
		size := int64(base64.StdEncoding.DecodedLen(len(code))) // at most: spaces do not count
		if size > maxModuleBytes+2 && int64(base64.StdEncoding.DecodedLen(nonSpace(code))) > maxModuleBytes+2 {
			return nil, devErrorf("the action's module is larger than %d bytes", maxModuleBytes)
		}
		dec := bufio.NewReader(base64Reader{base64.NewDecoder(base64.StdEncoding, &spaceless{r: bytes.NewReader(code)})})
		head, err := dec.Peek(len(zipMagic))
		var dev *devError
		switch {
		case errors.As(err, &dev):
			return nil, dev
		case bytes.Equal(head, wasmMagic):
			return readModule(dec, size, maxModuleBytes)
		case !bytes.Equal(head, zipMagic):
			return nil, errNotModule
		}
		// A zip is read from its end: it has to be whole in memory.
		b := make([]byte, size)
		n, err := io.ReadFull(dec, b)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, readFailure(err, "the action's code cannot be read: %v", err)
		}
		return moduleFromZip(b[:n], main)
	}
	if bytes.HasPrefix(code, zipMagic) {
		return moduleFromZip(code, main)
	}
	if !bytes.HasPrefix(code, wasmMagic) {
		return nil, errNotModule
	}
	return readModule(bytes.NewReader(code), int64(len(code)), maxModuleBytes)
}

// spaceless reads r without its ASCII white space, which base64 text may
// hold anywhere, without copying the text.
type spaceless struct{ r io.Reader }

func (s *spaceless) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if !isSpace(c) {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func nonSpace(b []byte) int {
	n := 0
	for _, c := range b {
		if !isSpace(c) {
			n++
		}
	}
	return n
}

var errNotModule = devErrorf("the action's code is not a WebAssembly module: want raw wasm, base64 wasm, a zip holding one .wasm file, or ipfs://<CID>")

// moduleFromZip returns the .wasm entry of a zip: the one main names, or the
// only one.
func moduleFromZip(b []byte, main string) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, devErrorf("the action's zip cannot be read: %v", err)
	}
	var wasm []*zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if main != "" && (f.Name == main || path.Base(f.Name) == main) {
			wasm = []*zip.File{f}
			break
		}
		if strings.HasSuffix(f.Name, ".wasm") {
			wasm = append(wasm, f)
		}
	}
	switch len(wasm) {
	case 0:
		return nil, devErrorf("the action's zip holds no .wasm file")
	case 1:
	default:
		return nil, devErrorf("the action's zip holds %d .wasm files: set main to the one to run", len(wasm))
	}
	f := wasm[0]
	rc, err := f.Open()
	if err != nil {
		return nil, devErrorf("the action's zip entry %s cannot be read: %v", f.Name, err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	if head, _ := br.Peek(len(wasmMagic)); !bytes.Equal(head, wasmMagic) {
		return nil, devErrorf("the action's zip entry %s is not a WebAssembly module", f.Name)
	}
	return readModule(br, int64(min(f.UncompressedSize64, maxModuleBytes)), maxModuleBytes)
}
