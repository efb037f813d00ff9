// Package bench measures Trove's data path against bare restic, side by side
// in one run. It is not part of the tests: build it with the bench tag,
//
//	go test -tags bench -run TestMoverBench -v -timeout 60m ./test/bench/
//
// (make bench). It prints a table of MB/s, files/s and ratios.
package bench
