package ews

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Response codes the rest of the operator branches on. The names are the
// server's own, so an error printed to a person says what Exchange said.
const (
	CodeItemNotFound                 = "ErrorItemNotFound"
	CodeIrresolvableConflict         = "ErrorIrresolvableConflict"
	CodeChangeKeyRequired            = "ErrorChangeKeyRequiredForWriteOperations"
	CodeStaleObject                  = "ErrorStaleObject"
	CodeInvalidChangeKey             = "ErrorInvalidChangeKey"
	CodeServerBusy                   = "ErrorServerBusy"
	CodeImpersonateUserDenied        = "ErrorImpersonateUserDenied"
	CodeImpersonationFailed          = "ErrorImpersonationFailed"
	CodeNonExistentMailbox           = "ErrorNonExistentMailbox"
	CodeSchemaValidation             = "ErrorSchemaValidation"
	CodeInternalServerError          = "ErrorInternalServerError"
	CodeInternalServerTransientError = "ErrorInternalServerTransientError"
	CodeInvalidSubscription          = "ErrorInvalidSubscription"
	CodeSubscriptionNotFound         = "ErrorSubscriptionNotFound"
	CodeExpiredSubscription          = "ErrorExpiredSubscription"
	CodeTimeoutExpired               = "ErrorTimeoutExpired"
	CodeTooManyObjectsOpened         = "ErrorTooManyObjectsOpened"
	CodeExceededConnectionCount      = "ErrorExceededConnectionCount"
	CodeInvalidSyncStateData         = "ErrorInvalidSyncStateData"
	CodeNameResolutionNoResults      = "ErrorNameResolutionNoResults"
	CodeAccessDenied                 = "ErrorAccessDenied"
	CodeCalendarViewRangeTooBig      = "ErrorCalendarViewRangeTooBig"
	CodeExceededFindCountLimit       = "ErrorExceededFindCountLimit"
	CodeSubscriptionDelegateAccess   = "ErrorSubscriptionDelegateAccessNotSupported"

	// Codes for failures that never reach a SOAP body; they are ours, not
	// Exchange's, and are prefixed so they cannot collide with a server code.
	CodeUnauthorized  = "HTTPUnauthorized"
	CodeForbidden     = "HTTPForbidden"
	CodeHTTPThrottled = "HTTPThrottled"
	CodeHTTPError     = "HTTPError"
	CodeBadResponse   = "BadResponse"
	CodeViewTruncated = "CalendarViewTruncated"
)

// Error is every failure Exchange reports, whether as a SOAP fault, an HTTP
// status or a per-item ResponseMessage. Code is the server's ResponseCode so
// callers can branch on it with errors.Is against the sentinels below or
// with IsCode.
type Error struct {
	// Op is the EWS operation, e.g. "FindItem".
	Op string
	// Code is the EWS ResponseCode or fault code, or one of the HTTP* codes.
	Code string
	// Message is the server's own words (MessageText or faultstring).
	Message string
	// HTTPStatus is the HTTP status of the response that carried the error.
	HTTPStatus int
	// Fault is true when the error came as a SOAP fault rather than a
	// per-item ResponseMessage.
	Fault bool
	// BackOff is how long the server asked us to wait (BackOffMilliseconds
	// or Retry-After); zero when it did not say.
	BackOff time.Duration
	// InnerCode and InnerMessage carry ErrorInternalServerError's inner
	// error (MessageXml InnerErrorResponseCode / InnerErrorMessageText).
	InnerCode    string
	InnerMessage string
	// Line, Position and Violation locate an ErrorSchemaValidation.
	Line, Position int
	Violation      string
	// Values holds the other MessageXml name/value pairs (MailboxGuid,
	// SmtpAddress, PolicyLimit...).
	Values map[string]string
	// SubscriptionIDs names the subscriptions a streaming error is about.
	SubscriptionIDs []string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.InnerCode != "" {
		fmt.Fprintf(&b, " (inner %s", e.InnerCode)
		if e.InnerMessage != "" {
			b.WriteString(": ")
			b.WriteString(e.InnerMessage)
		}
		b.WriteString(")")
	}
	if e.Violation != "" {
		fmt.Fprintf(&b, " (line %d, position %d: %s)", e.Line, e.Position, e.Violation)
	}
	if e.BackOff > 0 {
		fmt.Fprintf(&b, " (back off %s)", e.BackOff)
	}
	return b.String()
}

// Is lets errors.Is match an *Error against a sentinel by code. The inner
// code of ErrorInternalServerError counts too, because Exchange wraps
// ErrorServerBusy that way. ErrConflict matches every ChangeKey failure.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == ErrConflict {
		return isConflictCode(e.Code)
	}
	return t.Code != "" && (t.Code == e.Code || t.Code == e.InnerCode)
}

// Temporary reports whether trying the same call again later may succeed.
func (e *Error) Temporary() bool {
	switch e.Code {
	case CodeServerBusy, CodeTooManyObjectsOpened, CodeInternalServerTransientError,
		CodeTimeoutExpired, CodeExceededConnectionCount, CodeHTTPThrottled:
		return true
	case CodeInternalServerError:
		switch e.InnerCode {
		case CodeServerBusy, CodeTooManyObjectsOpened, CodeInternalServerTransientError, CodeTimeoutExpired:
			return true
		}
	case CodeHTTPError:
		return e.HTTPStatus == 502 || e.HTTPStatus == 504
	}
	return false
}

func isConflictCode(code string) bool {
	switch code {
	case CodeIrresolvableConflict, CodeChangeKeyRequired, CodeStaleObject, CodeInvalidChangeKey:
		return true
	}
	return false
}

// Sentinels for errors.Is. They match any *Error with the same code.
var (
	ErrItemNotFound          = &Error{Code: CodeItemNotFound}
	ErrServerBusy            = &Error{Code: CodeServerBusy}
	ErrImpersonateUserDenied = &Error{Code: CodeImpersonateUserDenied}
	ErrNonExistentMailbox    = &Error{Code: CodeNonExistentMailbox}
	ErrSchemaValidation      = &Error{Code: CodeSchemaValidation}
	ErrInternalServerError   = &Error{Code: CodeInternalServerError}
	ErrInvalidSubscription   = &Error{Code: CodeInvalidSubscription}
	ErrSubscriptionNotFound  = &Error{Code: CodeSubscriptionNotFound}
	ErrInvalidSyncStateData  = &Error{Code: CodeInvalidSyncStateData}
	ErrUnauthorized          = &Error{Code: CodeUnauthorized}
	ErrThrottled             = &Error{Code: CodeHTTPThrottled}
	ErrViewTruncated         = &Error{Code: CodeViewTruncated}
	// ErrConflict matches ErrorIrresolvableConflict and the ChangeKey
	// errors: the item changed since we read it, so read it again.
	ErrConflict = &Error{Code: "conflict"}
)

// IsCode reports whether err is, or wraps, an *Error with the given code
// (or inner code).
func IsCode(err error, code string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == code || e.InnerCode == code
}

// IsTemporary reports whether err is an EWS error worth retrying later.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}

// BackOffOf returns the wait the server asked for, if err carries one.
func BackOffOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.BackOff
	}
	return 0
}

// scrubbedError replaces an error from below us (transport, OAuth token
// endpoint) whose text may contain a secret. The context errors stay
// reachable so deadlines can still be told apart.
type scrubbedError struct {
	msg       string
	cause     error
	transport bool
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }
