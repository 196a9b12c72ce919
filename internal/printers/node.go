package printers

import (
	"time"

	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func runtimeClassColumns() []metav1.TableColumnDefinition {
	// Kubernetes looks the Handler description up in ObjectMeta's docs,
	// which have none; the column has no description there either.
	return []metav1.TableColumnDefinition{nameColumn(), column("Handler", "string", metaDoc("handler")), ageColumn()}
}

func runtimeClassRow(rc *nodev1.RuntimeClass, now time.Time) metav1.TableRow {
	return cells(rc.Name, rc.Handler, age(rc.CreationTimestamp, now))
}
