package memmap

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

type fakeSpace struct {
	name string
	got  []AddrRange
}

func (f *fakeSpace) Invalidate(ar AddrRange, opts InvalidateOpts) { f.got = append(f.got, ar) }

func TestMappingSet(t *testing.T) {
	const page = 0x1000
	for _, tc := range []struct {
		name       string
		build      func(s *MappingSet, a, b *fakeSpace)
		invalidate MappableRange
		wantA      []AddrRange
		wantB      []AddrRange
		wantEmpty  bool
	}{
		{
			name:       "one mapping, middle invalidated",
			build:      func(s *MappingSet, a, b *fakeSpace) { s.Add(a, AddrRange{0x10000, 0x14000}, 0, false) },
			invalidate: MappableRange{page, 2 * page},
			wantA:      []AddrRange{{0x11000, 0x12000}},
		},
		{
			name: "two spaces, different offsets",
			build: func(s *MappingSet, a, b *fakeSpace) {
				s.Add(a, AddrRange{0x10000, 0x14000}, 0, false)
				s.Add(b, AddrRange{0x20000, 0x22000}, 2*page, true)
			},
			invalidate: MappableRange{3 * page, 10 * page},
			wantA:      []AddrRange{{0x13000, 0x14000}},
			wantB:      []AddrRange{{0x21000, 0x22000}},
		},
		{
			name: "partial remove keeps both ends",
			build: func(s *MappingSet, a, b *fakeSpace) {
				s.Add(a, AddrRange{0x10000, 0x14000}, 0, false)
				s.Remove(a, AddrRange{0x11000, 0x12000}, page, false)
			},
			invalidate: MappableRange{0, 4 * page},
			wantA:      []AddrRange{{0x10000, 0x11000}, {0x12000, 0x14000}},
		},
		{
			name: "full remove empties",
			build: func(s *MappingSet, a, b *fakeSpace) {
				s.Add(a, AddrRange{0x10000, 0x14000}, 0, false)
				s.Remove(a, AddrRange{0x10000, 0x14000}, 0, false)
			},
			invalidate: MappableRange{0, 4 * page},
			wantEmpty:  true,
		},
		{
			name: "remove of another space leaves mapping",
			build: func(s *MappingSet, a, b *fakeSpace) {
				s.Add(a, AddrRange{0x10000, 0x14000}, 0, false)
				s.Remove(b, AddrRange{0x10000, 0x14000}, 0, false)
			},
			invalidate: MappableRange{0, page},
			wantA:      []AddrRange{{0x10000, 0x11000}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s MappingSet
			a, b := &fakeSpace{name: "a"}, &fakeSpace{name: "b"}
			tc.build(&s, a, b)
			s.Invalidate(tc.invalidate, InvalidateOpts{})
			if diff := cmp.Diff(tc.wantA, a.got); diff != "" {
				t.Errorf("space a invalidations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantB, b.got); diff != "" {
				t.Errorf("space b invalidations (-want +got):\n%s", diff)
			}
			if s.IsEmpty() != tc.wantEmpty {
				t.Errorf("IsEmpty() = %v, want %v", s.IsEmpty(), tc.wantEmpty)
			}
		})
	}
}

func TestAccessType(t *testing.T) {
	for _, tc := range []struct {
		a    AccessType
		want string
	}{{NoAccess, "---"}, {Read, "r--"}, {ReadWrite, "rw-"}, {AnyAccess, "rwx"}, {Execute.Effective(), "r-x"}} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", tc.a, got, tc.want)
		}
	}
	if !ReadWrite.SupersetOf(Write) || Read.SupersetOf(Write) {
		t.Error("SupersetOf is wrong")
	}
	if got := AccessFromProt(0x7 | 0x01000000); got != AnyAccess {
		t.Errorf("AccessFromProt = %v, want rwx", got)
	}
}

func TestRanges(t *testing.T) {
	r := AddrRange{0x1000, 0x3000}
	if !r.Overlaps(AddrRange{0x2fff, 0x4000}) || r.Overlaps(AddrRange{0x3000, 0x4000}) {
		t.Error("Overlaps is wrong")
	}
	if got, want := r.Intersect(AddrRange{0x5000, 0x6000}).Length(), uint64(0); got != want {
		t.Errorf("disjoint Intersect length = %d, want %d", got, want)
	}
}
