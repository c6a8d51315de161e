//go:build !wasip1

package action

// Outside WebAssembly there is no host to call.

func callHTTP([]byte) ([]byte, error)       { return nil, ErrNoHost }
func callKVGet([]byte) ([]byte, error)      { return nil, ErrNoHost }
func callKVSet(_, _ []byte) ([]byte, error) { return nil, ErrNoHost }
func callKVDelete([]byte) ([]byte, error)   { return nil, ErrNoHost }
func callKVList([]byte) ([]byte, error)     { return nil, ErrNoHost }
func callIPFSAdd([]byte) ([]byte, error)    { return nil, ErrNoHost }
