// Package exchangesim is an Exchange server for tests and the demo: a
// stateful EWS endpoint that behaves as Exchange does for what a calendar
// sync uses, so the EWS client can be trusted against it.
//
// It keeps mailboxes with calendars (single items, recurring series with
// occurrences, exceptions and deleted occurrences, extended properties,
// organizers as SMTP or EX addresses) and serves FindItem (CalendarView with
// truncation and the two-year limit), GetItem, CreateItem, UpdateItem (with
// ChangeKey conflicts), DeleteItem, ResolveNames, GetFolder, ConvertId (the
// version probe), SyncFolderItems, Subscribe, GetEvents, GetStreamingEvents
// (one chunked response of several envelopes, ConnectionStatus Closed at
// ConnectionTimeout) and Unsubscribe. Requests are parsed with etree and
// matched on namespace URI and local name, never on prefixes.
//
// Callers authenticate with HTTP Basic or with a bearer token from the
// built-in OAuth2 client-credentials endpoint; grants decide which mailboxes
// an account or app may impersonate. Strict mode validates every request with
// xmllint against the EWS schema, as Exchange does. Faults (ErrorServerBusy,
// 5xx, latency, dropped connections, killed streams and subscriptions) are
// injected on demand, and requests are counted by operation and mailbox.
//
// Tests set it up through methods on *Server; the demo and other processes
// use the JSON admin API under /admin/ (see adminHandler for the routes).
//
// Simplifications: times are kept in UTC, so series are expanded in UTC and
// all-day items start at UTC midnight; only daily and weekly patterns exist;
// only the calendar folder holds items.
package exchangesim
