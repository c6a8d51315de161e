package activation

import (
	"fmt"
	"strings"
)

// FQN is an action's fully qualified name: the path (namespace, or
// namespace/package) and the short name.
type FQN struct {
	Path string
	Name string
}

// ParseFQN reads "/namespace[/package]/name" (the leading slash is
// optional), the form of __OW_ACTION_NAME and of /run's action_name.
func ParseFQN(s string) (FQN, error) {
	t := strings.TrimPrefix(s, "/")
	i := strings.LastIndexByte(t, '/')
	if i <= 0 || i == len(t)-1 || strings.Count(t, "/") > 2 || strings.Contains(t, "//") {
		return FQN{}, fmt.Errorf("activation: %q is not a fully qualified action name /namespace[/package]/name", s)
	}
	return FQN{Path: t[:i], Name: t[i+1:]}, nil
}

// String is "/path/name", the __OW_ACTION_NAME form.
func (n FQN) String() string { return "/" + n.Path + "/" + n.Name }

// DocID is "path/name": the action document's id, the record's path
// annotation and the balancer's hash input.
func (n FQN) DocID() string { return n.Path + "/" + n.Name }

// Namespace is the path's first segment.
func (n FQN) Namespace() string {
	ns, _, _ := strings.Cut(n.Path, "/")
	return ns
}

// MarshalText writes String; the zero FQN as "".
func (n FQN) MarshalText() ([]byte, error) {
	if n == (FQN{}) {
		return nil, nil
	}
	return []byte(n.String()), nil
}

// UnmarshalText reads what ParseFQN reads, and "" as the zero FQN.
func (n *FQN) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*n = FQN{}
		return nil
	}
	v, err := ParseFQN(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}
