package server

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/controller/manager"
	"github.com/podvisor/podvisor/internal/pki"
)

// startControllerManager runs the controller manager as
// system:kube-controller-manager, each controller acting as its own
// kube-system service account (kube-controller-manager's
// --use-service-account-credentials). It stops when ctx ends; s.clients waits
// for it.
func (s *Server) startControllerManager(ctx context.Context, cfg Config, creds *credentials) error {
	crt, key := filepath.Join(creds.dir, "controller-manager.crt"), filepath.Join(creds.dir, "controller-manager.key")
	if err := pki.EnsureCert(creds.ca, crt, key, pki.CertSpec{CommonName: "system:kube-controller-manager", Client: true}); err != nil {
		return fmt.Errorf("controller manager certificate: %w", err)
	}
	rc := &rest.Config{
		Host:            "https://" + s.addr,
		TLSClientConfig: rest.TLSClientConfig{CAData: creds.ca.CertPEM, CertFile: crt, KeyFile: key},
		UserAgent:       "podvisor-controller-manager",
	}
	log := s.log // the manager names its component itself
	mc := cfg.ControllerManager
	mc.RootCA = creds.ca.CertPEM
	m, err := manager.New(mc, manager.Deps{
		RESTConfig:       rc,
		ControllerConfig: manager.ServiceAccountCredentials(rc, log),
		Log:              log,
	})
	if err != nil {
		return err
	}
	s.clients.Add(1)
	go func() {
		defer s.clients.Done()
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			s.errCh <- fmt.Errorf("controller manager: %w", err)
		}
	}()
	return nil
}
