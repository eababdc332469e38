package respa

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors for the outcomes a caller acts on. Use errors.Is.
var (
	// ErrUnauthorized: Respa answered 401, the token is wrong or expired.
	ErrUnauthorized = errors.New("respa rejected the credentials")
	// ErrForbidden: Respa answered 403, the token's user lacks a permission.
	ErrForbidden = errors.New("respa denied permission")
	// ErrNotFound: Respa answered 404, or the object is hidden from the user.
	ErrNotFound = errors.New("respa object not found")
	// ErrUnavailable: Respa could not be reached or answered 5xx/429, also
	// after retries. The caller should try again later; nothing is known
	// about the data.
	ErrUnavailable = errors.New("respa unavailable")
	// ErrListingChanged: reservations moved between pages while listing
	// and repeated tries did not give a consistent listing. The result must
	// not be taken as complete.
	ErrListingChanged = errors.New("respa listing changed while paging")
)

// APIError is a non-2xx answer other than a 400 rejection. It unwraps to
// one of the sentinel errors above by status code.
type APIError struct {
	Method     string
	Path       string // URL path without host, query or credentials
	StatusCode int
	// Detail is Respa's {"detail": ...} message, or the start of a
	// non-JSON body, with the token scrubbed.
	Detail string
	kind   error
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("respa %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap gives the sentinel for the status code, if any.
func (e *APIError) Unwrap() error { return e.kind }

// TransportError is a failure to get any answer (connection refused,
// timeout). It unwraps to ErrUnavailable and the underlying cause.
type TransportError struct {
	Method string
	Path   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("respa %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns ErrUnavailable and the cause.
func (e *TransportError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Rejection is Respa's 400 answer to one item: its own validation
// messages, by field and for the object as a whole (non_field_errors).
// It is a per-item outcome (overlap, past time, ...), not a failure of the
// connection or the credentials.
type Rejection struct {
	Method string
	Path   string
	// Fields holds per-field messages, e.g. {"comments": ["Only allowed to be set by staff members"]}.
	Fields map[string][]string
	// NonField holds object-level messages such as the overlap message.
	NonField []string
	// Detail is set when Respa answered {"detail": ...} with status 400
	// (a malformed filter, for example).
	Detail string
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("respa %s %s rejected: %s", r.Method, r.Path, r.Message())
}

// Message joins Respa's messages into one line: non-field messages first,
// then "field: message" pairs in field order.
func (r *Rejection) Message() string {
	var parts []string
	if r.Detail != "" {
		parts = append(parts, r.Detail)
	}
	parts = append(parts, r.NonField...)
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, m := range r.Fields[k] {
			parts = append(parts, k+": "+m)
		}
	}
	if len(parts) == 0 {
		return "invalid request"
	}
	return strings.Join(parts, "; ")
}

// Messages known from Respa's source, for callers that classify rejections.
const (
	MessageOverlap        = "The resource is already reserved for some of the period"
	MessagePast           = "You cannot make a reservation in the past"
	MessageEndBeforeBegin = "You must end the reservation after it has begun"
	MessageMinLength      = "The minimum reservation length is"
	MessageMaxLength      = "The maximum reservation length is"
)

// Has reports whether any non-field message starts with prefix (one of
// the Message constants).
func (r *Rejection) Has(prefix string) bool {
	for _, m := range r.NonField {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// Overlap reports Respa's "already reserved" refusal.
func (r *Rejection) Overlap() bool { return r.Has(MessageOverlap) }

// InPast reports Respa's refusal of a reservation that ends in the past.
func (r *Rejection) InPast() bool { return r.Has(MessagePast) }

// unwrapDjangoRepr undoes the "['message']" form Respa produces for
// errors raised by Reservation.clean() (see the package doc), so callers
// see Respa's message itself.
func unwrapDjangoRepr(m string) []string {
	if len(m) < 4 || !strings.HasPrefix(m, "['") || !strings.HasSuffix(m, "']") {
		if strings.HasPrefix(m, `["`) && strings.HasSuffix(m, `"]`) && len(m) >= 4 {
			return []string{m[2 : len(m)-2]}
		}
		return []string{m}
	}
	inner := m[2 : len(m)-2]
	return strings.Split(inner, "', '")
}
