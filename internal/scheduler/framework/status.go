package framework

import (
	"errors"
	"fmt"
	"strings"
)

// Code is the outcome class of a plugin call.
type Code int

// The codes a plugin may return. A nil *Status means Success.
const (
	// Success: the plugin accepts the pod (or node).
	Success Code = iota
	// Error: an internal error; the pod is retried with back-off and the
	// error is not shown as a scheduling reason.
	Error
	// Unschedulable: the pod does not fit here now, but preemption (or a
	// change in the cluster) may make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: the pod does not fit here and
	// preempting pods on this node would not help.
	UnschedulableAndUnresolvable
	// Wait: a Permit plugin asks the binding cycle to wait for its
	// approval.
	Wait
	// Skip: from PreFilter or PreScore, the plugin has nothing to do for
	// this pod and its Filter or Score is not called; from Bind, the
	// plugin does not bind this pod and the next binder is tried.
	Skip
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is the result of a plugin call: a code, human-readable reasons
// (shown in FailedScheduling messages, one count per reason), the
// underlying error for Code Error, and the plugin that produced it. A nil
// *Status is Success; every method is safe on nil.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps err as a Status with code Error; nil gives nil.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons returns the reasons; nil for nil.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin returns the name of the plugin that produced the status, if the
// framework recorded it.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the producing plugin and returns s.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// AppendReason adds a reason.
func (s *Status) AppendReason(r string) {
	if s != nil {
		s.reasons = append(s.reasons, r)
	}
}

// IsSuccess reports whether the code is Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsWait reports whether the code is Wait.
func (s *Status) IsWait() bool { return s.Code() == Wait }

// IsSkip reports whether the code is Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports whether the pod was rejected as unschedulable
// (Unschedulable or UnschedulableAndUnresolvable).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// AsError returns nil for Success and Skip, the wrapped error for Error,
// and otherwise an error carrying the message.
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Err returns the error wrapped by AsStatus, if any.
func (s *Status) Err() error {
	if s == nil {
		return nil
	}
	return s.err
}

// Equal reports whether two statuses have the same code, reasons and
// plugin (errors compare by message); for tests.
func (s *Status) Equal(o *Status) bool {
	if s == nil || o == nil {
		return s.IsSuccess() && o.IsSuccess()
	}
	if s.code != o.code || s.plugin != o.plugin || len(s.reasons) != len(o.reasons) {
		return false
	}
	for i := range s.reasons {
		if s.reasons[i] != o.reasons[i] {
			return false
		}
	}
	return true
}

func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	var b strings.Builder
	b.WriteString(s.code.String())
	if s.plugin != "" {
		fmt.Fprintf(&b, " (%s)", s.plugin)
	}
	if len(s.reasons) > 0 {
		fmt.Fprintf(&b, ": %s", s.Message())
	}
	return b.String()
}
