// Command cat is a test action that reads a file from the guest's file
// system: {"path": "/data/file"} answers {"content": "..."}. It reaches no
// host capability, so it runs anywhere.
package main

import (
	"context"
	"os"

	"github.com/faasedge/faasedge/action"
)

type params struct {
	Path string `json:"path"`
}

type result struct {
	Content string `json:"content"`
}

func main() {
	action.Run(func(_ context.Context, p params) (result, error) {
		b, err := os.ReadFile(p.Path)
		return result{Content: string(b)}, err
	})
}
