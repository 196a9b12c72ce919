package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PullOptions are per-pull settings.
type PullOptions struct {
	// DockerConfigs are the contents of the pod's imagePullSecrets: each
	// either a .dockerconfigjson ({"auths": {...}}) or a legacy
	// .dockercfg (the auths map alone). The first entry matching the
	// registry is used.
	DockerConfigs [][]byte
}

// Pull fetches ref from its registry and stores it; concurrent pulls of
// the same reference share one download. The result is recorded under the
// normalised reference. Errors name the reference; an unauthorised or
// missing image is reported as the registry says (transport.Error).
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (Image, error) {
	im, _, err := s.pull(ctx, ref, opts)
	return im, err
}

func (s *Store) pull(ctx context.Context, ref string, opts PullOptions) (Image, bool, error) {
	canon, err := NormalizeRef(ref)
	if err != nil {
		return Image{}, false, err
	}
	return s.pulls.do(canon, func() (Image, error) {
		var nopts []name.Option
		r0, err := name.ParseReference(ref, name.WeakValidation)
		if err != nil {
			return Image{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
		}
		if s.insecure(r0.Context().RegistryStr()) {
			nopts = append(nopts, name.Insecure)
		}
		r, err := name.ParseReference(ref, append(nopts, name.WeakValidation)...)
		if err != nil {
			return Image{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
		}
		auth, err := authFor(r.Context().RegistryStr(), opts.DockerConfigs)
		if err != nil {
			return Image{}, err
		}
		s.log.Info("pulling image", "image", canon)
		img, err := remote.Image(r,
			remote.WithContext(ctx),
			remote.WithAuth(auth),
			remote.WithPlatform(s.cfg.Platform),
			remote.WithTransport(s.transport),
		)
		if err != nil {
			return Image{}, fmt.Errorf("pulling %s: %w", canon, err)
		}
		im, err := s.Add(ctx, img, []string{canon})
		if err != nil {
			return Image{}, fmt.Errorf("pulling %s: %w", canon, err)
		}
		return im, nil
	})
}

// IsUnauthorized reports whether a Pull error was the registry refusing
// the credentials (the kubelet reports ErrImagePull either way; this helps
// its message).
func IsUnauthorized(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	return te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden
}

func (s *Store) insecure(registry string) bool {
	for _, r := range s.cfg.InsecureRegistries {
		if r == registry {
			return true
		}
	}
	return false
}

// dockerAuth is one entry of a docker config's "auths".
type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// authFor finds credentials for registry in docker config JSONs;
// anonymous if none match.
func authFor(registry string, configs [][]byte) (authn.Authenticator, error) {
	for i, raw := range configs {
		var wrapped struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		auths := map[string]dockerAuth{}
		if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Auths != nil {
			auths = wrapped.Auths
		} else if err := json.Unmarshal(raw, &auths); err != nil {
			return nil, fmt.Errorf("image pull secret %d is not a docker config: %w", i, err)
		}
		for host, a := range auths {
			if normalizeRegistryKey(host) != normalizeRegistryKey(registry) {
				continue
			}
			cfg := authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
			if a.Auth != "" {
				dec, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return nil, fmt.Errorf("image pull secret %d: auth for %s is not base64", i, host)
				}
				u, p, ok := strings.Cut(string(dec), ":")
				if !ok {
					return nil, fmt.Errorf("image pull secret %d: auth for %s is not user:password", i, host)
				}
				cfg.Username, cfg.Password = u, p
			}
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.Anonymous, nil
}

// normalizeRegistryKey strips a scheme and path from a docker config key
// ("https://index.docker.io/v1/" → "index.docker.io") and folds the
// Docker Hub aliases together.
func normalizeRegistryKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	k, _, _ = strings.Cut(k, "/")
	if k == "docker.io" || k == "registry-1.docker.io" {
		return name.DefaultRegistry
	}
	return k
}
