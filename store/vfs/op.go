package vfs

import "strconv"

// OpKind names a file-system operation, as MemFS reports it to its hook and
// Inject reports it to its rule.
type OpKind uint8

// The operations. The zero OpKind is none of them.
const (
	// OpOpen is OpenFile that neither creates nor truncates a file.
	OpOpen OpKind = iota + 1
	// OpCreate is OpenFile that creates the file (see Inject and MemFS for
	// how each decides).
	OpCreate
	// OpRead is File.Read or File.ReadAt.
	OpRead
	// OpWrite is File.Write or File.WriteAt.
	OpWrite
	// OpTruncate is File.Truncate, and OpenFile with O_TRUNC of an existing
	// file opened for writing.
	OpTruncate
	// OpChmod is File.Chmod.
	OpChmod
	// OpStat is File.Stat.
	OpStat
	// OpSync is File.Sync.
	OpSync
	// OpSyncData is File.SyncData.
	OpSyncData
	// OpClose is File.Close.
	OpClose
	// OpLstat is FS.Lstat.
	OpLstat
	// OpMkdir is FS.Mkdir.
	OpMkdir
	// OpRename is FS.Rename.
	OpRename
	// OpRemove is FS.Remove.
	OpRemove
	// OpReadDir is FS.ReadDir.
	OpReadDir
	// OpSyncDir is FS.SyncDir.
	OpSyncDir
)

var opNames = [...]string{
	OpOpen:     "open",
	OpCreate:   "create",
	OpRead:     "read",
	OpWrite:    "write",
	OpTruncate: "truncate",
	OpChmod:    "chmod",
	OpStat:     "stat",
	OpSync:     "sync",
	OpSyncData: "syncdata",
	OpClose:    "close",
	OpLstat:    "lstat",
	OpMkdir:    "mkdir",
	OpRename:   "rename",
	OpRemove:   "remove",
	OpReadDir:  "readdir",
	OpSyncDir:  "syncdir",
}

// String returns the operation's lower-case name ("open", "write",
// "syncdir", ...), the Op field of the errors Inject returns.
func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return "OpKind(" + strconv.Itoa(int(k)) + ")"
}

// Mutates reports whether an operation of kind k can change what is stored
// or what is durable: OpCreate, OpWrite, OpTruncate, OpChmod, OpSync,
// OpSyncData, OpMkdir, OpRename, OpRemove and OpSyncDir.
func (k OpKind) Mutates() bool {
	switch k {
	case OpCreate, OpWrite, OpTruncate, OpChmod, OpSync, OpSyncData,
		OpMkdir, OpRename, OpRemove, OpSyncDir:
		return true
	}
	return false
}

// Op describes one file-system operation.
type Op struct {
	// Kind is the operation.
	Kind OpKind
	// Path is the path the operation names; for a File method, the name
	// the file was opened with.
	Path string
	// NewPath is the new path of an OpRename, empty for every other kind.
	NewPath string
	// Off is, for OpRead and OpWrite, the offset of a ReadAt or WriteAt,
	// or -1 for a Read or Write at the file position; for OpTruncate, the
	// new size. It is 0 for every other kind.
	Off int64
	// Len is, for OpRead and OpWrite, the length of the buffer. It is 0
	// for every other kind.
	Len int
}

// String describes o, for example "write /d/f off=4096 len=512",
// "truncate /d/f size=0" or "rename /d/a -> /d/b".
func (o Op) String() string {
	s := o.Kind.String() + " " + o.Path
	switch o.Kind {
	case OpRename:
		s += " -> " + o.NewPath
	case OpRead, OpWrite:
		s += " off=" + strconv.FormatInt(o.Off, 10) + " len=" + strconv.Itoa(o.Len)
	case OpTruncate:
		s += " size=" + strconv.FormatInt(o.Off, 10)
	}
	return s
}
