// Command echo is the Go command test action: it reads the parameters line
// from stdin and answers according to it, so one module covers many of the
// executor's paths.
//
//	{"log": "text"}       prints text on stdout and on stderr before answering
//	{"exit": n}           exits with code n after printing any "print" text
//	{"print": "text"}     prints text as the last stdout line instead of a result
//	{"panic": "text"}     panics
//	{"env": "NAME"}       answers {"env": value of NAME}
//	{"read": "/path"}     answers {"read": the file's content} or {"error": why not}
//	anything else         answers the parameters unchanged
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	line, err := bufio.NewReader(os.Stdin).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		fmt.Fprintln(os.Stderr, "no input:", err)
		os.Exit(1)
	}
	var p map[string]any
	_ = json.Unmarshal(line, &p) // arrays echo unchanged
	if s, ok := p["log"].(string); ok {
		fmt.Println(s)
		fmt.Fprintln(os.Stderr, s)
	}
	if s, ok := p["panic"].(string); ok {
		panic(s)
	}
	if s, ok := p["print"].(string); ok {
		fmt.Println(s)
	}
	if n, ok := p["exit"].(float64); ok {
		os.Exit(int(n))
	}
	if _, ok := p["print"]; ok {
		return
	}
	if name, ok := p["env"].(string); ok {
		out, _ := json.Marshal(map[string]string{"env": os.Getenv(name)})
		fmt.Println(string(out))
		return
	}
	if path, ok := p["read"].(string); ok {
		b, err := os.ReadFile(path)
		out, _ := json.Marshal(map[string]string{"read": string(b)})
		if err != nil {
			out, _ = json.Marshal(map[string]string{"error": err.Error()})
		}
		fmt.Println(string(out))
		return
	}
	os.Stdout.Write(line)
}
