package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/pki"
	"github.com/podvisor/podvisor/internal/scheduler"
)

// DefaultSchedulerName is the scheduler name of pods that name none.
const DefaultSchedulerName = scheduler.DefaultSchedulerName

// schedulerLeaseNamespace is where the scheduler's Lease lives.
const schedulerLeaseNamespace = "kube-system"

// defaultSchedulerLease is the Lease of the default scheduler, the name
// kube-scheduler takes and the system:kube-scheduler role may update.
const defaultSchedulerLease = "kube-scheduler"

// SchedulerLeaseName returns the Lease a scheduler of that name elects
// its leader on: kube-scheduler for the default scheduler, the scheduler's
// own name for any other, so that servers running different schedulers do
// not wait on one another while those running the same one take turns.
func SchedulerLeaseName(schedulerName string) string {
	if schedulerName == "" || schedulerName == scheduler.DefaultSchedulerName {
		return defaultSchedulerLease
	}
	return schedulerName
}

// startScheduler runs the scheduler in-process as user
// system:kube-scheduler (a client certificate the cluster CA signs) until
// ctx ends; s.clients waits for it. It campaigns for its Lease, so several
// servers on one cluster schedule with one leader at a time; ctx ends
// before the HTTPS server shuts down, so it releases the Lease and another
// server's scheduler takes over at once.
//
// Preconditions: the API server serves on s.addr.
func (s *Server) startScheduler(ctx context.Context, creds *credentials, port int) error {
	name := s.cfg.SchedulerName
	if name == "" {
		name = scheduler.DefaultSchedulerName
	}
	lease := SchedulerLeaseName(name)
	crt, key := filepath.Join(creds.dir, "scheduler.crt"), filepath.Join(creds.dir, "scheduler.key")
	if err := pki.EnsureCert(creds.ca, crt, key, pki.CertSpec{CommonName: authn.KubeScheduler, Client: true}); err != nil {
		return fmt.Errorf("scheduler client certificate: %w", err)
	}
	if lease != defaultSchedulerLease {
		admin, err := s.loopback(creds, port)
		if err != nil {
			return fmt.Errorf("scheduler lease permission: %w", err)
		}
		if err := ensureLeaseRole(ctx, admin, lease); err != nil {
			return fmt.Errorf("scheduler lease permission: %w", err)
		}
	}
	host, _ := os.Hostname()
	sched, err := scheduler.New(scheduler.Config{
		SchedulerName: name,
		LeaderElection: scheduler.LeaderElectionConfig{
			Namespace: schedulerLeaseNamespace, Name: lease,
			Identity: fmt.Sprintf("%s_%s", host, s.addr),
		},
	}, scheduler.Deps{
		RESTConfig: &rest.Config{
			Host:            "https://" + s.addr,
			TLSClientConfig: rest.TLSClientConfig{CAData: creds.ca.CertPEM, CertFile: crt, KeyFile: key},
		},
		Log: s.log,
	})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.sched = sched
	s.clients.Add(1)
	go func() {
		defer s.clients.Done()
		if err := sched.Run(ctx); err != nil && ctx.Err() == nil {
			select {
			case s.errCh <- fmt.Errorf("scheduler: %w", err):
			default:
				s.log.Error("scheduler stopped", "err", err)
			}
		}
	}()
	return nil
}

// Scheduler returns the in-process scheduler (nil with DisableScheduler).
func (s *Server) Scheduler() *scheduler.Scheduler { return s.sched }

// ensureLeaseRole lets system:kube-scheduler get and update the Lease of a
// scheduler with a non-default name: the bootstrap role allows only the
// kube-scheduler Lease, as in Kubernetes, where a second scheduler needs
// the same grant.
func ensureLeaseRole(ctx context.Context, admin kubernetes.Interface, lease string) error {
	roleName := "podvisor:scheduler-lease:" + lease
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: roleName, Namespace: schedulerLeaseNamespace},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
			ResourceNames: []string{lease}, Verbs: []string{"get", "update"},
		}},
	}
	if _, err := admin.RbacV1().Roles(schedulerLeaseNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating role %s: %w", roleName, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: roleName, Namespace: schedulerLeaseNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: authn.KubeScheduler}},
	}
	if _, err := admin.RbacV1().RoleBindings(schedulerLeaseNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating role binding %s: %w", roleName, err)
	}
	return nil
}
