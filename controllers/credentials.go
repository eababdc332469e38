package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
)

// MailboxCredentials are the secret values an ExchangeMailbox references, read from its own
// namespace. Its String method never prints them.
type MailboxCredentials struct {
	// ExchangePassword for basic or NTLM auth.
	ExchangePassword string
	// ExchangeClientSecret for OAuth2 client credentials.
	ExchangeClientSecret string
	// CABundle is PEM, when the mailbox trusts a private CA.
	CABundle []byte
	// RespaToken is the Respa API token.
	RespaToken string
}

// String hides the values, so a credential struct printed by mistake leaks nothing.
func (c *MailboxCredentials) String() string { return "MailboxCredentials{redacted}" }

// GoString hides the values from %#v too.
func (c *MailboxCredentials) GoString() string { return c.String() }

// resolveCredentials reads every Secret the mailbox references through reader (an uncached
// reader: the controller watches Secrets metadata-only and never caches their data) and checks
// that each value is present and usable. Failures are StallingErrors with the reason a person
// acts on; nothing of a Secret's value is put in a message.
func resolveCredentials(ctx context.Context, reader client.Reader, mb *v1alpha1.ExchangeMailbox) (*MailboxCredentials, error) {
	secrets := map[string]*corev1.Secret{}
	value := func(field string, ref v1alpha1.SecretKeySelector) ([]byte, error) {
		s, ok := secrets[ref.Name]
		if !ok {
			s = &corev1.Secret{}
			err := reader.Get(ctx, types.NamespacedName{Namespace: mb.Namespace, Name: ref.Name}, s)
			if apierrors.IsNotFound(err) {
				return nil, stalling(v1alpha1.SecretNotFoundReason, "%s: Secret %q not found in namespace %q", field, ref.Name, mb.Namespace)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: read Secret %q: %w", field, ref.Name, err)
			}
			secrets[ref.Name] = s
		}
		v, ok := s.Data[ref.Key]
		if !ok || len(v) == 0 {
			return nil, stalling(v1alpha1.SecretKeyMissingReason, "%s: Secret %q has no key %q (or its value is empty)", field, ref.Name, ref.Key)
		}
		return v, nil
	}
	// single checks a one-line secret: a password or token with a newline was almost always
	// written with `echo` instead of `echo -n`, and the server would refuse it.
	single := func(field string, ref v1alpha1.SecretKeySelector) (string, error) {
		v, err := value(field, ref)
		if err != nil {
			return "", err
		}
		s := string(v)
		if strings.ContainsAny(s, "\r\n") {
			return "", stalling(v1alpha1.InvalidCredentialsReason, "%s: the value of key %q in Secret %q contains a line break (was it written with echo instead of echo -n?)", field, ref.Key, ref.Name)
		}
		return s, nil
	}

	creds := &MailboxCredentials{}
	var err error
	auth := mb.Spec.Exchange.Auth
	switch {
	case auth.Basic != nil:
		creds.ExchangePassword, err = single("spec.exchange.auth.basic.passwordSecretRef", auth.Basic.PasswordSecretRef)
	case auth.NTLM != nil:
		creds.ExchangePassword, err = single("spec.exchange.auth.ntlm.passwordSecretRef", auth.NTLM.PasswordSecretRef)
	case auth.OAuth2ClientCredentials != nil:
		creds.ExchangeClientSecret, err = single("spec.exchange.auth.oauth2ClientCredentials.clientSecretRef", auth.OAuth2ClientCredentials.ClientSecretRef)
	default:
		err = stalling(v1alpha1.InvalidCredentialsReason, "spec.exchange.auth: no authentication method is set")
	}
	if err != nil {
		return nil, err
	}
	if t := mb.Spec.Exchange.TLS; t != nil && t.CABundleSecretRef != nil {
		pemBytes, err := value("spec.exchange.tls.caBundleSecretRef", *t.CABundleSecretRef)
		if err != nil {
			return nil, err
		}
		if err := checkPEMBundle(pemBytes); err != nil {
			return nil, stalling(v1alpha1.InvalidCredentialsReason, "spec.exchange.tls.caBundleSecretRef: key %q of Secret %q: %v", t.CABundleSecretRef.Key, t.CABundleSecretRef.Name, err)
		}
		creds.CABundle = pemBytes
	}
	creds.RespaToken, err = single("spec.respa.credentialsSecretRef", mb.Spec.Respa.CredentialsSecretRef)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(creds.RespaToken, " \t") {
		ref := mb.Spec.Respa.CredentialsSecretRef
		return nil, stalling(v1alpha1.InvalidCredentialsReason, "spec.respa.credentialsSecretRef: the token in key %q of Secret %q contains white space; store the bare token, without a \"Token \" or \"Bearer \" prefix", ref.Key, ref.Name)
	}
	return creds, nil
}

// checkPEMBundle accepts PEM data with at least one parseable certificate.
func checkPEMBundle(data []byte) error {
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("a certificate does not parse: %v", err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	return nil
}
