package version

import (
	"fmt"
	"strings"
	"testing"
)

// benchVersion is a typical stored version: a clock of the three replicas
// of a key, a node ID as writer, a short value.
func benchVersion(counter uint64, ts HLC, value string) Version {
	c := Clock{
		{Node: "node-1", Counter: counter, Stamp: ts},
		{Node: "node-2", Counter: 3, Stamp: 1},
		{Node: "node-3", Counter: 2, Stamp: 1},
	}
	return Version{Clock: c, Timestamp: ts, Writer: "node-1", Kind: KindString, Value: []byte(value)}
}

// BenchmarkMerge merges two one-version sets: a SET over an existing key
// (the new version replaces the old) and two concurrent writes (siblings).
func BenchmarkMerge(b *testing.B) {
	old := Siblings{benchVersion(4, 100, "old")}
	b.Run("replace", func(b *testing.B) {
		nu := Siblings{benchVersion(5, 200, "new")}
		b.ReportAllocs()
		for b.Loop() {
			Merge(old, nu)
		}
	})
	b.Run("concurrent", func(b *testing.B) {
		sib := Siblings{{Clock: Clock{{Node: "node-2", Counter: 4, Stamp: 150}}, Timestamp: 150, Writer: "node-2", Kind: KindString, Value: []byte("sib")}}
		b.ReportAllocs()
		for b.Loop() {
			Merge(old, sib)
		}
	})
}

// benchRecord is the encoding of one version, 100 bytes long.
func benchRecord(b *testing.B) []byte {
	s := Siblings{benchVersion(5, MakeHLC(1_700_000_000_000, 0), "")}
	pad := 100 - len(s.AppendBinary(nil))
	s[0].Value = []byte(strings.Repeat("v", pad))
	rec := s.AppendBinary(nil)
	if len(rec) != 100 {
		b.Fatalf("record is %d bytes", len(rec))
	}
	return rec
}

func BenchmarkDecode(b *testing.B) {
	rec := benchRecord(b)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	rec := benchRecord(b)
	s, err := Decode(rec)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendBinary(buf[:0])
	}
}

// hexNodes are node IDs as a real cluster names them: 40 hex digits.
var hexNodes = [3]string{
	"3f9a1c0b7e2d4a6f8b1c3e5d7f9a0b2c4d6e8f01",
	"8c2e4a6b0d1f3e5c7a9b1d3f5e7c9a0b2d4f6e82",
	"d41d8cd98f00b204e9800998ecf8427e5a1b2c39",
}

// typicalRecord is the encoding of what most keys hold: one version with a
// clock of entries of the hexNodes, written by the first, and a 100-byte
// value.
func typicalRecord(entries int) []byte {
	at := MakeHLC(1_700_000_000_000, 0)
	var c Clock
	for i := range entries {
		c = append(c, Entry{Node: hexNodes[i], Counter: uint64(1000 + i), Stamp: at + HLC(i)})
	}
	v := Version{Clock: c, Timestamp: at, Writer: hexNodes[0], Kind: KindString, Value: []byte(strings.Repeat("v", 100))}
	return Siblings{v}.AppendBinary(nil)
}

// BenchmarkRecord decodes and encodes typical records with clocks of one
// to three entries.
func BenchmarkRecord(b *testing.B) {
	for _, entries := range []int{1, 3} {
		rec := typicalRecord(entries)
		b.Run(fmt.Sprintf("decode/entries=%d", entries), func(b *testing.B) {
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decoder/entries=%d", entries), func(b *testing.B) {
			var d Decoder
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("append/entries=%d", entries), func(b *testing.B) {
			s, err := Decode(rec)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				s.AppendBinary(nil)
			}
		})
		b.Run(fmt.Sprintf("append-reuse/entries=%d", entries), func(b *testing.B) {
			s, err := Decode(rec)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				buf = s.AppendBinary(buf[:0])
			}
		})
	}
}

// BenchmarkNewClock is what a SET over an existing key computes before
// anything is stored: the clock of the current siblings, incremented.
func BenchmarkNewClock(b *testing.B) {
	s, err := Decode(typicalRecord(3))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Clock().Increment(hexNodes[0], 1)
	}
}
