package invoker

import (
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// FuzzJSCode: any action code, text or zip, base64 or not, with any main,
// is prepared or refused with an error; a zip never expands beyond the
// action's memory limit.
func FuzzJSCode(f *testing.F) {
	f.Add([]byte(`function main() { return {}; }`), false, "main")
	f.Add(zipped(f, map[string]string{"index.js": `exports.main = () => ({})`}), false, "main")
	f.Add(zipped(f, map[string]string{"a/b.js": `x`, "package.json": `{"main":"a/b.js"}`}), false, "b.c.d")
	f.Add(tarGzipped(f, map[string]string{"index.js": `exports.main = () => ({})`}), false, "main")
	f.Add([]byte("UEsDBAo="), true, "main")
	f.Add([]byte("PK\x03\x04 not a zip"), false, "main")
	f.Fuzz(func(t *testing.T, code []byte, binary bool, main string) {
		l := whisk.DefaultLimits()
		l.Memory = 1
		a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "f"}, Kind: "nodejs:20",
			Code: activation.Code{Inline: code, Binary: binary}, Limits: l}
		c, err := newJSCode(a, main)
		if err != nil {
			return
		}
		if c.prog == nil && c.mods == nil {
			t.Fatal("no code and no error")
		}
	})
}
