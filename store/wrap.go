package store

import (
	"errors"
	"fmt"
)

// opErr names the operation and the key in err. Key errors from ValidateKey
// already name the key, so they are not named twice.
func opErr(op, key string, err error) error {
	if errors.Is(err, ErrInvalidKey) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s %q: %w", op, key, err)
}
