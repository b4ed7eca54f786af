package version

// HLC is a hybrid logical clock reading: physical Unix milliseconds in the
// high 48 bits and a logical counter in the low 16. Readings from one node
// strictly increase even when the wall clock stalls or steps back, and they
// stay close to wall time, so they order writes for last-writer-wins.
type HLC uint64

// maxMillis is the largest physical part an HLC can hold (the year 10889).
const maxMillis = 1<<48 - 1

// maxHLC is the largest reading; Next saturates there.
const maxHLC = ^HLC(0)

// MakeHLC builds a reading from its parts. ms is clamped to [0, maxMillis],
// so an absurd wall clock cannot wrap around to a small reading.
func MakeHLC(ms int64, logical uint16) HLC {
	ms = min(max(ms, 0), maxMillis)
	return HLC(uint64(ms)<<16 | uint64(logical))
}

// Millis is the physical part, in Unix milliseconds.
func (h HLC) Millis() int64 { return int64(h >> 16) }

// Logical is the counter part.
func (h HLC) Logical() uint16 { return uint16(h) }

// Next returns the reading that follows h when the wall clock reads nowMs:
// nowMs itself if it is ahead, else h plus one logical tick.
//
// When the logical part is full (65535 readings already issued within one
// millisecond, or the wall clock stalled or stepped back for that long), the
// tick carries into the physical part: the reading runs one millisecond ahead
// of h's, and so possibly of the wall clock, until the wall clock catches up.
// Readings thus keep strictly increasing rather than wrapping, at the cost of
// drifting ahead of wall time under more than 65536 writes per millisecond.
// The one exception is the largest reading (reachable only by observing a
// corrupt or hostile remote reading): there Next returns h unchanged.
func (h HLC) Next(nowMs int64) HLC {
	if wall := MakeHLC(nowMs, 0); wall > h {
		return wall
	}
	if h == maxHLC {
		return h
	}
	return h + 1
}

// NextMicros is Next for a wall clock read in Unix microseconds. The
// fraction of the millisecond fills the top ten bits of the logical part
// (999<<6 still fits in 16 bits), and ticks within one microsecond count in
// the six below. So two nodes that share a clock (processes on one host, or
// hosts whose clocks agree to better than a millisecond) order writes made
// in the same millisecond by when they were made, where Next would order
// them by the nodes' independent counters: a later blind write through
// another coordinator that lands in the same millisecond as an earlier one
// would otherwise lose last-writer-wins about half of the time. Readings
// keep Next's format, so Millis and comparisons with stored readings are
// unchanged.
func (h HLC) NextMicros(nowUs int64) HLC {
	nowUs = max(nowUs, 0)
	ms, frac := nowUs/1000, nowUs%1000
	if wall := MakeHLC(ms, uint16(frac)<<6); wall > h {
		return wall
	}
	if h == maxHLC {
		return h
	}
	return h + 1
}

// Observe returns the reading that follows both h and a remote reading, so
// that a node's next write orders after every write it has seen. A caller
// should bound how far ahead of its wall clock a remote reading may be before
// observing it: Observe follows any reading, however far in the future.
func (h HLC) Observe(remote HLC, nowMs int64) HLC {
	return max(h, remote).Next(nowMs)
}
