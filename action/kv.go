package action

import "encoding/json"

// KV is the key-value store of the action's namespace, given by the
// annotation faasedge-kv=true. Every action of a namespace sees the same
// keys, and no other namespace's. Keys are UTF-8, 1 to 512 bytes; values
// at most 1 MiB.
var KV Store

// Store is the type of KV.
type Store struct{}

// Get returns the value of key, or an error matching ErrNotFound.
func (Store) Get(key string) ([]byte, error) {
	v, err := callKVGet([]byte(key))
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// Set sets key to value.
func (Store) Set(key string, value []byte) error {
	_, err := callKVSet([]byte(key), value)
	return err
}

// Delete removes key; removing a missing key is not an error.
func (Store) Delete(key string) error {
	_, err := callKVDelete([]byte(key))
	return err
}

// List returns the keys that start with prefix, in byte order, at most
// 1000.
func (Store) List(prefix string) ([]string, error) {
	raw, err := callKVList([]byte(prefix))
	if err != nil {
		return nil, err
	}
	var keys []string
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// IPFSAdd adds data to IPFS through the host's node, given by the
// annotation faasedge-ipfs-add=true, and returns its CID (a CIDv0, as
// Kubo's ipfs add prints). Actions of an executor that mounts the same
// IPFS node read it at /ipfs/<CID>.
func IPFSAdd(data []byte) (string, error) {
	c, err := callIPFSAdd(data)
	return string(c), err
}
