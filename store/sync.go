package store

import "os"

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a power loss; fsync of a file does not cover its name.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
