package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
)

// apply serves a server-side apply patch. Server-side apply needs field
// ownership tracking (managedFields) that is not built yet: it answers
// 415 so that kubectl says so.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource, t codec.Target, uo rest.UpdateOptions) {
	s.writeError(w, r, newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		"server-side apply (application/apply-patch+yaml) is not supported by this server yet; use client-side kubectl apply"))
}
