// Package pki creates and loads the cluster's certificates and keys in the
// server's data dir: a cluster CA, the API server's serving certificate, the
// admin client certificate, and the service-account signing key. Files are
// created on first start and reused afterwards; a serving certificate that
// no longer covers the requested names is reissued. Only internal/server and
// tests import it.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Validity periods.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority that signs certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is Cert in PEM form (for kubeconfigs).
	CertPEM []byte
}

// Pool returns a pool holding the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// LoadKey reads a PEM private key (PKCS#8, EC or PKCS#1).
func LoadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(data)
}

// ParseKey parses a PEM private key.
func ParseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("PKCS#8 key is not a signer")
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key format")
}

// LoadCert reads a PEM certificate (the first of the file).
func LoadCert(path string) (*x509.Certificate, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	return c, data, err
}

// EnsureCA loads the CA from certPath/keyPath, creating it if absent.
func EnsureCA(certPath, keyPath, commonName string) (*CA, error) {
	if _, err := os.Stat(certPath); err == nil {
		cert, data, err := LoadCert(certPath)
		if err != nil {
			return nil, fmt.Errorf("loading CA certificate: %w", err)
		}
		key, err := LoadKey(keyPath)
		if err != nil {
			return nil, fmt.Errorf("loading CA key: %w", err)
		}
		return &CA{Cert: cert, Key: key, CertPEM: data}, nil
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", commonName, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(keyPath, kp, 0o600); err != nil {
		return nil, fmt.Errorf("writing CA key: %w", err)
	}
	cp := certPEM(der)
	if err := writeFile(certPath, cp, 0o644); err != nil {
		return nil, fmt.Errorf("writing CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: cp}, nil
}

// CertSpec describes a leaf certificate.
type CertSpec struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
	// Server and Client choose the extended key usages.
	Server, Client bool
}

// covers reports whether c was issued for everything spec asks.
func covers(c *x509.Certificate, spec CertSpec) bool {
	if c.Subject.CommonName != spec.CommonName || !slices.Equal(c.Subject.Organization, spec.Organizations) {
		return false
	}
	for _, d := range spec.DNSNames {
		if !slices.Contains(c.DNSNames, d) {
			return false
		}
	}
	for _, ip := range spec.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return time.Until(c.NotAfter) > 30*24*time.Hour
}

// EnsureCert loads the leaf certificate at certPath/keyPath, issuing it
// from ca if it is absent, was signed by another CA, expires within 30
// days or does not cover spec.
func EnsureCert(ca *CA, certPath, keyPath string, spec CertSpec) error {
	if c, _, err := LoadCert(certPath); err == nil {
		if _, kerr := LoadKey(keyPath); kerr == nil && covers(c, spec) && c.CheckSignatureFrom(ca.Cert) == nil {
			return nil
		}
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	sn, err := serial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return fmt.Errorf("creating certificate %s: %w", spec.CommonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, kp, 0o600); err != nil {
		return err
	}
	return writeFile(certPath, certPEM(der), 0o644)
}

// EnsureKey loads the private key at path, creating an ECDSA P-256 key if
// absent (the service-account signing key).
func EnsureKey(path string) (crypto.Signer, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadKey(path)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, kp, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}
