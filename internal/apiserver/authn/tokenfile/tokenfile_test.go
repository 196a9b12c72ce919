package tokenfile

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestParse(t *testing.T) {
	const file = `secret-admin,admin,1,"system:masters,ops"
secret-bob,bob,2
secret-carol,carol,3,"dev, qa"
,nobody,4
secret-dup,first,5
secret-dup,second,6
`
	a, err := Parse(strings.NewReader(file), discard())
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 4 {
		t.Errorf("Len = %d, want 4", a.Len())
	}
	tests := []struct {
		token string
		want  *authn.User
	}{
		{"secret-admin", &authn.User{Name: "admin", UID: "1", Groups: []string{"system:masters", "ops"}}},
		{"secret-bob", &authn.User{Name: "bob", UID: "2"}},
		{"secret-carol", &authn.User{Name: "carol", UID: "3", Groups: []string{"dev", "qa"}}},
		{"secret-dup", &authn.User{Name: "second", UID: "6"}},
		{"", nil},
		{"secret-nobody", nil},
	}
	for _, tc := range tests {
		t.Run(tc.token, func(t *testing.T) {
			r, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tc.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tc.want != nil)
			}
			if ok {
				if diff := cmp.Diff(tc.want, r.User); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
				r.User.Groups = append(r.User.Groups, "mutated")
			}
		})
	}
	// Callers modifying a returned user must not change the next answer.
	r, _, _ := a.AuthenticateToken(context.Background(), "secret-admin")
	if diff := cmp.Diff([]string{"system:masters", "ops"}, r.User.Groups); diff != "" {
		t.Errorf("groups after mutation (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"too few columns", "tok,user\n", "must have at least 3 columns"},
		{"empty user", "tok,,1\n", "empty user name"},
		{"bad quoting", "tok,\"user,1\n", "reading record 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.file), discard())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(p, []byte("t1,u1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(p, discard())
	if err != nil || a.Len() != 1 {
		t.Fatalf("Load = %v, %v; want 1 token", a, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.csv"), discard()); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
