package reconcile

import (
	"log/slog"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Deps are the collaborators the controller manager hands every
// controller's constructor (`New(Config, reconcile.Deps)`). All fields are
// required. The informer factory is shared by all controllers: a
// constructor registers the informers it needs (by asking the factory for
// them) and the manager starts the factory after every constructor ran.
type Deps struct {
	// Client writes through the API server under the controller's own
	// identity (user agent, and credentials if the manager has them).
	Client kubernetes.Interface
	// Informers is the manager's one shared informer factory.
	Informers informers.SharedInformerFactory
	// Recorder records events as the controller's component.
	Recorder record.EventRecorder
	// Log is the controller's logger.
	Log *slog.Logger
	// Clock is the time source for everything time-driven (deadlines,
	// availability, back-off); tests inject a fake.
	Clock clock.WithTicker
}
