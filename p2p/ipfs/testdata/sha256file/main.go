// Command sha256file is the test action that reads content-addressed data:
// given {"path": "/ipfs/<CID>/..."} it answers {"sha256": hex digest of the
// file, "size": its length}, or {"error": why not}.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	line, _ := bufio.NewReader(os.Stdin).ReadBytes('\n')
	var p struct{ Path string }
	if err := json.Unmarshal(line, &p); err != nil {
		answer(map[string]any{"error": err.Error()})
		return
	}
	f, err := os.Open(p.Path)
	if err != nil {
		answer(map[string]any{"error": err.Error()})
		return
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		answer(map[string]any{"error": err.Error()})
		return
	}
	answer(map[string]any{"sha256": hex.EncodeToString(h.Sum(nil)), "size": n})
}

func answer(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}
