package bootstrap

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// GenerateToken returns a new random token "<id>.<secret>" and its parts.
func GenerateToken() (token, id, secret string, err error) {
	buf := make([]byte, 22)
	if _, err := rand.Read(buf); err != nil {
		return "", "", "", fmt.Errorf("generating bootstrap token: %w", err)
	}
	// 252 is the largest multiple of 36 below 256; rejection keeps the
	// characters uniform.
	out := make([]byte, 0, 22)
	for len(out) < 22 {
		for _, b := range buf {
			if b < 252 && len(out) < 22 {
				out = append(out, tokenAlphabet[int(b)%36])
			}
		}
		if _, err := rand.Read(buf); err != nil {
			return "", "", "", fmt.Errorf("generating bootstrap token: %w", err)
		}
	}
	id, secret = string(out[:6]), string(out[6:])
	return id + "." + secret, id, secret, nil
}

// SecretOptions describe a bootstrap token Secret.
type SecretOptions struct {
	// ID and Secret are the token's parts (see GenerateToken).
	ID, Secret string
	// Expiration, if not zero, is when the token stops working.
	Expiration time.Time
	// ExtraGroups are added to system:bootstrappers; each must start with
	// "system:bootstrappers:".
	ExtraGroups []string
	// NodeName, if set, makes a join token for that node only (its user is
	// system:node:<name>).
	NodeName string
	// Description is stored in the Secret for humans.
	Description string
}

// NewSecret returns the kube-system Secret that makes a bootstrap token
// valid for authentication; the server or `podvisor` CLI creates it.
func NewSecret(o SecretOptions) (*corev1.Secret, error) {
	if _, _, ok := ParseToken(o.ID + "." + o.Secret); !ok {
		return nil, fmt.Errorf("bootstrap token id and secret must be 6 and 16 characters of [a-z0-9]")
	}
	data := map[string][]byte{
		KeyTokenID:     []byte(o.ID),
		KeyTokenSecret: []byte(o.Secret),
		KeyUsageAuth:   []byte("true"),
	}
	if !o.Expiration.IsZero() {
		data[KeyExpiration] = []byte(o.Expiration.UTC().Format(time.RFC3339))
	}
	if len(o.ExtraGroups) > 0 {
		s := &corev1.Secret{Data: map[string][]byte{KeyAuthExtraGroup: []byte(strings.Join(o.ExtraGroups, ","))}}
		if _, ok := extraGroups(s); !ok {
			return nil, fmt.Errorf("bootstrap token extra groups must start with %q", ExtraGroupPrefix)
		}
		data[KeyAuthExtraGroup] = s.Data[KeyAuthExtraGroup]
	}
	if o.NodeName != "" {
		if errs := validation.IsDNS1123Subdomain(o.NodeName); len(errs) != 0 {
			return nil, fmt.Errorf("bootstrap token node name %q: %s", o.NodeName, strings.Join(errs, "; "))
		}
		data[KeyNodeName] = []byte(o.NodeName)
	}
	if o.Description != "" {
		data[KeyDescription] = []byte(o.Description)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretPrefix + o.ID, Namespace: SecretNamespace},
		Type:       SecretType,
		Data:       data,
	}, nil
}
