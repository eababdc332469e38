package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// decodeAll splits a multi-document YAML file into objects.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	requireEnv(t)
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	ns := newNamespace(t)
	created := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range decodeAll(t, data) {
			obj.SetNamespace(ns)
			if err := k8s.Create(context.Background(), obj, client.FieldValidation("Strict")); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), obj.GetKind(), obj.GetName(), err)
				continue
			}
			created++
		}
	}
	if created < 5 {
		t.Errorf("created %d objects from the samples, want at least 5", created)
	}
}

const validMailbox = `
apiVersion: respa-exchange.io/v1alpha1
kind: ExchangeMailbox
metadata: {name: mb}
spec:
  exchange:
    url: https://mail.example.org/EWS/Exchange.asmx
    auth:
      basic: {username: svc, passwordSecretRef: {name: s, key: password}}
  respa:
    url: https://respa.example.org/v1/
    credentialsSecretRef: {name: r, key: token}
`

const validResource = `
apiVersion: respa-exchange.io/v1alpha1
kind: ExchangeResource
metadata: {name: res}
spec:
  mailboxRef: {name: mb}
  exchange: {email: room@example.org}
  respa: {resourceID: aurora}
`

// edit applies a change to a parsed copy of base, given as a path and a value (nil deletes).
type edit struct {
	path  []string
	value any
}

func TestInvalidSpecsAreRefused(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	cases := []struct {
		name  string
		base  string
		edits []edit
		want  []string
	}{
		{"bad email", validResource, []edit{{[]string{"spec", "exchange", "email"}, "not-an-address"}}, []string{"spec.exchange.email"}},
		{"email with space", validResource, []edit{{[]string{"spec", "exchange", "email"}, "room @example.org"}}, []string{"spec.exchange.email"}},
		{"two auth methods", validMailbox, []edit{{[]string{"spec", "exchange", "auth", "ntlm"}, map[string]any{"username": "u", "passwordSecretRef": map[string]any{"name": "s", "key": "k"}}}}, []string{"set exactly one of basic, ntlm or oauth2ClientCredentials"}},
		{"no auth method", validMailbox, []edit{{[]string{"spec", "exchange", "auth", "basic"}, nil}}, []string{"set exactly one of basic, ntlm or oauth2ClientCredentials"}},
		{"negative window", validResource, []edit{{[]string{"spec", "window", "future"}, "-24h"}}, []string{"spec.window.future"}},
		{"zero window", validResource, []edit{{[]string{"spec", "window", "future"}, "0s"}}, []string{"window.future must be longer than zero"}},
		{"window over two years", validResource, []edit{{[]string{"spec", "window", "future"}, "20000h"}}, []string{"window.future must be at most 17520h"}},
		{"past window over a year", validResource, []edit{{[]string{"spec", "window", "past"}, "9000h"}}, []string{"window.past must be at most 8760h"}},
		{"bad duration", validResource, []edit{{[]string{"spec", "resyncInterval"}, "fifteen minutes"}}, []string{"spec.resyncInterval"}},
		{"unknown direction", validResource, []edit{{[]string{"spec", "direction"}, "Sideways"}}, []string{"spec.direction", "Unsupported value"}},
		{"unknown conflict policy", validResource, []edit{{[]string{"spec", "conflictPolicy"}, "NewestWins"}}, []string{"spec.conflictPolicy", "Unsupported value"}},
		{"unknown deletion policy", validResource, []edit{{[]string{"spec", "deletionPolicy"}, "Sometimes"}}, []string{"spec.deletionPolicy"}},
		{"guard percent over 100", validResource, []edit{{[]string{"spec", "massDeletionGuard", "maxPercent"}, int64(150)}}, []string{"spec.massDeletionGuard.maxPercent"}},
		{"missing mailboxRef", validResource, []edit{{[]string{"spec", "mailboxRef"}, nil}}, []string{"spec.mailboxRef", "Required value"}},
		{"empty resource id", validResource, []edit{{[]string{"spec", "respa", "resourceID"}, ""}}, []string{"spec.respa.resourceID"}},
		{"secret ref without key", validMailbox, []edit{{[]string{"spec", "respa", "credentialsSecretRef", "key"}, nil}}, []string{"spec.respa.credentialsSecretRef.key", "Required value"}},
		{"secret ref in another namespace", validMailbox, []edit{{[]string{"spec", "respa", "credentialsSecretRef", "namespace"}, "kube-system"}}, []string{`unknown field "spec.respa.credentialsSecretRef.namespace"`}},
		{"url not http", validMailbox, []edit{{[]string{"spec", "exchange", "url"}, "ftp://mail.example.org/ews"}}, []string{"spec.exchange.url"}},
		{"unknown server version", validMailbox, []edit{{[]string{"spec", "exchange", "serverVersion"}, "Exchange2003"}}, []string{"spec.exchange.serverVersion"}},
		{"oauth2 without tenant or token url", validMailbox, []edit{
			{[]string{"spec", "exchange", "auth", "basic"}, nil},
			{[]string{"spec", "exchange", "auth", "oauth2ClientCredentials"}, map[string]any{"clientID": "c", "clientSecretRef": map[string]any{"name": "s", "key": "k"}}},
		}, []string{"set tenantID or tokenURL"}},
		{"ca bundle and insecure", validMailbox, []edit{{[]string{"spec", "exchange", "tls"}, map[string]any{"insecureSkipVerify": true, "caBundleSecretRef": map[string]any{"name": "ca", "key": "ca.crt"}}}}, []string{"set either caBundleSecretRef or insecureSkipVerify"}},
		{"typo in field name", validResource, []edit{{[]string{"spec", "exchange", "emial"}, "room@example.org"}}, []string{`unknown field "spec.exchange.emial"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.base), &obj.Object); err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.edits {
				if e.value == nil {
					unstructured.RemoveNestedField(obj.Object, e.path...)
				} else if err := unstructured.SetNestedField(obj.Object, e.value, e.path...); err != nil {
					t.Fatal(err)
				}
			}
			obj.SetNamespace(ns)
			obj.SetGenerateName("x-")
			obj.SetName("")
			err := k8s.Create(context.Background(), obj, client.FieldValidation("Strict"))
			if err == nil {
				t.Fatalf("accepted, want refusal mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The base objects themselves are valid, so each refusal above is due to its edit.
	for _, base := range []string{validMailbox, validResource} {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(base), &obj.Object); err != nil {
			t.Fatal(err)
		}
		obj.SetNamespace(ns)
		if err := k8s.Create(context.Background(), obj, client.FieldValidation("Strict")); err != nil {
			t.Errorf("valid base %s refused: %v", obj.GetKind(), err)
		}
	}
}
