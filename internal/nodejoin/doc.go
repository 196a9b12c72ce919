// Package nodejoin is how an agent joins a cluster with a join token and
// gets its own credentials, in the k3s manner rather than Kubernetes' TLS
// bootstrapping (no CertificateSigningRequest objects, no approver):
//
//  1. An administrator creates a join token, `podvisor token create`: a
//     bootstrap-token Secret in kube-system (token "<id>.<secret>"),
//     optionally bound to one node name.
//  2. The agent, which does not trust the server yet, asks
//     GET /podvisor/v1/cluster-ca?token-id=<id> (anonymous, TLS not
//     verified) and receives the cluster CA with an HMAC-SHA256 of it
//     keyed by the token's secret. Only the server, which holds the
//     token's Secret, can compute it; the secret itself never crossed
//     the wire. The agent verifies the HMAC and pins the CA.
//  3. Over TLS verified with that CA, the agent sends
//     POST /podvisor/v1/node-credentials with the token as a bearer token
//     and two certificate requests for keys it generated itself: a
//     client certificate (CN system:node:<name>, O system:nodes) and a
//     kubelet serving certificate (its addresses as SANs). The server
//     authenticates the token through the TokenReview API (a token bound
//     to a node must name that node; an unbound one may join any name),
//     signs both with the cluster CA, and returns them.
//  4. The agent keeps key, certificates and CA under <data-dir>/pki and
//     uses its client certificate from then on; the token is only needed
//     again when the certificate nears its end. A node already holding a
//     valid client certificate may renew with it instead of a token.
//
// The server side (Handler) is mounted by internal/server in front of the
// API server; the client side (Join, Load) is used by internal/agent.
// Importers: internal/server, internal/agent, tests.
package nodejoin
