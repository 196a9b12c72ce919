package serviceaccount

import (
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// privateClaims is the "kubernetes.io" claim of a bound token, with
// Kubernetes' JSON names.
type privateClaims struct {
	Kubernetes kubernetesClaim `json:"kubernetes.io,omitempty"`
}

type kubernetesClaim struct {
	Namespace      string           `json:"namespace,omitempty"`
	ServiceAccount ref              `json:"serviceaccount,omitempty"`
	Pod            *ref             `json:"pod,omitempty"`
	Secret         *ref             `json:"secret,omitempty"`
	Node           *ref             `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// metaTime is the deletion time of an object, if it is being deleted.
type metaTime = time.Time

// deletionTime returns ts as a *time.Time (nil when not being deleted).
func deletionTime(ts *metav1.Time) *metaTime {
	if ts == nil {
		return nil
	}
	return &ts.Time
}
