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
// Tests set it up through methods on *Server (AddMailbox, AddAccount, AddApp,
// Grant, ApplySeed, CreateEvent, UpdateEvent, DeleteEvent, Items, Item,
// CalendarView, InjectFault, KillStreams, KillSubscriptions, Counters,
// Reset). The demo and other processes use the same operations as JSON under
// /admin/, behind Options.AdminToken when set:
//
//	POST   /admin/reset                           forget everything
//	POST   /admin/seed                            Seed
//	GET    /admin/mailboxes                       []MailboxInfo
//	POST   /admin/mailboxes                       MailboxInfo{smtp, name}
//	POST   /admin/accounts                        Account (Basic auth user, grants)
//	POST   /admin/apps                            App (OAuth2 client, grants)
//	POST   /admin/grants                          {principal: "user:x"|"app:y", mailboxes: [...]}
//	GET    /admin/mailboxes/{smtp}/items          []ItemInfo: singles and masters with exceptions
//	POST   /admin/mailboxes/{smtp}/items          Event: a meeting or series, as Outlook would
//	GET    /admin/mailboxes/{smtp}/items/{id}     ItemInfo (ids path-escaped; occurrence ids too)
//	PATCH  /admin/mailboxes/{smtp}/items/{id}     EventChange: move, retitle, edit series or one occurrence
//	DELETE /admin/mailboxes/{smtp}/items/{id}     cancel an item or series, delete one occurrence
//	GET    /admin/mailboxes/{smtp}/view?start=&end=  []ItemInfo as CalendarView expands them
//	POST   /admin/faults, DELETE /admin/faults    Fault
//	GET    /admin/counters                        Counters by operation and mailbox
//	POST   /admin/streams/kill?mailbox=           cut open streams
//	POST   /admin/subscriptions/kill?mailbox=     forget subscriptions
//	POST   /admin/tokens/expire                   invalidate issued access tokens
//
// Simplifications: times are kept in UTC, so series are expanded in UTC; all-day
// items are moved to midnight of the zone of the request that set their bounds
// (StartTimeZone, else TimeZoneContext, else UTC; UTC from the admin API); only daily and weekly patterns exist;
// only the calendar folder holds items.
package exchangesim
