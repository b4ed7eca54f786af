package version

import (
	"slices"
	"testing"
)

func TestMerge(t *testing.T) {
	v1 := ver("a=1", 10, "a", "v1")
	v2 := ver("a=2", 20, "a", "v2")           // descends from v1
	w1 := ver("b=1", 15, "b", "w1")           // concurrent with v1 and v2
	x := ver("a=2 b=1", 30, "b", "x")         // descends from v2 and w1
	v2again := ver("a=2", 25, "b", "v2again") // same clock as v2, newer
	del := ver("a=3", 40, "a", "")
	del.Tombstone, del.Kind = true, 0

	tests := []struct {
		name string
		a, b Siblings
		want []string
	}{
		{"both empty", nil, nil, []string{}},
		{"empty left", nil, Siblings{v1}, []string{"v1"}},
		{"empty right", Siblings{v1}, nil, []string{"v1"}},
		{"newer replaces older", Siblings{v1}, Siblings{v2}, []string{"v2"}},
		{"older does not replace newer", Siblings{v2}, Siblings{v1}, []string{"v2"}},
		{"concurrent both kept, oldest first", Siblings{v2}, Siblings{w1}, []string{"w1", "v2"}},
		{"concurrent, other order", Siblings{w1}, Siblings{v2}, []string{"w1", "v2"}},
		{"one write supersedes siblings", Siblings{w1, v2}, Siblings{x}, []string{"x"}},
		{"siblings do not supersede their successor", Siblings{x}, Siblings{w1, v2}, []string{"x"}},
		{"partial supersede", Siblings{w1, v2}, Siblings{v1}, []string{"w1", "v2"}},
		{"equal clocks keep the newer", Siblings{v2}, Siblings{v2again}, []string{"v2again"}},
		{"equal clocks keep the newer, other order", Siblings{v2again}, Siblings{v2}, []string{"v2again"}},
		{"idempotent", Siblings{w1, v2}, Siblings{w1, v2}, []string{"w1", "v2"}},
		{"tombstone supersedes", Siblings{w1, v2}, Siblings{del}, []string{"w1", "<del>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := cloneSiblings(tt.a), cloneSiblings(tt.b)
			got := Merge(tt.a, tt.b)
			if !slices.Equal(values(got), tt.want) {
				t.Errorf("Merge = %q, want %q", values(got), tt.want)
			}
			if why := canonical(got); why != "" {
				t.Errorf("result not canonical: %s", why)
			}
			if rev := Merge(tt.b, tt.a); !rev.Equal(got) {
				t.Errorf("Merge(b, a) = %q, Merge(a, b) = %q", values(rev), values(got))
			}
			if !identical(tt.a, a) || !identical(tt.b, b) {
				t.Errorf("Merge modified its inputs")
			}
		})
	}
}

// TestMergeNonCanonicalInput covers callers (engine's record check) that
// pass a set that may not be canonical: Merge still returns the canonical
// reduction of the union.
func TestMergeNonCanonicalInput(t *testing.T) {
	v1 := ver("a=1", 10, "a", "v1")
	v2 := ver("a=2", 20, "a", "v2")
	w1 := ver("b=1", 15, "b", "w1")
	tests := []struct {
		a, b Siblings
		want []string
	}{
		{Siblings{v2}, Siblings{v1, w1}, []string{"w1", "v2"}},
		{Siblings{v1}, Siblings{v2, w1, v1}, []string{"w1", "v2"}},
		{Siblings{v2, v1}, Siblings{w1}, []string{"w1", "v2"}},
		{Siblings{v1, v1}, Siblings{v1}, []string{"v1"}},
		{Siblings{v1}, Siblings{v1, v1}, []string{"v1"}},
	}
	for _, tt := range tests {
		got := Merge(tt.a, tt.b)
		if !slices.Equal(values(got), tt.want) {
			t.Errorf("Merge(%q, %q) = %q, want %q", values(tt.a), values(tt.b), values(got), tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	v1 := ver("a=1", 10, "a", "v1")
	w1 := ver("b=1", 15, "b", "w1")
	s := Siblings(nil).Add(v1).Add(w1)
	if !slices.Equal(values(s), []string{"v1", "w1"}) {
		t.Fatalf("Add: %q", values(s))
	}
	s = s.Add(ver("a=1 b=1", 20, "a", "x").withClock(s.Clock().Increment("a", 20)))
	if !slices.Equal(values(s), []string{"x"}) {
		t.Fatalf("Add of a successor: %q", values(s))
	}
}

func (v Version) withClock(c Clock) Version { v.Clock = c; return v }

func TestSiblingsClock(t *testing.T) {
	s := Siblings{ver("a=3@30 b=1@10", 1, "a", "x"), ver("a=1@10 c=2@20", 2, "c", "y")}
	got := s.Clock()
	if want := cl("a=3@30 b=1@10 c=2@20"); got.String() != want.String() {
		t.Errorf("Clock() = %v, want %v", got, want)
	}
	if Siblings(nil).Clock() != nil {
		t.Errorf("empty set has a clock")
	}
}

func TestLatestVisible(t *testing.T) {
	const now = 1000
	live := func(ts HLC, writer, val string) Version {
		return Version{Clock: cl(writer + "=1"), Timestamp: ts, Writer: writer, Kind: KindString, Value: []byte(val)}
	}
	tomb := func(ts HLC, writer string) Version {
		v := live(ts, writer, "")
		v.Tombstone = true
		return v
	}
	expiring := func(ts HLC, writer, val string, at int64) Version {
		v := live(ts, writer, val)
		v.ExpireAt = at
		return v
	}
	tests := []struct {
		name        string
		s           Siblings
		wantLatest  string // "" when there is none
		wantVisible string // "" when hidden
		wantLive    []string
	}{
		{"empty", nil, "", "", []string{}},
		{"one live", Siblings{live(5, "a", "x")}, "x", "x", []string{"x"}},
		{"highest timestamp wins", Siblings{live(5, "a", "x"), live(9, "b", "y"), live(7, "c", "z")}, "y", "y", []string{"x", "z", "y"}},
		{"timestamp tie: higher writer wins", Siblings{live(5, "b", "y"), live(5, "a", "x")}, "y", "y", []string{"x", "y"}},
		{"tombstone latest hides the key", Siblings{live(5, "a", "x"), tomb(9, "b")}, "<del>", "", []string{"x"}},
		{"older tombstone does not hide", Siblings{tomb(5, "a"), live(9, "b", "y")}, "y", "y", []string{"y"}},
		{"expired latest hides the key", Siblings{live(5, "a", "x"), expiring(9, "b", "y", now)}, "y", "", []string{"x"}},
		{"not yet expired", Siblings{live(5, "a", "x"), expiring(9, "b", "y", now+1)}, "y", "y", []string{"x", "y"}},
		{"expired older value does not matter", Siblings{expiring(5, "a", "x", 1), live(9, "b", "y")}, "y", "y", []string{"y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Order the input canonically, as every Siblings is.
			var s Siblings
			for _, v := range tt.s {
				s = s.Add(v)
			}
			got, ok := s.Latest()
			if name := versionName(got, ok); name != tt.wantLatest {
				t.Errorf("Latest = %q, want %q", name, tt.wantLatest)
			}
			got, ok = s.Visible(now)
			if name := versionName(got, ok); name != tt.wantVisible {
				t.Errorf("Visible = %q, want %q", name, tt.wantVisible)
			}
			if got := values(s.Live(now)); !slices.Equal(got, tt.wantLive) {
				t.Errorf("Live = %q, want %q", got, tt.wantLive)
			}
		})
	}
}

func versionName(v Version, ok bool) string {
	if !ok {
		return ""
	}
	return values(Siblings{v})[0]
}

func TestEqual(t *testing.T) {
	a := Siblings{ver("a=1", 1, "a", "x")}
	tests := []struct {
		name string
		b    Siblings
		want bool
	}{
		{"same", Siblings{ver("a=1", 1, "a", "x")}, true},
		{"value", Siblings{ver("a=1", 1, "a", "y")}, false},
		{"timestamp", Siblings{ver("a=1", 2, "a", "x")}, false},
		{"writer", Siblings{ver("a=1", 1, "b", "x")}, false},
		{"clock", Siblings{ver("a=2", 1, "a", "x")}, false},
		{"stamp", Siblings{ver("a=1@3", 1, "a", "x")}, false},
		{"length", Siblings{ver("a=1", 1, "a", "x"), ver("b=1", 1, "b", "x")}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := a.Equal(tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !Siblings(nil).Equal(Siblings{}) {
		t.Errorf("nil and empty sets differ")
	}
}
