// Package bench measures Trove's data path against bare restic, side by side
// in one run. It is not part of the tests: build it with the bench tag,
//
//	go test -tags bench -run TestMoverBench -v -timeout 60m ./test/bench/
//
// (make bench, which also runs TestPgDumpBench: pg_dump through Trove into
// restic vs pg_dump > /dev/null, on a real PostgreSQL). It prints tables of
// MB/s, files/s and ratios.
package bench
