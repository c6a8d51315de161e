package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// BuildFaasedge builds the faasedge command as make release does
// (ReleaseBuild) into a fresh temporary directory, for tests that run the
// binary as users do (call it from TestMain; remove dir when done). The
// build's output goes to stderr.
func BuildFaasedge() (bin, dir string, err error) {
	if dir, err = os.MkdirTemp("", "faasedge-bin"); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "faasedge")
	if out, err := ReleaseBuild(bin, "github.com/faasedge/faasedge/cmd/faasedge"); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("testenv: building faasedge: %w", err)
	}
	return bin, dir, nil
}
