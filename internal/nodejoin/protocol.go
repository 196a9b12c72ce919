package nodejoin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Paths of the join endpoints on the API server's port.
const (
	PathCA          = "/podvisor/v1/cluster-ca"
	PathCredentials = "/podvisor/v1/node-credentials"
)

// Identity of nodes, as the node authorizer knows them.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
	// BootstrappersGroup holds users of join tokens not bound to a node.
	BootstrappersGroup = "system:bootstrappers"
)

// CAResponse answers GET PathCA.
type CAResponse struct {
	// CA is the cluster CA certificate, PEM.
	CA string `json:"ca"`
	// Signature is hex(HMAC-SHA256(key=token secret, CA)).
	Signature string `json:"signature"`
}

// CredentialsRequest is the body of POST PathCredentials.
type CredentialsRequest struct {
	// NodeName is the node the certificates are for.
	NodeName string `json:"nodeName"`
	// ClientCSR and ServingCSR are PEM certificate requests for the
	// node's client and kubelet serving keys.
	ClientCSR  string `json:"clientCSR"`
	ServingCSR string `json:"servingCSR"`
}

// CredentialsResponse answers POST PathCredentials.
type CredentialsResponse struct {
	CA          string `json:"ca"`
	ClientCert  string `json:"clientCert"`
	ServingCert string `json:"servingCert"`
}

// Sign returns hex(HMAC-SHA256(secret, data)).
func Sign(secret string, data []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Sign signature in constant time.
func Verify(secret string, data []byte, sig string) bool {
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(data)
	return hmac.Equal(m.Sum(nil), want)
}
