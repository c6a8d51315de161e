// Command hello is a sample OpenWhisk action for kind wasm:wasip1 in the
// command ABI: it reads its parameters as one JSON line on stdin, logs a
// line, and prints its result as the last line of stdout.
//
//	GOOS=wasip1 GOARCH=wasm go build -o hello.wasm ./examples/hello
//	faasedge exec hello.wasm --param name=World
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	var params struct {
		Name string `json:"name"`
	}
	line, _ := bufio.NewReader(os.Stdin).ReadBytes('\n')
	if err := json.Unmarshal(line, &params); err != nil {
		fmt.Printf(`{"error":%q}`+"\n", "parameters are not a JSON object: "+err.Error())
		return
	}
	if params.Name == "" {
		params.Name = "stranger"
	}
	fmt.Fprintf(os.Stderr, "greeting %s from action %s\n", params.Name, os.Getenv("__OW_ACTION_NAME"))
	out, _ := json.Marshal(map[string]string{"greeting": "Hello, " + params.Name + "!"})
	fmt.Println(string(out))
}
