package version

// HLC is a hybrid logical clock reading: physical Unix milliseconds in the
// high 48 bits and a logical counter in the low 16. Readings from one node
// strictly increase even when the wall clock stalls or steps back, and they
// stay close to wall time, so they order writes for last-writer-wins.
type HLC uint64

// MakeHLC builds a reading from its parts.
func MakeHLC(ms int64, logical uint16) HLC {
	if ms < 0 {
		ms = 0
	}
	return HLC(uint64(ms)<<16 | uint64(logical))
}

// Millis is the physical part, in Unix milliseconds.
func (h HLC) Millis() int64 { return int64(h >> 16) }

// Logical is the counter part.
func (h HLC) Logical() uint16 { return uint16(h) }

// Next returns the reading that follows h when the wall clock reads nowMs:
// nowMs itself if it is ahead, else h plus one logical tick.
func (h HLC) Next(nowMs int64) HLC {
	if wall := MakeHLC(nowMs, 0); wall > h {
		return wall
	}
	return h + 1
}

// Observe returns the reading that follows both h and a remote reading, so
// that a node's next write orders after every write it has seen.
func (h HLC) Observe(remote HLC, nowMs int64) HLC {
	return max(h, remote).Next(nowMs)
}
