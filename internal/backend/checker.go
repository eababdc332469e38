package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
	"github.com/respa-exchange/respa-exchange-operator/internal/respa"
)

// Checker checks a mailbox's endpoints with the real clients.
type Checker struct {
	Factory *Factory
	// Timeout bounds each check; default 20s.
	Timeout time.Duration
}

var _ controllers.EndpointChecker = (*Checker)(nil)

// CheckExchange gets the calendar folder of room (or of the account itself when no room uses
// the mailbox yet), which proves the endpoint, the credentials and, with a room, impersonation.
func (c *Checker) CheckExchange(ctx context.Context, mb *v1alpha1.ExchangeMailbox, creds *controllers.MailboxCredentials, room string) (string, error) {
	clients, err := c.Factory.For(mb, creds)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	version, err := clients.EWS.CheckAccess(ctx, room)
	if err != nil && room == "" {
		// Without a room, an account without a mailbox of its own (an application, say)
		// gets a SOAP error after authenticating: the credentials were accepted.
		var e *ews.Error
		if errors.As(err, &e) && !errors.Is(err, ews.ErrUnauthorized) && !ews.IsTemporary(err) && e.HTTPStatus < 500 {
			err = nil
		}
	}
	if err != nil {
		return version.String(), ExchangeError(err)
	}
	return version.String(), nil
}

// CheckRespa makes one authenticated Respa call.
func (c *Checker) CheckRespa(ctx context.Context, mb *v1alpha1.ExchangeMailbox, creds *controllers.MailboxCredentials) error {
	clients, err := c.Factory.For(mb, creds)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if err := clients.Respa.CheckAccess(ctx); err != nil {
		return RespaError(err)
	}
	return nil
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 20 * time.Second
}

// ExchangeError maps an EWS error to what the reconcilers do with it: credentials and
// permissions stall (a person must act), throttling waits, the rest is retried.
func ExchangeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ews.ErrUnauthorized):
		return &controllers.StallingError{Reason: v1alpha1.AuthenticationFailedReason, Err: fmt.Errorf("Exchange refused the credentials: %w", err)}
	case errors.Is(err, ews.ErrImpersonateUserDenied):
		return &controllers.StallingError{Reason: v1alpha1.ImpersonationDeniedReason, Err: err}
	case errors.Is(err, ews.ErrNonExistentMailbox):
		return &controllers.StallingError{Reason: v1alpha1.MailboxNotFoundInExchangeReason, Err: err}
	case errors.Is(err, ews.ErrServerBusy) || errors.Is(err, ews.ErrThrottled):
		return &controllers.WaitingError{Reason: v1alpha1.ThrottledReason, Err: err, RequeueAfter: max(ews.BackOffOf(err), 10*time.Second)}
	}
	return err
}

// RespaError maps a Respa client error the same way.
func RespaError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, respa.ErrUnauthorized), errors.Is(err, respa.ErrForbidden):
		return &controllers.StallingError{Reason: v1alpha1.AuthenticationFailedReason, Err: err}
	case errors.Is(err, respa.ErrNotFound):
		return &controllers.StallingError{Reason: v1alpha1.UnreachableReason, Err: fmt.Errorf("the URL does not look like a Respa API root: %w", err)}
	}
	return err
}
