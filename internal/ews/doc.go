// Package ews is the operator's Exchange Web Services client: SOAP built and
// read with github.com/beevik/etree, for the room-calendar operations the
// sync needs (CalendarView, GetItem, batched Create/Update/DeleteItem,
// ResolveNames, SyncFolderItems, streaming notifications, and a cheap
// access check).
//
// Facts from ../shared/EWS-NOTES.md it relies on (section numbers there):
//
//   - Responses are matched on namespace URI and local name, never on
//     prefixes (§0.1). The https:// envelope namespace of Microsoft Learn's
//     samples is read too, but never sent.
//   - Errors come as SOAP faults (HTTP 500) or as per-item ResponseMessages
//     with HTTP 200 (§0.2); both become *Error. ErrorServerBusy carries
//     BackOffMilliseconds in MessageXml, ErrorInternalServerError an inner
//     code, ErrorSchemaValidation a line, position and violation (§3, §5.5).
//   - CalendarView is never paged; a view over 2 years fails with
//     ErrorCalendarViewRangeTooBig and a view with more items than
//     MaxEntriesReturned is silently truncated, flagged only by
//     IncludesLastItemInRange="false" (§1.2). So windows are split, and
//     truncated windows are halved until complete.
//   - FindItem returns no attendees and, on Exchange Online, the organizer
//     as an X500 address; GetItem returns both as SMTP (§1.4).
//   - Extended properties are read only when named in AdditionalProperties
//     and are addressed by one fixed PropertySetId plus a fixed small set of
//     names (named-property quota), and sit between HasAttachments and
//     Culture in the ItemType sequence, before every calendar element (§4).
//   - Calendar writes need SendMeetingInvitations / ...OrCancellations /
//     SendMeetingCancellations; a deleted-already item is a per-item
//     ErrorItemNotFound with HTTP 200 (§3).
//   - Impersonated calls carry ExchangeImpersonation and X-AnchorMailbox;
//     streaming calls add X-PreferServerAffinity and echo the
//     X-BackEndOverrideCookie (§5.3, §6). Delegate access cannot subscribe.
//   - GetStreamingEvents is one chunked response with many envelopes back to
//     back, ending with ConnectionStatus Closed; ConnectionTimeout is 1–30
//     minutes; at most 200 subscription ids per connection (§5.2, §5.4).
//   - Retryable: ErrorServerBusy, ErrorTooManyObjectsOpened,
//     ErrorInternalServerTransientError, ErrorTimeoutExpired,
//     ErrorExceededConnectionCount, HTTP 429/503 with Retry-After (§3, §5.5).
//
// Sizes chosen, and why (all configurable in Config):
//
//   - MaxEntriesReturned 250. EWSFindCountLimit is 1000 items held for one
//     user across concurrent finds (§1.2); with up to 4 concurrent requests
//     per mailbox, 4×250 stays inside it, and 250 is also the limit for
//     restricted searches on 2013/Exchange Online. Windows start at 28 days
//     (a busy room has fewer than 250 bookings in four weeks) and are halved
//     on truncation.
//   - GetItem 10 ids per request: Microsoft's own recommendation for
//     fetching properties after a sync, and its advice when
//     ErrorTimeoutExpired appears (§2). Bodies and attendee lists make these
//     responses the heaviest.
//   - CreateItem and UpdateItem 50, DeleteItem 100 per request. The schema
//     sets no cap; what limits a batch is the one-minute execution limit and
//     the budget charged per item (§3). exchangelib uses 100; writes of
//     calendar items cost more than reads, so creates and updates use half.
//   - SyncFolderItems asks for at most 512 changes, the server's maximum.
//
// Streaming: Subscribe makes one subscription per room (impersonated) on an
// anchor mailbox; GetStreamingEvents opens one connection for up to 200 of
// them, impersonating the anchor, and hands each envelope to a callback as
// soon as it is whole; StreamEvents reopens the connection each time the
// server closes it, unless the closing envelope carries an error (say
// ErrorSubscriptionNotFound after a server restart), which is returned so
// the caller resubscribes. A connection that stays open a minute past its
// ConnectionTimeout without ConnectionStatus Closed is cut and reported,
// so a listener can never die silently.
//
// Writes are never retried: a create whose response was lost would be made
// twice. Idempotent calls are retried a bounded number of times, waiting the
// server's BackOffMilliseconds or Retry-After; when the server asks for
// longer than RetryPolicy.MaxDelay the error is returned with its BackOff
// instead, so the caller can requeue rather than hold a worker.
//
// XML is parsed without entity expansion (encoding/xml knows only the five
// predefined entities) and a DOCTYPE is refused. No credential, token or
// Authorization header is put in an error or a log line; errors from below
// (transport, token endpoint) are scrubbed of every secret the client holds.
package ews
