package invoker

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// jsCode is an action's code made ready once for all its VMs, as the
// stock runtime's /init takes it: plain JavaScript compiled in the stock
// runner's wrapper, or a zip whose files require() reads, from which the
// module named by main (or package.json, or index.js) is required.
type jsCode struct {
	prog   *goja.Program     // plain JavaScript
	mods   *require.Registry // require() for the VMs
	module string            // zip: the module to require
	path   []string          // zip: main's property path in its exports
}

// zipRoot is where an archive action's files are, for require() and
// __dirname.
const zipRoot = "/action"

// jsMaxZipFiles bounds the entries of a zip action.
const jsMaxZipFiles = 10000

// The stock runner's texts for zip actions.
const (
	msgZipUnsupported = "There was an error uncompressing the action archive. The file type is unsupported"
	msgZipNoMain      = "Zipped actions must contain either package.json or index.js at the root."
)

// The archive kinds the stock runner takes, by their first bytes.
const (
	zipMagic  = "PK\x03\x04"
	gzipMagic = "\x1f\x8b\x08"
)

func isArchive(b []byte) bool {
	return bytes.HasPrefix(b, []byte(zipMagic)) || bytes.HasPrefix(b, []byte(gzipMagic))
}

func newJSCode(a *activation.Action, main string) (*jsCode, error) {
	code := a.Code.Inline
	if !isArchive(code) {
		// Base64 still when binary (the stock store's binary exec.code).
		var err error
		if code, err = a.Code.Decoded(); err != nil {
			return nil, errors.New(msgZipUnsupported)
		}
	}
	if !isArchive(code) {
		if a.Code.Binary {
			return nil, errors.New(msgZipUnsupported)
		}
		src := "(function(){\n" + string(code) + "\ntry {\n  return " + main + "\n} catch (e) {\n" +
			"  if (e.name === 'ReferenceError') {\n    return module.exports." + main + " || exports." + main + "\n  } else throw e\n}\n})()"
		p, err := goja.Compile(a.Name.Name, src, false)
		if err != nil {
			return nil, err
		}
		return &jsCode{prog: p, mods: jsModules}, nil
	}
	limit := a.Limits.Memory * int64(whisk.MB)
	var files map[string][]byte
	var err error
	if bytes.HasPrefix(code, []byte(zipMagic)) {
		files, err = unzipModules(code, limit)
	} else {
		files, err = untarModules(code, limit)
	}
	if err != nil {
		return nil, err
	}
	// As the stock runner splits main: "fn" requires the archive's
	// package.json main or index.js; "index.fn" requires index.
	c := &jsCode{mods: newJSModules(files), module: zipRoot}
	index, fn, dotted := strings.Cut(main, ".")
	if dotted {
		c.module = path.Join(zipRoot, index)
	} else {
		fn = main
		_, pkg := files[zipRoot+"/package.json"]
		_, idx := files[zipRoot+"/index.js"]
		if !pkg && !idx {
			return nil, errors.New(msgZipNoMain)
		}
	}
	c.path = strings.Split(fn, ".")
	return c, nil
}

// unzipModules reads a zip action's regular files under zipRoot, refusing
// more than limit bytes in all before they are read.
func unzipModules(b []byte, limit int64) (map[string][]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("There was an error uncompressing the action Zip archive: %w", err)
	}
	if len(zr.File) > jsMaxZipFiles {
		return nil, fmt.Errorf("the action archive has %d entries, more than %d", len(zr.File), jsMaxZipFiles)
	}
	var total int64
	files := make(map[string][]byte, len(zr.File))
	for _, f := range zr.File {
		if !f.Mode().IsRegular() {
			continue
		}
		size := int64(f.UncompressedSize64)
		if total += size; size < 0 || total > limit {
			return nil, fmt.Errorf("the action archive expands to more than the action's memory limit of %d bytes", limit)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("There was an error uncompressing the action Zip archive: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, size+1))
		_ = rc.Close()
		if err != nil || int64(len(data)) != size {
			return nil, fmt.Errorf("There was an error uncompressing the action Zip archive: %s is not %d bytes", f.Name, size)
		}
		files[path.Join(zipRoot, path.Clean("/"+f.Name))] = data
	}
	return files, nil
}

// untarModules reads a .tar.gz action's regular files under zipRoot, as
// unzipModules does; the decompressed stream is read no further than
// limit and the entries' headers allow.
func untarModules(b []byte, limit int64) (map[string][]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("There was an error uncompressing the action Tar GZ archive: %w", err)
	}
	tr := tar.NewReader(io.LimitReader(gz, limit+jsMaxZipFiles*2048))
	var total int64
	files := map[string][]byte{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("There was an error uncompressing the action Tar GZ archive: %w", err)
		}
		if n >= jsMaxZipFiles {
			return nil, fmt.Errorf("the action archive has more than %d entries", jsMaxZipFiles)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if total += h.Size; h.Size < 0 || total > limit {
			return nil, fmt.Errorf("the action archive expands to more than the action's memory limit of %d bytes", limit)
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil || int64(len(data)) != h.Size {
			return nil, fmt.Errorf("There was an error uncompressing the action Tar GZ archive: %s is not %d bytes", h.Name, h.Size)
		}
		files[path.Join(zipRoot, path.Clean("/"+h.Name))] = data
	}
}

// main evaluates the code in rt and returns its main, which the caller
// checks is a function.
func (c *jsCode) main(rt *goja.Runtime, mods *require.RequireModule) (goja.Value, error) {
	if c.prog != nil {
		return rt.RunProgram(c.prog)
	}
	exports, err := mods.Require(c.module)
	if errors.Is(err, require.InvalidModuleError) {
		return nil, fmt.Errorf("Cannot find module '%s'", c.module)
	}
	if err != nil {
		return nil, err
	}
	v := exports
	for _, p := range c.path {
		o, ok := v.(*goja.Object)
		if !ok {
			return goja.Undefined(), nil
		}
		v = o.Get(p)
		if v == nil {
			return goja.Undefined(), nil
		}
	}
	return v, nil
}
