// Package serviceaccount issues and validates service-account tokens: JWTs
// signed with the cluster's service-account key (RS256 or ES256), carrying
// Kubernetes' bound-token claims (iss, sub, aud, exp, iat, nbf, jti and the
// "kubernetes.io" claim naming the namespace, the service account and the
// pod, secret or node the token is bound to). Legacy (non-expiring,
// secret-based) tokens are not issued nor accepted.
//
// The Issuer backs the serviceaccounts/token subresource; the Authenticator
// is one of the apiserver's bearer-token authenticators. Only the apiserver
// and the server wiring import it.
package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

// LoadKey reads a PEM private key (PKCS#1 "RSA PRIVATE KEY", SEC1
// "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY"; RSA or ECDSA P-256) from path.
func LoadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading service-account key: %w", err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("service-account key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey parses the first private key in PEM data.
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		if _, err := algorithm(s.Public()); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// LoadOrGenerateKey loads the key at path, or, if there is no file there,
// generates an ECDSA P-256 key and writes it (PKCS#8 PEM, mode 0600) first.
// The server calls it on start with a path in its data dir.
func LoadOrGenerateKey(path string) (crypto.Signer, error) {
	k, err := LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	gen, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating service-account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(gen)
	if err != nil {
		return nil, fmt.Errorf("encoding service-account key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating service-account key dir: %w", err)
	}
	// O_EXCL: if another process created the key meanwhile, use theirs.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing service-account key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing service-account key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing service-account key: %w", err)
	}
	return gen, nil
}

// algorithm returns the JWS algorithm for a public key: RS256 for RSA (at
// least 2048 bits), ES256 for ECDSA P-256.
func algorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits is too small (want at least 2048)", k.N.BitLen())
		}
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on curve %s is not supported (want P-256)", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	default:
		return "", fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", pub)
	}
}

// KeyID returns the "kid" of a public key as Kubernetes computes it: the
// unpadded base64url SHA-256 of its PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
