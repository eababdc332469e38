package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus; Reconciling and Stalled are
// present only while true.
const (
	// ReadyCondition says whether the object does what it is meant to do now.
	ReadyCondition = "Ready"
	// ReconcilingCondition is true while a pass is under way or the controller is catching up
	// with a new generation.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is true when the controller cannot make progress without a change by a
	// person: an unknown room, revoked credentials, a malformed Secret.
	StalledCondition = "Stalled"

	// CredentialsValidCondition says whether every Secret the mailbox references exists and is
	// well formed (it does not prove the credentials are accepted by the server).
	CredentialsValidCondition = "CredentialsValid"
	// ExchangeReachableCondition says whether the Exchange endpoint accepted the credentials in
	// the last check.
	ExchangeReachableCondition = "ExchangeReachable"
	// RespaReachableCondition says whether the Respa API accepted the token in the last check.
	RespaReachableCondition = "RespaReachable"

	// SyncedCondition says whether the last pass synced every item of the window.
	SyncedCondition = "Synced"
)

// Condition reasons, shared by both kinds. Each names what a person should look at.
const (
	// SucceededReason: the step did what it should.
	SucceededReason = "Succeeded"
	// ProgressingReason: a pass is under way.
	ProgressingReason = "Progressing"
	// SuspendedReason: spec.suspend is true; nothing is done until it is cleared.
	SuspendedReason = "Suspended"

	// SecretNotFoundReason: a referenced Secret does not exist in the object's namespace.
	SecretNotFoundReason = "SecretNotFound"
	// SecretKeyMissingReason: the Secret exists but lacks the referenced key, or its value is empty.
	SecretKeyMissingReason = "SecretKeyMissing"
	// InvalidCredentialsReason: a Secret value is present but cannot be used (for example a CA
	// bundle that is not PEM, or a token with white space inside).
	InvalidCredentialsReason = "InvalidCredentials"
	// AuthenticationFailedReason: the server refused the credentials (HTTP 401 or 403).
	AuthenticationFailedReason = "AuthenticationFailed"
	// ImpersonationDeniedReason: Exchange refused to let the account act as the room mailbox.
	ImpersonationDeniedReason = "ImpersonationDenied"
	// MailboxNotFoundInExchangeReason: Exchange does not know the room mailbox.
	MailboxNotFoundInExchangeReason = "MailboxNotFoundInExchange"
	// UnreachableReason: the endpoint could not be reached or answered with a server error.
	UnreachableReason = "Unreachable"
	// ThrottledReason: the server asked us to back off.
	ThrottledReason = "Throttled"
	// CheckPendingReason: the check has not run yet.
	CheckPendingReason = "CheckPending"

	// MailboxNotFoundReason: spec.mailboxRef names no ExchangeMailbox in the namespace.
	MailboxNotFoundReason = "MailboxNotFound"
	// MailboxNotReadyReason: the referenced ExchangeMailbox is not Ready, so no calls are made.
	MailboxNotReadyReason = "MailboxNotReady"
	// RespaResourceNotFoundReason: spec.respa.resourceID names no Respa resource.
	RespaResourceNotFoundReason = "RespaResourceNotFound"
	// SyncFailedReason: the pass could not complete; the message says why.
	SyncFailedReason = "SyncFailed"
	// PartialSyncReason: the pass completed but some items failed; see status.failedItems.
	PartialSyncReason = "PartialSync"
	// MassDeletionBlockedReason: the pass would delete more than the guard allows; see
	// status.massDeletion for how to acknowledge.
	MassDeletionBlockedReason = "MassDeletionBlocked"
	// DryRunReason: spec.dryRun is set; the plan is in status.plannedActions and nothing was written.
	DryRunReason = "DryRun"
)
