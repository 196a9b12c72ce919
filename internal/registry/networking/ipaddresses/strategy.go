// Package ipaddresses is the strategy for networking.k8s.io/v1 ipaddresses:
// the cluster IPs the API server has allocated to Services, one object per
// address (name: the address; spec.parentRef: the Service). They are the
// allocator's own records, so clients may read and delete them (deleting
// one frees its address: the cluster-IP repair controller frees leaked
// ones) but only the API server creates them. Imported by the API server.
package ipaddresses

import (
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Labels the allocator puts on the IPAddresses it creates, as Kubernetes'
// allocator does.
const (
	LabelIPFamily  = "ipaddress.kubernetes.io/ip-family"
	LabelManagedBy = "ipaddress.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "ipallocator.k8s.io"
)

// Strategy is the ipaddresses strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Checks: registry.TypedChecks(validation.ValidateIPAddress, validation.ValidateIPAddressUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
	_ registry.Verber   = (*Strategy)(nil)
	_ registry.Tabler   = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "networking.k8s.io", Version: "v1", Resource: "ipaddresses", Kind: "IPAddress", ShortNames: []string{"ip"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &networkingv1.IPAddress{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &networkingv1.IPAddressList{} }

// Verbs implements registry.Verber: read and delete only.
func (*Strategy) Verbs() []string {
	return []string{"delete", "deletecollection", "get", "list", "watch"}
}

// Table implements registry.Tabler with Kubernetes' columns.
func (*Strategy) Table(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	ip := obj.(*networkingv1.IPAddress)
	parent := ""
	if ref := ip.Spec.ParentRef; ref != nil {
		parent = strings.ToLower(ref.Resource)
		if ref.Group != "" {
			parent += "." + ref.Group
		}
		parent += "/"
		if ref.Namespace != "" {
			parent += ref.Namespace + "/"
		}
		parent += ref.Name
	}
	age := "<unknown>"
	if !ip.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(now.Sub(ip.CreationTimestamp.Time))
	}
	return &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "ParentRef", Type: "string", Description: networkingv1.IPAddressSpec{}.SwaggerDoc()["parentRef"]},
			{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		},
		Rows: []metav1.TableRow{{Cells: []any{ip.Name, parent, age}}},
	}, nil
}
