// Package tokenfile authenticates bearer tokens listed in a static CSV file,
// like kube-apiserver's --token-auth-file: one line per token,
// `token,user,uid,"group1,group2"` (the groups column is optional). The file
// is read once. Only the apiserver and the server wiring import it.
package tokenfile

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Authenticator authenticates the tokens of a token file. It is immutable
// after construction and safe for concurrent use.
type Authenticator struct {
	// tokens is keyed by the SHA-256 of the token, so that the lookup does
	// not compare secrets byte by byte with an early exit.
	tokens map[[sha256.Size]byte]*authn.User
}

var _ authn.TokenAuthenticator = (*Authenticator)(nil)

// Load reads the token file at path. Records with an empty token are
// skipped; a later duplicate token replaces an earlier one (both are logged
// as warnings, without the token).
func Load(path string, log *slog.Logger) (*Authenticator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening token file: %w", err)
	}
	defer f.Close()
	a, err := Parse(f, log)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return a, nil
}

// Parse reads a token file from r.
func Parse(r io.Reader, log *slog.Logger) (*Authenticator, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	a := &Authenticator{tokens: map[[sha256.Size]byte]*authn.User{}}
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading record %d: %w", n, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("record %d: must have at least 3 columns (token, user name, user uid), found %d", n, len(rec))
		}
		if rec[0] == "" {
			log.Warn("empty token in token file", "record", n)
			continue
		}
		if rec[1] == "" {
			return nil, fmt.Errorf("record %d: empty user name", n)
		}
		u := &authn.User{Name: rec[1], UID: rec[2]}
		if len(rec) >= 4 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		key := sha256.Sum256([]byte(rec[0]))
		if _, dup := a.tokens[key]; dup {
			log.Warn("duplicate token in token file", "record", n)
		}
		a.tokens[key] = u
	}
	return a, nil
}

// Len returns the number of tokens.
func (a *Authenticator) Len() int { return len(a.tokens) }

// AuthenticateToken implements authn.TokenAuthenticator.AuthenticateToken.
// A token not in the file gives ok=false and no error: it may be another
// kind of token.
func (a *Authenticator) AuthenticateToken(_ context.Context, token string) (*authn.Response, bool, error) {
	u, ok := a.tokens[sha256.Sum256([]byte(token))]
	if !ok {
		return nil, false, nil
	}
	c := *u
	c.Groups = append([]string(nil), u.Groups...)
	return &authn.Response{User: &c}, true, nil
}
