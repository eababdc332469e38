package ews_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/ews"
)

// A reconciler checks the endpoint and credentials of an ExchangeMailbox,
// then reads a room's window and writes back per-item outcomes.
func Example() {
	ctx := context.Background()
	c, err := ews.New(ews.Config{
		URL: "https://outlook.office365.com/EWS/Exchange.asmx",
		Auth: ews.OAuth2ClientCredentials{
			TokenURL:     ews.EntraTokenURL("contoso.onmicrosoft.com"),
			ClientID:     "app-id",
			ClientSecret: "from a Secret",
		},
	})
	if err != nil {
		return
	}
	version, err := c.CheckAccess(ctx, "room1@contoso.com")
	switch {
	case errors.Is(err, ews.ErrUnauthorized), errors.Is(err, ews.ErrImpersonateUserDenied):
		fmt.Println("CredentialsValid=False:", err) // the server's own words
		return
	case err != nil:
		fmt.Println("ExchangeReachable=False:", err)
		return
	}
	fmt.Println("server", version)

	now := time.Now()
	items, err := c.FindCalendarView(ctx, "room1@contoso.com", now, now.AddDate(0, 0, 365))
	if err != nil {
		return
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ItemID
	}
	full, itemErrs, err := c.GetCalendarItems(ctx, "room1@contoso.com", ids)
	_, _, _ = full, itemErrs, err

	out, err := c.DeleteCalendarItems(ctx, "room1@contoso.com", ids[:0], ews.SendToNone)
	for _, o := range out {
		if o.Gone || o.Err == nil {
			continue // deleted, or already gone
		}
	}
	_ = err
}
