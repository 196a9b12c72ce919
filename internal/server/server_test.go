package server

import "testing"

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in         string
		base, size int
		wantErr    bool
	}{
		{"30000-32767", 30000, 2768, false},
		{"80-80", 80, 1, false},
		{"32767-30000", 0, 0, true},
		{"0-10", 0, 0, true},
		{"30000", 0, 0, true},
		{"a-b", 0, 0, true},
		{"1-70000", 0, 0, true},
	}
	for _, tc := range tests {
		base, size, err := ParsePortRange(tc.in)
		if (err != nil) != tc.wantErr || base != tc.base || size != tc.size {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v; want %d, %d, error %v", tc.in, base, size, err, tc.base, tc.size, tc.wantErr)
		}
	}
}
