package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExchangeMailboxKind is the kind name of ExchangeMailbox.
const ExchangeMailboxKind = "ExchangeMailbox"

// ExchangeMailboxSpec says how to reach one Exchange organisation and the Respa instance that
// its room calendars feed.
type ExchangeMailboxSpec struct {
	// Exchange is the EWS endpoint and how to authenticate to it.
	// +required
	Exchange ExchangeEndpoint `json:"exchange"`

	// Respa is the Respa API and the token to use.
	// +required
	Respa RespaEndpoint `json:"respa"`

	// Interval between connectivity checks of both endpoints.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// Suspend stops the controller from checking this mailbox; resources that use it keep
	// their last state.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ExchangeEndpoint is an EWS endpoint with its authentication.
// +kubebuilder:validation:XValidation:rule="!(has(self.tls) && has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify && has(self.tls.caBundleSecretRef))",message="tls: set either caBundleSecretRef or insecureSkipVerify, not both"
type ExchangeEndpoint struct {
	// URL of the EWS endpoint, for example https://mail.example.org/EWS/Exchange.asmx.
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/\S*)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// ServerVersion is sent as RequestServerVersion. Exchange 2013 and later, and Exchange
	// Online, accept Exchange2013_SP1.
	// +kubebuilder:validation:Enum=Exchange2010_SP2;Exchange2013;Exchange2013_SP1;Exchange2016
	// +kubebuilder:default=Exchange2013_SP1
	// +optional
	ServerVersion string `json:"serverVersion,omitempty"`

	// AccessMode is how the account reaches room mailboxes: Impersonation (the account acts as
	// the room; needs ApplicationImpersonation on-premises or an application permission in
	// Exchange Online) or Delegate (the account has folder permissions on the room calendars;
	// Exchange cannot stream notifications to delegates, so rooms are polled).
	// +kubebuilder:validation:Enum=Impersonation;Delegate
	// +kubebuilder:default=Impersonation
	// +optional
	AccessMode string `json:"accessMode,omitempty"`

	// Auth says how to authenticate. Exactly one method is set.
	// +required
	Auth ExchangeAuth `json:"auth"`

	// TLS settings for the connection.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
}

// ExchangeAuth is a one-of: basic, ntlm or oauth2ClientCredentials.
// +kubebuilder:validation:XValidation:rule="(has(self.basic) ? 1 : 0) + (has(self.ntlm) ? 1 : 0) + (has(self.oauth2ClientCredentials) ? 1 : 0) == 1",message="auth: set exactly one of basic, ntlm or oauth2ClientCredentials"
type ExchangeAuth struct {
	// Basic authentication with a user name and password (on-premises Exchange only; Exchange
	// Online has switched it off).
	// +optional
	Basic *PasswordAuth `json:"basic,omitempty"`

	// NTLM authentication with a user name and password, the usual choice on-premises.
	// +optional
	NTLM *NTLMAuth `json:"ntlm,omitempty"`

	// OAuth2ClientCredentials authenticates as an application registered in Microsoft Entra
	// (Exchange Online).
	// +optional
	OAuth2ClientCredentials *OAuth2ClientCredentials `json:"oauth2ClientCredentials,omitempty"`
}

// PasswordAuth is a user name and a password kept in a Secret.
type PasswordAuth struct {
	// Username of the service account, as user@domain or DOMAIN\user.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +required
	Username string `json:"username"`

	// PasswordSecretRef is the Secret key that holds the password.
	// +required
	PasswordSecretRef SecretKeySelector `json:"passwordSecretRef"`
}

// NTLMAuth is NTLM with a user name, an optional domain and a password kept in a Secret.
type NTLMAuth struct {
	PasswordAuth `json:",inline"`

	// Domain of the account, when not given in Username.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Domain string `json:"domain,omitempty"`
}

// OAuth2ClientCredentials is the OAuth 2.0 client-credentials grant of an Entra application.
// +kubebuilder:validation:XValidation:rule="has(self.tenantID) || has(self.tokenURL)",message="oauth2ClientCredentials: set tenantID or tokenURL"
type OAuth2ClientCredentials struct {
	// TenantID of the Entra tenant; the token URL is derived from it unless tokenURL is set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	TenantID string `json:"tenantID,omitempty"`

	// ClientID of the application registration.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	ClientID string `json:"clientID"`

	// ClientSecretRef is the Secret key that holds the client secret.
	// +required
	ClientSecretRef SecretKeySelector `json:"clientSecretRef"`

	// TokenURL overrides the token endpoint (for national clouds or tests).
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/\S*)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	TokenURL string `json:"tokenURL,omitempty"`

	// Scopes requested with the token. Defaults to https://outlook.office365.com/.default.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// TLSConfig holds TLS settings. Certificate verification is on unless insecureSkipVerify is
// set explicitly.
type TLSConfig struct {
	// CABundleSecretRef is a Secret key holding PEM certificates to trust, for servers with a
	// private certificate authority.
	// +optional
	CABundleSecretRef *SecretKeySelector `json:"caBundleSecretRef,omitempty"`

	// InsecureSkipVerify turns certificate verification off. Only for tests.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// RespaEndpoint is a Respa API root and its credentials.
type RespaEndpoint struct {
	// URL of the Respa API root, for example https://api.hel.fi/respa/v1/.
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/\S*)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +required
	URL string `json:"url"`

	// CredentialsSecretRef is the Secret key that holds the API token of a Respa staff user with
	// rights on the mapped resources.
	// +required
	CredentialsSecretRef SecretKeySelector `json:"credentialsSecretRef"`

	// TokenType is how the token is sent: Token (a Django REST framework token,
	// "Authorization: Token <key>") or Bearer (a JWT).
	// +kubebuilder:validation:Enum=Token;Bearer
	// +kubebuilder:default=Token
	// +optional
	TokenType string `json:"tokenType,omitempty"`
}

// ExchangeMailboxStatus is what the controller observed of the mailbox.
type ExchangeMailboxStatus struct {
	ReconcileRequestStatus `json:",inline"`

	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, CredentialsValid, ExchangeReachable, RespaReachable, Stalled, Reconciling.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ServerVersion is the Exchange build the server reported in its last answer.
	// +optional
	ServerVersion string `json:"serverVersion,omitempty"`

	// Resources is how many ExchangeResources use this mailbox.
	// +optional
	Resources int32 `json:"resources,omitempty"`

	// LastCheckTime is when the endpoints were last checked.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`

	// Stream is the state of the notification stream that carries the subscriptions of the
	// resources using this mailbox.
	// +optional
	Stream *StreamStatus `json:"stream,omitempty"`
}

// StreamStatus says how changes in Exchange reach the operator.
type StreamStatus struct {
	// Mode is Streaming while notifications flow, Polling while they do not.
	// +kubebuilder:validation:Enum=Streaming;Polling
	Mode string `json:"mode"`
	// Since when the mode holds.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// Message says why, when polling.
	// +optional
	Message string `json:"message,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exmb,categories=respa-exchange
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.exchange.url`,priority=1
// +kubebuilder:printcolumn:name="Resources",type=integer,JSONPath=`.status.resources`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ExchangeMailbox is one Exchange connection (endpoint, credentials, access mode) and the Respa
// instance that the room calendars reached through it are synced with.
type ExchangeMailbox struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExchangeMailboxSpec   `json:"spec,omitempty"`
	Status ExchangeMailboxStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ExchangeMailbox) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ExchangeMailbox) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SecretNames lists the Secrets the mailbox references, for the Secret index.
func (in *ExchangeMailbox) SecretNames() []string {
	var names []string
	add := func(r *SecretKeySelector) {
		if r != nil && r.Name != "" {
			names = append(names, r.Name)
		}
	}
	a := in.Spec.Exchange.Auth
	if a.Basic != nil {
		add(&a.Basic.PasswordSecretRef)
	}
	if a.NTLM != nil {
		add(&a.NTLM.PasswordSecretRef)
	}
	if a.OAuth2ClientCredentials != nil {
		add(&a.OAuth2ClientCredentials.ClientSecretRef)
	}
	if t := in.Spec.Exchange.TLS; t != nil {
		add(t.CABundleSecretRef)
	}
	add(&in.Spec.Respa.CredentialsSecretRef)
	return names
}

// +kubebuilder:object:root=true

// ExchangeMailboxList is a list of ExchangeMailboxes.
type ExchangeMailboxList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExchangeMailbox `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExchangeMailbox{}, &ExchangeMailboxList{})
}
