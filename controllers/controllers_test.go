package controllers_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
)

const waitFor = 20 * time.Second

func mailbox(ns, name string) *v1alpha1.ExchangeMailbox {
	return &v1alpha1.ExchangeMailbox{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExchangeMailboxSpec{
			Exchange: v1alpha1.ExchangeEndpoint{
				URL: exURL,
				Auth: v1alpha1.ExchangeAuth{Basic: &v1alpha1.PasswordAuth{
					Username:          svcUser,
					PasswordSecretRef: v1alpha1.SecretKeySelector{Name: "exchange-pw", Key: "password"},
				}},
			},
			Respa: v1alpha1.RespaEndpoint{
				URL:                  respaURL,
				CredentialsSecretRef: v1alpha1.SecretKeySelector{Name: "respa-token", Key: "token"},
			},
		},
	}
}

func resource(t *testing.T, ns, name, mailbox string) *v1alpha1.ExchangeResource {
	room(t, ns+"-"+name+"@example.org")
	return &v1alpha1.ExchangeResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ExchangeResourceSpec{
			MailboxRef: v1alpha1.LocalObjectReference{Name: mailbox},
			Exchange:   v1alpha1.ResourceExchange{Email: ns + "-" + name + "@example.org"},
			Respa:      v1alpha1.ResourceRespa{ResourceID: name},
		},
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// conditionIs checks one condition of a live object.
func conditionIs(obj interface {
	client.Object
	GetConditions() []metav1.Condition
}, typ string, status metav1.ConditionStatus, reason string) error {
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	c := apimeta.FindStatusCondition(obj.GetConditions(), typ)
	if c == nil {
		return fmt.Errorf("%s has no %s condition (conditions: %+v)", obj.GetName(), typ, obj.GetConditions())
	}
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s %s = %s/%s (%s), want %s/%s", obj.GetName(), typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

func TestMailboxMissingSecretThenReady(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	mb := mailbox(ns, "mb")
	mustCreate(t, mb, secret(ns, "respa-token", map[string]string{"token": respaToken}))

	eventually(t, waitFor, func() error {
		return conditionIs(mb, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SecretNotFoundReason)
	})
	if err := conditionIs(mb, v1alpha1.StalledCondition, metav1.ConditionTrue, v1alpha1.SecretNotFoundReason); err != nil {
		t.Error(err)
	}
	if err := conditionIs(mb, v1alpha1.CredentialsValidCondition, metav1.ConditionFalse, v1alpha1.SecretNotFoundReason); err != nil {
		t.Error(err)
	}
	ready := apimeta.FindStatusCondition(mb.Status.Conditions, v1alpha1.ReadyCondition)
	if !strings.Contains(ready.Message, `"exchange-pw"`) || !strings.Contains(ready.Message, "passwordSecretRef") {
		t.Errorf("message %q should name the Secret and the field", ready.Message)
	}

	// The Secret watch brings the mailbox back as soon as the Secret exists; nothing else
	// requeues a stalled mailbox.
	created := time.Now()
	mustCreate(t, secret(ns, "exchange-pw", map[string]string{"password": svcPassword}))
	eventually(t, 5*time.Second, func() error {
		return conditionIs(mb, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason)
	})
	t.Logf("mailbox Ready %s after its Secret was created", time.Since(created).Round(time.Millisecond))
	if err := conditionIs(mb, v1alpha1.StalledCondition, metav1.ConditionTrue, ""); err == nil {
		t.Error("Stalled still present on a Ready mailbox")
	}
	if mb.Status.ObservedGeneration != mb.Generation {
		t.Errorf("observedGeneration %d, generation %d", mb.Status.ObservedGeneration, mb.Generation)
	}
	assertNoSecretIn(t, mb, svcPassword, respaToken)
}

func TestMailboxSecretProblems(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	mustCreate(t, secret(ns, "respa-token", map[string]string{"token": respaToken}))

	missingKey := mailbox(ns, "missing-key")
	mustCreate(t, missingKey, secret(ns, "exchange-pw", map[string]string{"pass": "x"}))
	eventually(t, waitFor, func() error {
		return conditionIs(missingKey, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SecretKeyMissingReason)
	})

	newline := mailbox(ns, "newline")
	newline.Spec.Respa.CredentialsSecretRef = v1alpha1.SecretKeySelector{Name: "respa-newline", Key: "token"}
	newline.Spec.Exchange.Auth.Basic.PasswordSecretRef.Key = "pass"
	mustCreate(t, newline, secret(ns, "respa-newline", map[string]string{"token": "s3cr3t-token\n"}))
	eventually(t, waitFor, func() error {
		return conditionIs(newline, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.InvalidCredentialsReason)
	})
	assertNoSecretIn(t, newline, "s3cr3t-token")

	badCA := mailbox(ns, "bad-ca")
	badCA.Spec.Exchange.Auth.Basic.PasswordSecretRef.Key = "pass"
	badCA.Spec.Exchange.TLS = &v1alpha1.TLSConfig{CABundleSecretRef: &v1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}}
	mustCreate(t, badCA, secret(ns, "ca", map[string]string{"ca.crt": "not a certificate"}))
	eventually(t, waitFor, func() error {
		return conditionIs(badCA, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.InvalidCredentialsReason)
	})

	// Fixing the key flips the first mailbox to Ready through the Secret watch.
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "exchange-pw"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte(svcPassword)
	if err := k8s.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		return conditionIs(missingKey, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason)
	})
}

// readyMailbox creates a mailbox with its Secrets and waits until it is Ready.
func readyMailbox(t *testing.T, ns, name string) *v1alpha1.ExchangeMailbox {
	t.Helper()
	mb := mailbox(ns, name)
	mb.Spec.Exchange.Auth.Basic.PasswordSecretRef.Name = name + "-pw"
	mb.Spec.Respa.CredentialsSecretRef.Name = name + "-token"
	mustCreate(t, secret(ns, name+"-pw", map[string]string{"password": svcPassword}), secret(ns, name+"-token", map[string]string{"token": respaToken}), mb)
	eventually(t, waitFor, func() error { return conditionIs(mb, v1alpha1.ReadyCondition, metav1.ConditionTrue, "") })
	return mb
}

func TestResourceWaitsForMailbox(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	res := resource(t, ns, "room-a", "mb")
	mustCreate(t, res)
	key := ns + "/room-a"

	eventually(t, waitFor, func() error {
		return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.MailboxNotFoundReason)
	})

	mb := mailbox(ns, "mb")
	mustCreate(t, mb)
	// Once the mailbox has said why it is not ready, the resource repeats the reason.
	eventually(t, waitFor, func() error {
		if err := conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.MailboxNotReadyReason); err != nil {
			return err
		}
		if ready := apimeta.FindStatusCondition(res.Status.Conditions, v1alpha1.ReadyCondition); !strings.Contains(ready.Message, v1alpha1.SecretNotFoundReason) {
			return fmt.Errorf("MailboxNotReady message %q does not carry the mailbox's reason", ready.Message)
		}
		return nil
	})
	if n := syncer.count(key); n != 0 {
		t.Fatalf("syncer called %d times while the mailbox was not ready", n)
	}

	mustCreate(t, secret(ns, "exchange-pw", map[string]string{"password": svcPassword}), secret(ns, "respa-token", map[string]string{"token": respaToken}))
	eventually(t, waitFor, func() error {
		return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason)
	})
	if err := conditionIs(res, v1alpha1.SyncedCondition, metav1.ConditionTrue, v1alpha1.SucceededReason); err != nil {
		t.Error(err)
	}
	if syncer.count(key) == 0 {
		t.Fatal("syncer never called")
	}
	req, _ := syncer.lastRequest(key)
	if req.Credentials == nil || req.Credentials.ExchangePassword != svcPassword || req.Credentials.RespaToken != respaToken {
		t.Errorf("pass got credentials %v, want the mailbox's", req.Credentials != nil)
	}
	if res.Status.LastSyncTime == nil || res.Status.LastSuccessfulSyncTime == nil {
		t.Errorf("lastSyncTime %v lastSuccessfulSyncTime %v", res.Status.LastSyncTime, res.Status.LastSuccessfulSyncTime)
	}
	// The resync interval (default 15m) holds the next pass back.
	n := syncer.count(key)
	time.Sleep(time.Second)
	if m := syncer.count(key); m != n {
		t.Errorf("%d extra passes within a second of the last one; resync interval is 15m", m-n)
	}

	// The mailbox now counts the resource.
	eventually(t, waitFor, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(mb), mb); err != nil {
			return err
		}
		if mb.Status.Resources != 1 {
			return fmt.Errorf("mailbox counts %d resources", mb.Status.Resources)
		}
		return nil
	})
}

func TestResourceSuspendAndRequestedAt(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	readyMailbox(t, ns, "mb")
	res := resource(t, ns, "room-b", "mb")
	mustCreate(t, res)
	key := ns + "/room-b"
	eventually(t, waitFor, func() error { return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionTrue, "") })
	passes := syncer.count(key)

	// requestedAt forces a pass even though the interval has not passed, and is echoed.
	patch := client.MergeFrom(res.DeepCopy())
	res.Annotations = map[string]string{v1alpha1.ReconcileRequestAnnotation: "now-1"}
	if err := k8s.Patch(context.Background(), res, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(res), res); err != nil {
			return err
		}
		if res.Status.LastHandledReconcileAt != "now-1" {
			return fmt.Errorf("lastHandledReconcileAt = %q", res.Status.LastHandledReconcileAt)
		}
		return nil
	})
	if got := syncer.count(key); got != passes+1 {
		t.Errorf("requestedAt ran %d passes, want 1", got-passes)
	}

	// Suspend stops passes and says so.
	patch = client.MergeFrom(res.DeepCopy())
	res.Spec.Suspend = true
	if err := k8s.Patch(context.Background(), res, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SuspendedReason)
	})
	passes = syncer.count(key)
	patch = client.MergeFrom(res.DeepCopy())
	res.Annotations[v1alpha1.ReconcileRequestAnnotation] = "now-2"
	if err := k8s.Patch(context.Background(), res, patch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if got := syncer.count(key); got != passes {
		t.Errorf("a suspended resource ran %d passes", got-passes)
	}

	// Resuming runs a pass for the new generation.
	patch = client.MergeFrom(res.DeepCopy())
	res.Spec.Suspend = false
	if err := k8s.Patch(context.Background(), res, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason)
	})
	if got := syncer.count(key); got <= passes {
		t.Error("no pass after resuming")
	}
}

func TestResourceOutcomes(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	readyMailbox(t, ns, "mb")

	stalled := resource(t, ns, "unknown-room", "mb")
	syncer.set(ns+"/unknown-room", scriptedResult{err: &controllers.StallingError{Reason: v1alpha1.RespaResourceNotFoundReason, Err: fmt.Errorf("Respa resource %q not found", "unknown-room")}})
	partial := resource(t, ns, "partial", "mb")
	syncer.set(ns+"/partial", scriptedResult{res: controllers.SyncResult{
		Counts:      v1alpha1.SyncCounts{LinkedPairs: 3, Failed: 1},
		FailedItems: []v1alpha1.FailedItem{{Side: "Respa", Key: "AAMk-1", Reason: "Rejected", Message: "The resource is already reserved for some of the period"}},
		Changed:     true,
		Summary:     "created 2 reservations in Respa",
	}})
	mustCreate(t, stalled, partial)

	eventually(t, waitFor, func() error {
		return conditionIs(stalled, v1alpha1.StalledCondition, metav1.ConditionTrue, v1alpha1.RespaResourceNotFoundReason)
	})
	if err := conditionIs(stalled, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.RespaResourceNotFoundReason); err != nil {
		t.Error(err)
	}
	if stalled.Status.LastSuccessfulSyncTime != nil {
		t.Error("a failed pass moved lastSuccessfulSyncTime")
	}

	eventually(t, waitFor, func() error {
		return conditionIs(partial, v1alpha1.SyncedCondition, metav1.ConditionFalse, v1alpha1.PartialSyncReason)
	})
	if err := conditionIs(partial, v1alpha1.ReadyCondition, metav1.ConditionTrue, ""); err != nil {
		t.Error(err)
	}
	if len(partial.Status.FailedItems) != 1 || partial.Status.FailedItems[0].Key != "AAMk-1" {
		t.Errorf("failedItems = %+v", partial.Status.FailedItems)
	}
	eventually(t, waitFor, func() error {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		var warning, normal bool
		for _, e := range evs.Items {
			if e.Regarding.Name != "partial" {
				continue
			}
			warning = warning || (e.Type == corev1.EventTypeWarning && e.Reason == "ItemFailed" && strings.Contains(e.Note, "already reserved"))
			normal = normal || (e.Type == corev1.EventTypeNormal && e.Reason == "Synced")
		}
		if !warning || !normal {
			return fmt.Errorf("events: warning ItemFailed %v, normal Synced %v", warning, normal)
		}
		return nil
	})
}

func TestKubectlShowsColumnsAndRefusesTypos(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	readyMailbox(t, ns, "mb")
	res := resource(t, ns, "room-c", "mb")
	mustCreate(t, res)
	eventually(t, waitFor, func() error { return conditionIs(res, v1alpha1.ReadyCondition, metav1.ConditionTrue, "") })

	kubectl := testEnv.ControlPlane.KubeCtl()
	stdout, stderr, err := kubectl.Run("get", "exres", "-n", ns)
	if err != nil {
		t.Fatalf("kubectl get exres: %v: %s", err, readAll(stderr))
	}
	out := readAll(stdout)
	for _, col := range []string{"MAILBOX", "ROOM", "DIRECTION", "READY", "LINKED", "LAST SYNC", "AGE", "-room-c@example.org", "Bidirectional", "True"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get exres output lacks %q:\n%s", col, out)
		}
	}

	// A sample with a typo, applied as a user would.
	sample, err := os.ReadFile(filepath.Join("..", "config", "samples", "exchangeresource.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(sample), "resourceID:", "resourceId:", 1)
	f := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(f, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = kubectl.Run("apply", "-n", ns, "-f", f)
	if err == nil {
		t.Fatal("kubectl apply of a sample with a typo succeeded")
	}
	if msg := readAll(stderr); !strings.Contains(msg, "spec.respa.resourceId") {
		t.Errorf("kubectl's refusal does not name the field: %s", msg)
	}
}

func readAll(r io.Reader) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

// assertNoSecretIn fails when a secret value shows in the object's status or in its Events.
func assertNoSecretIn(t *testing.T, obj client.Object, secrets ...string) {
	t.Helper()
	var evs eventsv1.EventList
	if err := k8s.List(context.Background(), &evs, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	texts := []string{fmt.Sprintf("%+v", obj)}
	for _, e := range evs.Items {
		texts = append(texts, e.Note)
	}
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret value %q appears in %q", s, text)
			}
		}
	}
}

func TestMailboxChecksEndpointsWithServerWords(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)

	good := readyMailbox(t, ns, "good")
	if err := conditionIs(good, v1alpha1.ExchangeReachableCondition, metav1.ConditionTrue, v1alpha1.SucceededReason); err != nil {
		t.Error(err)
	}
	if err := conditionIs(good, v1alpha1.RespaReachableCondition, metav1.ConditionTrue, v1alpha1.SucceededReason); err != nil {
		t.Error(err)
	}
	if good.Status.ServerVersion == "" || good.Status.LastCheckTime == nil {
		t.Errorf("serverVersion %q lastCheckTime %v: want what the server reported", good.Status.ServerVersion, good.Status.LastCheckTime)
	}

	// A wrong password: Exchange answers 401, the mailbox stalls with that reason.
	wrongPw := mailbox(ns, "wrong-pw")
	wrongPw.Spec.Exchange.Auth.Basic.PasswordSecretRef.Name = "wrong-pw"
	wrongPw.Spec.Respa.CredentialsSecretRef.Name = "good-token"
	mustCreate(t, secret(ns, "wrong-pw", map[string]string{"password": "not-the-password"}), wrongPw)
	eventually(t, waitFor, func() error {
		return conditionIs(wrongPw, v1alpha1.ExchangeReachableCondition, metav1.ConditionFalse, v1alpha1.AuthenticationFailedReason)
	})
	if err := conditionIs(wrongPw, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.AuthenticationFailedReason); err != nil {
		t.Error(err)
	}
	if err := conditionIs(wrongPw, v1alpha1.StalledCondition, metav1.ConditionTrue, v1alpha1.AuthenticationFailedReason); err != nil {
		t.Error(err)
	}
	assertNoSecretIn(t, wrongPw, "not-the-password", svcPassword)

	// A room the account may not impersonate: Exchange's own fault code reaches the message.
	denied := mailbox(ns, "denied")
	denied.Spec.Exchange.Auth.Basic.PasswordSecretRef.Name = "good-pw"
	denied.Spec.Respa.CredentialsSecretRef.Name = "good-token"
	mustCreate(t, denied)
	if _, err := exSim.AddMailbox(ns+"-secret-room@example.org", "Not ours"); err != nil {
		t.Fatal(err)
	}
	r := resource(t, ns, "x", "denied")
	r.Spec.Exchange.Email = ns + "-secret-room@example.org"
	mustCreate(t, r)
	eventually(t, waitFor, func() error {
		return conditionIs(denied, v1alpha1.ExchangeReachableCondition, metav1.ConditionFalse, v1alpha1.ImpersonationDeniedReason)
	})
	if c := apimeta.FindStatusCondition(denied.Status.Conditions, v1alpha1.ExchangeReachableCondition); !strings.Contains(c.Message, "ErrorImpersonateUserDenied") {
		t.Errorf("message %q does not carry Exchange's code", c.Message)
	}
	// The resource on that mailbox does nothing and says why.
	eventually(t, waitFor, func() error {
		return conditionIs(r, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.MailboxNotReadyReason)
	})

	// A Respa token Respa does not know.
	badToken := mailbox(ns, "bad-token")
	badToken.Spec.Exchange.Auth.Basic.PasswordSecretRef.Name = "good-pw"
	badToken.Spec.Respa.CredentialsSecretRef.Name = "bad-token"
	mustCreate(t, secret(ns, "bad-token", map[string]string{"token": "unknown-token-xyz"}), badToken)
	eventually(t, waitFor, func() error {
		return conditionIs(badToken, v1alpha1.RespaReachableCondition, metav1.ConditionFalse, v1alpha1.AuthenticationFailedReason)
	})
	if err := conditionIs(badToken, v1alpha1.ExchangeReachableCondition, metav1.ConditionTrue, ""); err != nil {
		t.Error(err)
	}
	if c := apimeta.FindStatusCondition(badToken.Status.Conditions, v1alpha1.RespaReachableCondition); !strings.Contains(c.Message, "Invalid token") {
		t.Errorf("message %q does not carry Respa's words", c.Message)
	}
	assertNoSecretIn(t, badToken, "unknown-token-xyz")
}
