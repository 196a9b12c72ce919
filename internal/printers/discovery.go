package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// listWithMore joins up to max items and says how many more there are; an
// empty list is "<unset>".
func listWithMore(list []string, count, max int) string {
	s := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	if s == "" {
		return "<unset>"
	}
	return s
}

func endpointSliceColumns() []metav1.TableColumnDefinition {
	doc := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("AddressType", "string", doc["addressType"]),
		column("Ports", "string", doc["ports"]),
		column("Endpoints", "string", doc["endpoints"]),
		ageColumn(),
	}
}

func endpointSliceRow(s *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
	const max = 3
	var ports []string
	for _, p := range s.Ports {
		if len(ports) == max {
			break
		}
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	count := 0
	for _, e := range s.Endpoints {
		for _, a := range e.Addresses {
			if len(addrs) < max {
				addrs = append(addrs, a)
			}
			count++
		}
	}
	return cells(s.Name, string(s.AddressType), listWithMore(ports, len(s.Ports), max), listWithMore(addrs, count, max), age(s.CreationTimestamp, now))
}
