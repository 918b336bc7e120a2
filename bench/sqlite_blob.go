//go:build cgo

package bench

/*
// The SQLite that the driver compiles in; the driver does not wrap
// incremental BLOB I/O, so these call it directly on the driver's handle.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_blob sqlite3_blob;
extern int sqlite3_blob_open(sqlite3*, const char*, const char*, const char*, long long, int, sqlite3_blob**) __attribute__((weak));
extern int sqlite3_blob_write(sqlite3_blob*, const void*, int, int) __attribute__((weak));
extern int sqlite3_blob_close(sqlite3_blob*) __attribute__((weak));
extern const char *sqlite3_errmsg(sqlite3*) __attribute__((weak));

// blob_write writes n bytes at off into column col of row rowid of table
// tbl in the main database. It returns an SQLite result code.
static int blob_write(void *db, const char *tbl, const char *col, long long rowid,
		const void *p, int n, int off) {
	sqlite3_blob *b;
	int rc, rc2;
	if (!sqlite3_blob_open) return 1; // SQLITE_ERROR: not linked in
	rc = sqlite3_blob_open((sqlite3*)db, "main", tbl, col, rowid, 1, &b);
	if (rc) return rc;
	rc = sqlite3_blob_write(b, p, n, off);
	rc2 = sqlite3_blob_close(b);
	return rc ? rc : rc2;
}

static const char *errmsg(void *db) {
	return sqlite3_errmsg ? sqlite3_errmsg((sqlite3*)db) : "no sqlite3_errmsg";
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"github.com/mattn/go-sqlite3"
)

// sqliteMissing says why the sqlite contender cannot run, or is "".
const sqliteMissing = ""

// blobTx runs one transaction on the driver connection dc: BEGIN
// IMMEDIATE, then sqlite3_blob_open, sqlite3_blob_write and
// sqlite3_blob_close on column b of row rowid of table v, then COMMIT (or
// ROLLBACK if the write failed).
func blobTx(dc any, rowid, off int64, data []byte) error {
	c := dc.(*sqlite3.SQLiteConn)
	if _, err := c.Exec("BEGIN IMMEDIATE", nil); err != nil {
		return err
	}
	if err := blobWrite(c, rowid, off, data); err != nil {
		_, rerr := c.Exec("ROLLBACK", nil)
		return errors.Join(err, rerr)
	}
	_, err := c.Exec("COMMIT", nil)
	return err
}

var blobTable, blobColumn = C.CString("v"), C.CString("b")

func blobWrite(c *sqlite3.SQLiteConn, rowid, off int64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if off < 0 || off+int64(len(data)) > math.MaxInt32 {
		return fmt.Errorf("blob write at %d: offset out of range for sqlite3_blob_write", off)
	}
	// The driver keeps its sqlite3 handle in an unexported field.
	h := reflect.ValueOf(c).Elem().FieldByName("db")
	if !h.IsValid() || h.Kind() != reflect.Pointer || h.IsNil() {
		return errors.New("incremental blob write: this version of the SQLite driver has no sqlite3 handle field \"db\"")
	}
	db := h.UnsafePointer()
	rc := C.blob_write(db, blobTable, blobColumn, C.longlong(rowid), unsafe.Pointer(&data[0]), C.int(len(data)), C.int(off))
	if rc != 0 {
		return fmt.Errorf("incremental blob write: %s (result code %d)", C.GoString(C.errmsg(db)), int(rc))
	}
	return nil
}
