module github.com/rangetx/rangetx

go 1.26.0

require (
	github.com/gofrs/flock v0.13.2
	github.com/google/uuid v1.6.0
	github.com/mattn/go-sqlite3 v1.14.53
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sync v0.25.0
)

require golang.org/x/sys v0.49.0
