package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// The demo's commands act on the simulators as people would: in Outlook (the Exchange
// simulator's admin API) or in Respa's UI (the Respa simulator's admin API, as a plain user).

var httpClient = &http.Client{Timeout: 15 * time.Second}

func adminCall(ctx context.Context, method, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// BookInExchange creates a meeting in the room's calendar as organizer would in Outlook.
func BookInExchange(ctx context.Context, st State, room Room, subject, organizer string, start time.Time, d time.Duration) (exchangesim.ItemInfo, error) {
	ev := exchangesim.Event{
		Subject:   subject,
		Start:     start.UTC(),
		End:       start.Add(d).UTC(),
		Organizer: exchangesim.Person{Name: organizer, SMTP: strings.ToLower(strings.Fields(organizer + " x")[0]) + "@" + domain},
	}
	var item exchangesim.ItemInfo
	err := adminCall(ctx, http.MethodPost, st.ExchangeURL+"/admin/mailboxes/"+url.PathEscape(room.Email)+"/items", ev, &item)
	return item, err
}

// exchangeItem finds the room's item whose subject contains subject.
func exchangeItem(ctx context.Context, st State, room Room, subject string) (exchangesim.ItemInfo, error) {
	var items []exchangesim.ItemInfo
	if err := adminCall(ctx, http.MethodGet, st.ExchangeURL+"/admin/mailboxes/"+url.PathEscape(room.Email)+"/items", nil, &items); err != nil {
		return exchangesim.ItemInfo{}, err
	}
	for _, it := range items {
		if strings.Contains(strings.ToLower(it.Subject), strings.ToLower(subject)) {
			return it, nil
		}
	}
	return exchangesim.ItemInfo{}, fmt.Errorf("no event in %s with %q in its subject", room.Email, subject)
}

// CancelInExchange deletes the room's event whose subject contains subject.
func CancelInExchange(ctx context.Context, st State, room Room, subject string) (exchangesim.ItemInfo, error) {
	it, err := exchangeItem(ctx, st, room, subject)
	if err != nil {
		return it, err
	}
	return it, adminCall(ctx, http.MethodDelete, st.ExchangeURL+"/admin/mailboxes/"+url.PathEscape(room.Email)+"/items/"+url.PathEscape(it.ID), nil, nil)
}

// MoveInExchange moves the room's event whose subject contains subject.
func MoveInExchange(ctx context.Context, st State, room Room, subject string, start time.Time) (exchangesim.ItemInfo, error) {
	it, err := exchangeItem(ctx, st, room, subject)
	if err != nil {
		return it, err
	}
	d := it.End.Sub(it.Start)
	s, e := start.UTC(), start.Add(d).UTC()
	var out exchangesim.ItemInfo
	err = adminCall(ctx, http.MethodPatch, st.ExchangeURL+"/admin/mailboxes/"+url.PathEscape(room.Email)+"/items/"+url.PathEscape(it.ID), exchangesim.EventChange{Start: &s, End: &e}, &out)
	return out, err
}

// BookInRespa reserves the room in Respa as the demo's plain user.
func BookInRespa(ctx context.Context, st State, room Room, subject string, start time.Time, d time.Duration) (respasim.Reservation, error) {
	body := map[string]any{
		"resource": room.ResourceID, "begin": start.UTC(), "end": start.Add(d).UTC(),
		"event_subject": subject, "reserver_name": "Matti Meikäläinen", "reserver_email_address": "matti@" + domain,
	}
	var r respasim.Reservation
	err := adminCall(ctx, http.MethodPost, st.RespaURL+"/admin/reservations?as="+RespaUser, body, &r)
	return r, err
}

// CancelInRespa cancels a reservation in Respa as the demo's plain user.
func CancelInRespa(ctx context.Context, st State, id int) error {
	return adminCall(ctx, http.MethodPost, fmt.Sprintf("%s/admin/reservations/%d/cancel?as=%s", st.RespaURL, id, RespaUser), nil, nil)
}

// Listing is what both systems hold for a room.
type Listing struct {
	Exchange []exchangesim.ItemInfo
	Respa    []respasim.Reservation
}

// List reads the room's calendar view for the next window and its Respa reservations.
func List(ctx context.Context, st State, room Room, window time.Duration) (Listing, error) {
	var l Listing
	now := time.Now().UTC()
	q := url.Values{"start": {now.Add(-24 * time.Hour).Format(time.RFC3339)}, "end": {now.Add(window).Format(time.RFC3339)}}
	if err := adminCall(ctx, http.MethodGet, st.ExchangeURL+"/admin/mailboxes/"+url.PathEscape(room.Email)+"/view?"+q.Encode(), nil, &l.Exchange); err != nil {
		return l, fmt.Errorf("exchange: %w", err)
	}
	var all []respasim.Reservation
	if err := adminCall(ctx, http.MethodGet, st.RespaURL+"/admin/reservations", nil, &all); err != nil {
		return l, fmt.Errorf("respa: %w", err)
	}
	for _, r := range all {
		if r.ResourceID == room.ResourceID {
			l.Respa = append(l.Respa, r)
		}
	}
	sort.Slice(l.Exchange, func(i, j int) bool { return l.Exchange[i].Start.Before(l.Exchange[j].Start) })
	sort.Slice(l.Respa, func(i, j int) bool { return l.Respa[i].Begin.Before(l.Respa[j].Begin) })
	return l, nil
}
