package cluster

import "testing"

func TestFlushPayload(t *testing.T) {
	for _, db := range []int{-1, 0, 15, 255} {
		gotDB, gotBarrier, err := DecodeFlush(EncodeFlush(db, 1<<40|7))
		if err != nil || gotDB != db || gotBarrier != 1<<40|7 {
			t.Fatalf("db %d: round trip gave %d, %d, %v", db, gotDB, gotBarrier, err)
		}
	}
	good := EncodeFlush(3, 99)
	for name, p := range map[string][]byte{
		"empty":    nil,
		"no clock": good[:1],
		"trailing": append(append([]byte(nil), good...), 0),
		"db -2":    EncodeFlush(-2, 1),
	} {
		if _, _, err := DecodeFlush(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
