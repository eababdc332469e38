package controllers

import (
	"errors"
	"fmt"
	"time"
)

// StallingError is a failure that retrying cannot fix: a person has to change a Secret, the
// spec or the other system first. The object is marked Stalled and is not retried until it
// or something it watches changes.
type StallingError struct {
	Reason string
	Err    error
}

func (e *StallingError) Error() string { return e.Err.Error() }
func (e *StallingError) Unwrap() error { return e.Err }

// WaitingError is a failure that resolves itself with time: a mailbox that is not ready yet,
// a server that asked us to back off. The object is requeued after RequeueAfter without
// counting as an error.
type WaitingError struct {
	Reason       string
	Err          error
	RequeueAfter time.Duration
}

func (e *WaitingError) Error() string { return e.Err.Error() }
func (e *WaitingError) Unwrap() error { return e.Err }

func stalling(reason, format string, args ...any) error {
	return &StallingError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func waiting(reason string, after time.Duration, format string, args ...any) error {
	return &WaitingError{Reason: reason, RequeueAfter: after, Err: fmt.Errorf(format, args...)}
}

// outcome is what a reconciler does with the error of a pass.
type outcome struct {
	// reason and message go into the Ready condition when err is not nil.
	reason, message string
	// stalled marks the object Stalled.
	stalled bool
	// requeueAfter is set for waiting errors.
	requeueAfter time.Duration
	// retErr is returned to controller-runtime, which retries it with backoff.
	retErr error
}

// classify is the one place that maps an error to what happens next.
func classify(err error, genericReason string) outcome {
	if err == nil {
		return outcome{}
	}
	var s *StallingError
	if errors.As(err, &s) {
		return outcome{reason: s.Reason, message: scrub(s.Error()), stalled: true}
	}
	var w *WaitingError
	if errors.As(err, &w) {
		return outcome{reason: w.Reason, message: scrub(w.Error()), requeueAfter: w.RequeueAfter}
	}
	return outcome{reason: genericReason, message: scrub(err.Error()), retErr: err}
}
