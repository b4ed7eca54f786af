package version

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes: it never panics, every error
// wraps ErrCorrupt, and whatever it accepts is a canonical set that encodes
// back to exactly the same bytes (and so decodes Equal again).
func FuzzDecode(f *testing.F) {
	for _, s := range sampleRecords() {
		f.Add(s.AppendBinary(nil))
		f.Add(appendV1(s))
	}
	f.Add(Siblings{ver("a=1@5 b=2@6", 7, "a", "v"), ver("c=1@5", 8, "c", "w")}.AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{recordFormat})
	f.Add([]byte{recordFormat, 0})
	f.Add([]byte{recordFormat, 0x80, 0x00})
	f.Add([]byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte("\x01\x01\x01\x01a\x01\x01\x05\x01a\x00\x00\x01\x01v"))
	f.Add([]byte("junk that is not a record at all"))
	f.Add(rawRecord(ver("a=1", 10, "a", "v1"), ver("a=2", 20, "a", "v2")))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		s, err := Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("Decode modified its input")
		}
		checkDecoded(t, b, s, err)
		var d Decoder
		for range 2 { // cold, then with the IDs remembered
			ds, derr := d.Decode(b)
			if (derr == nil) != (err == nil) || !identical(ds, s) {
				t.Fatalf("Decoder gives %q, %v; Decode gives %q, %v", values(ds), derr, values(s), err)
			}
		}
		if err != nil {
			return
		}
		if enc := s.AppendBinary(nil); len(enc) != s.encodedLen() {
			t.Fatalf("encodedLen %d, encoding is %d bytes", s.encodedLen(), len(enc))
		}
		again, err := Decode(s.AppendBinary(nil))
		if err != nil || !again.Equal(s) {
			t.Fatalf("re-encoded record decodes to %q, %v; want %q", values(again), err, values(s))
		}
		// An accepted set behaves: merging it with itself or with
		// nothing changes nothing.
		if m := Merge(s, s); !m.Equal(s) {
			t.Fatalf("Merge(s, s) = %q, want %q", values(m), values(s))
		}
		if m := Merge(nil, s); !m.Equal(s) {
			t.Fatalf("Merge(nil, s) = %q, want %q", values(m), values(s))
		}
	})
}

// FuzzDecodeContext feeds DecodeContext arbitrary strings: it never panics,
// every error wraps ErrBadContext, and whatever it accepts is a well-formed
// clock whose token is exactly the input.
func FuzzDecodeContext(f *testing.F) {
	f.Add("")
	f.Add("AQA")
	f.Add("AQB")
	f.Add(EncodeContext(cl("a=1@5 b=2@6")))
	f.Add(EncodeContext(fullClock(MaxClockEntries)))
	f.Add(EncodeContext(fullClock(30)))
	f.Add(EncodeContext(cl("a=18446744073709551615@18446744073709551615")))
	f.Add(EncodeContext(cl("a=1")) + "\n")
	f.Add("!!!!")
	f.Add("AQ==")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := DecodeContext(token)
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("DecodeContext(%q): error %v does not wrap ErrBadContext", token, err)
			}
			if c != nil {
				t.Fatalf("DecodeContext(%q): error with a clock", token)
			}
			return
		}
		if !c.wellFormed() {
			t.Fatalf("DecodeContext(%q) accepted a malformed clock %v", token, c)
		}
		if re := EncodeContext(c); re != token {
			t.Fatalf("DecodeContext(%q) = %v, which encodes as %q", token, c, re)
		}
	})
}
