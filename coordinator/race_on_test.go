//go:build race

package coordinator_test

// raceEnabled: the race detector is on, under which sync.Pool drops some of
// what it is given and allocation counts mean nothing.
const raceEnabled = true
