//go:build !race

package coordinator_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
