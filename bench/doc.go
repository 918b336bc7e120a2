// Package bench measures rangetx against what users would otherwise do to
// update a byte range of a large stored value: rewrite the whole value
// atomically (naive), write in place with no atomicity (raw), keep the value
// in SQLite or in bbolt. Every contender implements Contender; Run runs the
// scenarios of a Plan against them and returns one Result per cell, which
// report.go prints as tables, JSON or CSV and svg.go draws.
//
// The command `rangetx bench` runs it; the Go benchmarks in bench_test.go
// run the same cells under the testing package:
//
//	go test -run '^$' -bench . -benchmem ./bench
package bench
