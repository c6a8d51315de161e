// Package closer closes what a start got to open. A component's Close
// also runs after a start that failed half-way, so each of its parts may
// still be nil; Close skips those.
package closer

// Close closes c and returns its error, or does nothing and returns nil
// when c is nil: a part that was never opened. The constraint compares c
// with its own type's nil, so a nil *T is skipped, not called.
func Close[C interface {
	comparable
	Close() error
}](c C) error {
	var none C
	if c == none {
		return nil
	}
	return c.Close()
}
