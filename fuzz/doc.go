// Package fuzz holds rangetx's fuzz targets. Run one with, for example,
//
//	go test ./fuzz -run '^$' -fuzz FuzzJournalRecord -fuzztime 1m
//
// Plain `go test ./...` runs every target over its seed corpus.
package fuzz
