package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"
)

// SQLite keeps each value as one BLOB row of one database file in WAL mode
// with synchronous=FULL, and updates a range with incremental BLOB I/O
// (sqlite3_blob_write) inside one BEGIN IMMEDIATE transaction per write.
//
// SQLite lets one writer at a time into a database. Within a process the
// writers take turns on a Go mutex around one connection, which hands the
// database over at once; writers in other processes wait for it through
// busy_timeout (SQLite's busy handler sleeps and retries). Pages, cache and
// checkpoints are SQLite's defaults.
//
// A large BLOB lives in a chain of overflow pages, which a new BLOB handle
// walks from the start to reach an offset, so a write's cost grows with its
// offset. A BLOB holds at most 1,000,000,000 bytes in this build
// (SQLITE_MAX_LENGTH), so larger values are skipped.
type SQLite struct{}

// sqliteMaxBlob is SQLITE_MAX_LENGTH as the driver compiles it.
const sqliteMaxBlob = 1_000_000_000

const sqliteFile = "values.db"

// Name returns "sqlite".
func (SQLite) Name() string { return "sqlite" }

// Setup creates the database under dir with one row per value: a
// zeroblob(size), which SQLite writes out as real pages.
func (s SQLite) Setup(ctx context.Context, dir string, values int, size int64) (Target, error) {
	if sqliteMissing != "" {
		return nil, fmt.Errorf("%w: %s", ErrSkip, sqliteMissing)
	}
	if size > sqliteMaxBlob {
		return nil, fmt.Errorf("%w: a SQLite BLOB holds at most %d bytes (SQLITE_MAX_LENGTH)", ErrSkip, sqliteMaxBlob)
	}
	path := filepath.Join(dir, sqliteFile)
	// Bulk creation needs no durability until the end: a rollback journal,
	// no syncs, then one fsync of the finished file.
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=DELETE&_synchronous=OFF")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	_, err = db.ExecContext(ctx, "CREATE TABLE v (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
	for v := 0; v < values && err == nil; v++ {
		_, err = db.ExecContext(ctx, "INSERT INTO v (id, b) VALUES (?, zeroblob(?))", v, size)
	}
	if err == nil {
		_, err = db.ExecContext(ctx, "PRAGMA journal_mode=WAL")
	}
	err = errors.Join(err, db.Close())
	if err == nil {
		err = syncFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: create: %w", err)
	}
	return s.Attach(ctx, dir)
}

// Attach opens a connection to the database under dir.
func (SQLite) Attach(ctx context.Context, dir string) (Target, error) {
	dsn := "file:" + filepath.Join(dir, sqliteFile) + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", errors.Join(err, db.Close()))
	}
	return &sqliteTarget{db: db, conn: conn}, nil
}

type sqliteTarget struct {
	mu   sync.Mutex // one writer at a time on conn
	db   *sql.DB
	conn *sql.Conn
}

func (t *sqliteTarget) Write(_ context.Context, value int, off int64, data []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.conn.Raw(func(dc any) error { return blobTx(dc, int64(value), off, data) })
	if err != nil {
		return fmt.Errorf("sqlite: write value %d: %w", value, err)
	}
	return nil
}

func (t *sqliteTarget) Close() error {
	return errors.Join(t.conn.Close(), t.db.Close())
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
