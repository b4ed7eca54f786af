package version

import (
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
