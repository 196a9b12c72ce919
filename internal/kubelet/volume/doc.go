// Package volume sets up a pod's volumes on the node for the kubelet:
// emptyDir (a directory, or a tmpfs for medium Memory with its sizeLimit),
// hostPath (with its type checks), configMap, secret (on a tmpfs),
// downwardAPI and projected volumes (service-account tokens from the
// TokenRequest API, refreshed at 80% of their lifetime; configMaps,
// secrets and downward API items), and persistentVolumeClaim for hostPath
// and local PersistentVolumes, whose data lives outside the pod and
// outlives it.
//
// Files of configMap, secret, downwardAPI and projected volumes are
// written atomically (Kubernetes' layout: a timestamped directory, a
// "..data" symlink swapped by rename, and one visible symlink per
// top-level entry), so containers never see a half-updated volume, and
// Setup refreshes them when the objects change.
//
// Layout, under Config.PodsDir:
//
//	<pod uid>/volumes/<kind>/<volume name>
//
// where kind is kubernetes.io~empty-dir, ~configmap, ~secret,
// ~downward-api or ~projected. hostPath and persistent volumes are used in
// place and never removed by Teardown.
//
// Only the kubelet and tests import it.
package volume
