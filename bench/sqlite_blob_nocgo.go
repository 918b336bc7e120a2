//go:build !cgo

package bench

import "errors"

// sqliteMissing says why the sqlite contender cannot run: the driver needs
// cgo.
const sqliteMissing = "the SQLite driver needs a build with cgo"

func blobTx(any, int64, int64, []byte) error {
	return errors.New(sqliteMissing)
}
