package podautoscaler

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

func (c *Controller) historyOf(key string) *scaleHistory {
	h := c.history[key]
	if h == nil {
		h = &scaleHistory{}
		c.history[key] = h
	}
	return h
}

// normalize applies the rules without spec.behavior: scale-down takes the
// highest recommendation of the stabilization window, scale-up is limited
// to max(2*current, 4), and min/max bound the result.
func (c *Controller) normalize(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposal, minReplicas int32) int32 {
	now := c.clock.Now()
	c.mu.Lock()
	h := c.historyOf(key)
	stabilized := proposal
	var keep []timedValue
	for _, r := range h.recommendations {
		if now.Sub(r.at) <= c.cfg.DownscaleStabilization {
			keep = append(keep, r)
			stabilized = max(stabilized, r.value)
		}
	}
	h.recommendations = append(keep, timedValue{now, proposal})
	c.mu.Unlock()
	if stabilized != proposal {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	} else {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	maxAllowed := hpa.Spec.MaxReplicas
	limitReason, limitMsg := "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	if up := max(2*current, 4); hpa.Spec.MaxReplicas > up {
		maxAllowed = up
		limitReason, limitMsg = "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
	}
	desired := stabilized
	switch {
	case desired < minReplicas:
		desired = minReplicas
		limitReason, limitMsg = "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	case desired > maxAllowed:
		desired = maxAllowed
	default:
		limitReason, limitMsg = "DesiredWithinRange", "the desired count is within the acceptable range"
	}
	status := corev1.ConditionFalse
	if desired != stabilized {
		status = corev1.ConditionTrue
	}
	c.setCondition(hpa, autoscalingv2.ScalingLimited, status, limitReason, "%s", limitMsg)
	return desired
}

// normalizeWithBehavior applies spec.behavior: each direction's
// stabilization window, then its rate policies over the recent scale
// events, then min/max.
func (c *Controller) normalizeWithBehavior(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposal, minReplicas int32) int32 {
	b := hpa.Spec.Behavior
	up, down := rulesOrDefault(b.ScaleUp, true, c.cfg.DownscaleStabilization), rulesOrDefault(b.ScaleDown, false, c.cfg.DownscaleStabilization)
	now := c.clock.Now()
	c.mu.Lock()
	h := c.historyOf(key)
	upRec, downRec := proposal, proposal
	upWin := time.Duration(*up.StabilizationWindowSeconds) * time.Second
	downWin := time.Duration(*down.StabilizationWindowSeconds) * time.Second
	var keep []timedValue
	for _, r := range h.recommendations {
		age := now.Sub(r.at)
		if age <= upWin {
			upRec = min(upRec, r.value)
		}
		if age <= downWin {
			downRec = max(downRec, r.value)
		}
		if age <= max(upWin, downWin) {
			keep = append(keep, r)
		}
	}
	h.recommendations = append(keep, timedValue{now, proposal})
	stabilized := current
	if stabilized < upRec {
		stabilized = upRec
	}
	if stabilized > downRec {
		stabilized = downRec
	}
	upEvents, downEvents := h.up, h.down
	c.mu.Unlock()

	switch {
	case stabilized > proposal:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	case stabilized < proposal:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation")
	default:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}

	desired := stabilized
	reason, msg := "DesiredWithinRange", "the desired count is within the acceptable range"
	switch {
	case desired > current:
		limit := max(scaleUpLimit(current, upEvents, downEvents, up, now), current)
		maxAllowed := min(limit, hpa.Spec.MaxReplicas)
		if desired > maxAllowed {
			desired = maxAllowed
			reason, msg = "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
			if maxAllowed == hpa.Spec.MaxReplicas {
				reason, msg = "TooManyReplicas", "the desired replica count is more than the maximum replica count"
			}
		}
	case desired < current:
		limit := min(scaleDownLimit(current, upEvents, downEvents, down, now), current)
		minAllowed := max(limit, minReplicas)
		if desired < minAllowed {
			desired = minAllowed
			reason, msg = "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
			if minAllowed == minReplicas {
				reason, msg = "TooFewReplicas", "the desired replica count is less than the minimum replica count"
			}
		}
	}
	if desired > hpa.Spec.MaxReplicas {
		desired, reason, msg = hpa.Spec.MaxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	}
	if desired < minReplicas {
		desired, reason, msg = minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	}
	status := corev1.ConditionFalse
	if desired != stabilized {
		status = corev1.ConditionTrue
	}
	c.setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, "%s", msg)
	return desired
}

// rulesOrDefault fills the Kubernetes defaults of a direction's rules:
// scale-up at most +100% or +4 pods per 15s (the larger) with no
// stabilization; scale-down at most -100% per 15s after the default
// stabilization.
func rulesOrDefault(r *autoscalingv2.HPAScalingRules, up bool, downWindow time.Duration) *autoscalingv2.HPAScalingRules {
	out := &autoscalingv2.HPAScalingRules{}
	if r != nil {
		out = r.DeepCopy()
	}
	if out.StabilizationWindowSeconds == nil {
		w := int32(0)
		if !up {
			w = int32(downWindow / time.Second)
		}
		out.StabilizationWindowSeconds = &w
	}
	if out.SelectPolicy == nil {
		p := autoscalingv2.MaxChangePolicySelect
		out.SelectPolicy = &p
	}
	if len(out.Policies) == 0 {
		out.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
		if up {
			out.Policies = append(out.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15})
		}
	}
	return out
}

// changeIn sums the changes of events within period before now.
func changeIn(events []timedValue, period time.Duration, now time.Time) int32 {
	var n int32
	for _, e := range events {
		if now.Sub(e.at) <= period {
			n += e.value
		}
	}
	return n
}

// scaleUpLimit is the most replicas the policies allow now. Each policy
// counts from the replicas at the start of its period.
func scaleUpLimit(current int32, up, down []timedValue, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick := func(a, b int32) int32 { return max(a, b) }
	result := int32(math.MinInt32)
	if *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick = func(a, b int32) int32 { return min(a, b) }
		result = math.MaxInt32
	}
	for _, p := range rules.Policies {
		period := time.Duration(p.PeriodSeconds) * time.Second
		start := current - changeIn(up, period, now) + changeIn(down, period, now)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the policies allow now.
func scaleDownLimit(current int32, up, down []timedValue, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick := func(a, b int32) int32 { return min(a, b) }
	result := int32(math.MaxInt32)
	if *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick = func(a, b int32) int32 { return max(a, b) }
		result = math.MinInt32
	}
	for _, p := range rules.Policies {
		period := time.Duration(p.PeriodSeconds) * time.Second
		start := current - changeIn(up, period, now) + changeIn(down, period, now)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// recordScaleEvent remembers a rescale for the rate policies, dropping
// events older than the longest policy period.
func (c *Controller) recordScaleEvent(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, from, to int32) {
	now := c.clock.Now()
	longest := 15 * time.Second
	if b != nil {
		for _, r := range []*autoscalingv2.HPAScalingRules{b.ScaleUp, b.ScaleDown} {
			if r == nil {
				continue
			}
			for _, p := range r.Policies {
				longest = max(longest, time.Duration(p.PeriodSeconds)*time.Second)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.historyOf(key)
	prune := func(ev []timedValue) []timedValue {
		var keep []timedValue
		for _, e := range ev {
			if now.Sub(e.at) <= longest {
				keep = append(keep, e)
			}
		}
		return keep
	}
	h.up, h.down = prune(h.up), prune(h.down)
	if to > from {
		h.up = append(h.up, timedValue{now, to - from})
	} else if to < from {
		h.down = append(h.down, timedValue{now, from - to})
	}
}
