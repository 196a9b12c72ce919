package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/authz/bootstrappolicy"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/storage"
)

// feed keeps a consumer (the RBAC policy, the node graph) in step with one
// resource's watch cache: every object is set on start, then every change.
// synced is closed once the first full state was delivered.
func (s *Server) feed(ctx context.Context, gr schema.GroupResource, set func(runtime.Object), del func(ns, name string), changed func(), synced chan struct{}) {
	res := s.byGR[gr]
	known := map[string]bool{}
	first := true
	for ctx.Err() == nil {
		w, err := res.store.Cache().Watch(ctx, res.store.Key("", ""), storage.CacheWatchOptions{
			WatchOptions: storage.WatchOptions{Recursive: true, Bookmarks: true},
			Initial:      true, InitialEventsEnd: true,
		})
		if err != nil {
			s.log.Info("feeding authorization data", "resource", gr.String(), "err", err)
			time.Sleep(time.Second)
			continue
		}
		seen := map[string]bool{}
		initial := true
		for ev := range w.Events() {
			switch ev.Type {
			case watch.Added, watch.Modified:
				set(ev.Entry.Obj)
				seen[ev.Entry.Key], known[ev.Entry.Key] = true, true
			case watch.Deleted:
				m, _ := meta.Accessor(ev.Entry.Obj)
				del(m.GetNamespace(), m.GetName())
				delete(known, ev.Entry.Key)
			case watch.Bookmark:
				if !ev.InitialEventsEnd || !initial {
					continue
				}
				initial = false
				for k := range known {
					if !seen[k] {
						// Gone while we were not watching.
						ns, name := splitKey(res.store.Key("", ""), k)
						del(ns, name)
						delete(known, k)
					}
				}
				if first {
					first = false
					close(synced)
				}
			}
			if !initial && changed != nil && ev.Type != watch.Bookmark {
				changed()
			}
		}
		w.Stop()
	}
}

// splitKey returns the namespace and name of a key under prefix.
func splitKey(prefix, key string) (string, string) {
	rest := key[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:]
		}
	}
	return "", rest
}

// startAuthFeeds starts feeding the RBAC policy and the node graph and
// waits until both hold the current state.
func (s *Server) startAuthFeeds(ctx context.Context) error {
	p, g := s.auth.policy, s.auth.graph
	rbacGroup := rbacv1.GroupName
	type src struct {
		gr      schema.GroupResource
		set     func(runtime.Object)
		del     func(ns, name string)
		changed func()
	}
	srcs := []src{
		{schema.GroupResource{Group: rbacGroup, Resource: "roles"}, func(o runtime.Object) { p.SetRole(o.(*rbacv1.Role)) }, p.DeleteRole, nil},
		{schema.GroupResource{Group: rbacGroup, Resource: "clusterroles"}, func(o runtime.Object) { p.SetClusterRole(o.(*rbacv1.ClusterRole)) },
			func(_, name string) { p.DeleteClusterRole(name) }, s.nudgeAggregation},
		{schema.GroupResource{Group: rbacGroup, Resource: "rolebindings"}, func(o runtime.Object) { p.SetRoleBinding(o.(*rbacv1.RoleBinding)) }, p.DeleteRoleBinding, nil},
		{schema.GroupResource{Group: rbacGroup, Resource: "clusterrolebindings"}, func(o runtime.Object) { p.SetClusterRoleBinding(o.(*rbacv1.ClusterRoleBinding)) },
			func(_, name string) { p.DeleteClusterRoleBinding(name) }, nil},
		{schema.GroupResource{Resource: "pods"}, func(o runtime.Object) { g.SetPod(o.(*corev1.Pod)) }, g.DeletePod, nil},
		{schema.GroupResource{Resource: "persistentvolumeclaims"}, func(o runtime.Object) { g.SetPVC(o.(*corev1.PersistentVolumeClaim)) }, g.DeletePVC, nil},
		{schema.GroupResource{Resource: "persistentvolumes"}, func(o runtime.Object) { g.SetPV(o.(*corev1.PersistentVolume)) },
			func(_, name string) { g.DeletePV(name) }, nil},
	}
	var synced []chan struct{}
	for _, sc := range srcs {
		ch := make(chan struct{})
		synced = append(synced, ch)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.feed(ctx, sc.gr, sc.set, sc.del, sc.changed, ch)
		}()
	}
	for _, ch := range synced {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.aggregateLoop(ctx)
	}()
	return nil
}

// nudgeAggregation asks the aggregation loop to run.
func (s *Server) nudgeAggregation() {
	select {
	case s.aggregate <- struct{}{}:
	default:
	}
}

// aggregateLoop recomputes ClusterRole aggregation after ClusterRole
// changes and writes back what changed, as Kubernetes'
// clusterrole-aggregation controller.
func (s *Server) aggregateLoop(ctx context.Context) {
	res := s.byGR[schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}]
	s.nudgeAggregation()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.aggregate:
		}
		// Let a burst of changes settle.
		time.Sleep(50 * time.Millisecond)
		out, err := rbac.Aggregate(s.auth.policy.ClusterRoles())
		if err != nil {
			s.log.Info("aggregating cluster roles", "err", err)
		}
		for _, cr := range out {
			_, _, err := res.store.Update(ctx, "", cr.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
				if cur == nil {
					return nil, apierrors.NewNotFound(res.info.GroupResource(), cr.Name)
				}
				c := cur.(*rbacv1.ClusterRole).DeepCopy()
				c.Rules = cr.Rules
				return c, nil
			}, rest.UpdateOptions{User: systemUser})
			if err != nil && !apierrors.IsNotFound(err) {
				s.log.Info("writing aggregated cluster role", "name", cr.Name, "err", err)
			}
		}
	}
}

// bootstrapPolicy creates or reconciles the default cluster roles and
// bindings.
func (s *Server) bootstrapPolicy(ctx context.Context) error {
	roles := s.byGR[schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}]
	for _, want := range bootstrappolicy.ClusterRoles() {
		var have *rbacv1.ClusterRole
		if e, err := roles.store.Get(ctx, "", want.Name, ""); err == nil {
			have = e.Obj.(*rbacv1.ClusterRole)
		}
		obj, action := bootstrappolicy.ReconcileClusterRole(have, want)
		if err := s.applyPolicy(ctx, roles, obj, action); err != nil {
			return err
		}
	}
	bindings := s.byGR[schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrolebindings"}]
	for _, want := range bootstrappolicy.ClusterRoleBindings() {
		var have *rbacv1.ClusterRoleBinding
		if e, err := bindings.store.Get(ctx, "", want.Name, ""); err == nil {
			have = e.Obj.(*rbacv1.ClusterRoleBinding)
		}
		obj, action := bootstrappolicy.ReconcileClusterRoleBinding(have, want)
		if err := s.applyPolicy(ctx, bindings, obj, action); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) applyPolicy(ctx context.Context, res *resource, obj runtime.Object, action bootstrappolicy.Action) error {
	m, _ := meta.Accessor(obj)
	name := m.GetName()
	var err error
	switch action {
	case bootstrappolicy.Keep:
		return nil
	case bootstrappolicy.Create:
		_, err = res.store.Create(ctx, obj, rest.CreateOptions{User: systemUser})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	case bootstrappolicy.Update:
		_, _, err = res.store.Update(ctx, "", name, func(context.Context, runtime.Object) (runtime.Object, error) {
			return obj.DeepCopyObject(), nil
		}, rest.UpdateOptions{User: systemUser})
	case bootstrappolicy.Recreate:
		if _, _, err = res.store.Delete(ctx, "", name, &metav1.DeleteOptions{}, false, systemUser); err == nil || apierrors.IsNotFound(err) {
			m.SetResourceVersion("")
			_, err = res.store.Create(ctx, obj, rest.CreateOptions{User: systemUser})
		}
	}
	if err != nil {
		return fmt.Errorf("reconciling %s %s: %w", res.info.Resource, name, err)
	}
	return nil
}

// rbacEscalation is the admission check that RBAC writes do not grant
// more than the writer holds.
type rbacEscalation struct{ s *Server }

func (rbacEscalation) Mutate(context.Context, *admission.Attributes) error { return nil }

func (e rbacEscalation) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.Group != rbacv1.GroupName || (a.Operation != admission.Create && a.Operation != admission.Update) || a.User == nil || a.User == systemUser {
		return nil
	}
	esc := e.s.auth.escalation
	switch o := a.Object.(type) {
	case *rbacv1.Role:
		return esc.CheckRole(ctx, a.User, o.Namespace, o.Name, o.Rules, false)
	case *rbacv1.ClusterRole:
		return esc.CheckRole(ctx, a.User, "", o.Name, o.Rules, o.AggregationRule != nil)
	case *rbacv1.RoleBinding:
		return esc.CheckBinding(ctx, a.User, o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return esc.CheckBinding(ctx, a.User, "", o.Name, o.RoleRef)
	}
	return nil
}
