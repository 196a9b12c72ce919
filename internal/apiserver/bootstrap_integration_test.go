//go:build integration

package apiserver_test

import (
	"context"
	"strconv"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestKubernetesEndpointSlice checks that the kubernetes Service has an
// EndpointSlice with the server's address and port, as its Endpoints do.
// The advertise address is a documentation address (a loopback one gets
// no endpoints): nothing connects to it.
func TestKubernetesEndpointSlice(t *testing.T) {
	s := servertest.Start(t, server.Config{AdvertiseAddress: "192.0.2.10"})
	ctx := context.Background()
	es, err := s.Client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := es.Labels[discoveryv1.LabelServiceName]; got != "kubernetes" {
		t.Errorf("service-name label: got %q, want kubernetes", got)
	}
	if len(es.Endpoints) != 1 || len(es.Endpoints[0].Addresses) != 1 || len(es.Ports) != 1 || es.Ports[0].Port == nil {
		t.Fatalf("slice: got endpoints %+v ports %+v, want one address and one port", es.Endpoints, es.Ports)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || len(ep.Subsets[0].Ports) != 1 {
		t.Fatalf("endpoints: got %+v, want one address and port", ep.Subsets)
	}
	gotAddr := es.Endpoints[0].Addresses[0] + ":" + strconv.Itoa(int(*es.Ports[0].Port))
	wantAddr := ep.Subsets[0].Addresses[0].IP + ":" + strconv.Itoa(int(ep.Subsets[0].Ports[0].Port))
	if gotAddr != wantAddr {
		t.Errorf("slice address: got %s, want %s (the Endpoints')", gotAddr, wantAddr)
	}
	if r := es.Endpoints[0].Conditions.Ready; r == nil || !*r {
		t.Errorf("slice endpoint ready: got %v, want true", r)
	}
}
