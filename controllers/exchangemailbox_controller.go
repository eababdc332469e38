package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
)

const (
	// secretNamesIndex indexes ExchangeMailboxes by the names of the Secrets they reference.
	secretNamesIndex = ".spec.secretNames"
	// mailboxRefIndex indexes ExchangeResources by spec.mailboxRef.name.
	mailboxRefIndex = ".spec.mailboxRef.name"
)

// EndpointChecker proves that a mailbox's endpoints accept its credentials. Each method
// returns nil, a StallingError (the credentials or the configuration are wrong) or another error
// (the endpoint could not be reached); the message carries the server's own words.
type EndpointChecker interface {
	// CheckExchange calls the EWS endpoint as the mailbox's account. room is the SMTP address of
	// one room that uses the mailbox, or empty; with it the check proves impersonation too. It
	// returns the server version the server reported.
	CheckExchange(ctx context.Context, mb *v1alpha1.ExchangeMailbox, creds *MailboxCredentials, room string) (serverVersion string, err error)
	// CheckRespa calls the Respa API with the token.
	CheckRespa(ctx context.Context, mb *v1alpha1.ExchangeMailbox, creds *MailboxCredentials) error
}

// ExchangeMailboxReconciler checks that a mailbox's Secrets are present and well formed and
// that both endpoints accept them, and reports it in conditions.
type ExchangeMailboxReconciler struct {
	client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Checker checks the endpoints; without one the mailbox is Ready once its Secrets are.
	Checker EndpointChecker
	// Credentials receives the resolved credentials of each Ready mailbox, so resources can use
	// them without reading Secrets again. May be nil.
	Credentials *CredentialCache
	// Forget, when set, drops what other parts keep for a deleted mailbox (its clients).
	Forget func(types.NamespacedName)
	// MaxConcurrentReconciles bounds parallel reconciles.
	MaxConcurrentReconciles int
	// Feed, when set, supplies status.stream and enqueues the mailbox when it changes.
	Feed ChangeFeed
}

// +kubebuilder:rbac:groups=respa-exchange.io,resources=exchangemailboxes,verbs=get;list;watch
// +kubebuilder:rbac:groups=respa-exchange.io,resources=exchangemailboxes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller, the Secret index and the metadata-only Secret watch.
func (r *ExchangeMailboxReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.ExchangeMailbox{}, secretNamesIndex, func(o client.Object) []string {
		return o.(*v1alpha1.ExchangeMailbox).SecretNames()
	}); err != nil {
		return fmt.Errorf("index mailboxes by secret: %w", err)
	}
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ExchangeMailbox{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(secretMeta, handler.EnqueueRequestsFromMapFunc(r.mailboxesForSecret), builder.OnlyMetadata).
		Watches(&v1alpha1.ExchangeResource{}, handler.EnqueueRequestsFromMapFunc(mailboxOfResource), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	if r.Feed != nil {
		b = b.WatchesRawSource(source.Channel(r.Feed.MailboxEvents(), &handler.EnqueueRequestForObject{}))
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Complete(r)
}

func (r *ExchangeMailboxReconciler) mailboxesForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsByIndex(ctx, r.Client, &v1alpha1.ExchangeMailboxList{}, o.GetNamespace(), secretNamesIndex, o.GetName())
}

// mailboxOfResource enqueues the mailbox a resource uses, so its resource count stays right.
func mailboxOfResource(_ context.Context, o client.Object) []reconcile.Request {
	res := o.(*v1alpha1.ExchangeResource)
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: res.Namespace, Name: res.Spec.MailboxRef.Name}}}
}

// Reconcile runs the mailbox's steps in order and writes the status once at the end.
func (r *ExchangeMailboxReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	mb := &v1alpha1.ExchangeMailbox{}
	if err := r.Get(ctx, req.NamespacedName, mb); err != nil {
		if client.IgnoreNotFound(err) == nil {
			if r.Credentials != nil {
				r.Credentials.Forget(req.NamespacedName)
			}
			metrics.ForgetStream(req.Namespace, req.Name)
			if r.Forget != nil {
				r.Forget(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !mb.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	patcher := newStatusPatcher(r.Client, mb)
	before := conditionOf(mb, v1alpha1.ReadyCondition).DeepCopy()
	defer func() {
		if err := patcher.patch(ctx, mb); err != nil && retErr == nil {
			result, retErr = ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
		recordReadyTransition(r.Recorder, mb, before)
	}()

	if v, ok := v1alpha1.ReconcileRequestedAt(mb); ok {
		mb.Status.LastHandledReconcileAt = v
	}
	if r.Feed != nil {
		mb.Status.Stream = r.Feed.MailboxStream(req.NamespacedName)
		if st := mb.Status.Stream; st != nil {
			mode := metrics.StreamPolling
			if st.Mode == "Streaming" {
				mode = metrics.StreamStreaming
			}
			metrics.SetStreamState(mb.Namespace, mb.Name, mode)
		}
	}
	if mb.Spec.Suspend {
		setCondition(mb, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SuspendedReason, "reconciliation is suspended (spec.suspend)")
		removeCondition(mb, v1alpha1.ReconcilingCondition)
		mb.Status.ObservedGeneration = mb.Generation
		return ctrl.Result{}, nil
	}

	out := classify(r.reconcileSteps(ctx, mb), v1alpha1.UnreachableReason)
	mb.Status.ObservedGeneration = mb.Generation
	removeCondition(mb, v1alpha1.ReconcilingCondition)
	interval := durationOr(mb.Spec.Interval.Duration, 5*time.Minute)
	if out.reason == "" {
		removeCondition(mb, v1alpha1.StalledCondition)
		setCondition(mb, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, "credentials resolved and endpoints answer")
		return ctrl.Result{RequeueAfter: jitter(interval)}, nil
	}
	if r.Credentials != nil {
		r.Credentials.Forget(req.NamespacedName)
	}
	setCondition(mb, v1alpha1.ReadyCondition, metav1.ConditionFalse, out.reason, out.message)
	if out.stalled {
		setCondition(mb, v1alpha1.StalledCondition, metav1.ConditionTrue, out.reason, out.message)
		return ctrl.Result{}, nil
	}
	removeCondition(mb, v1alpha1.StalledCondition)
	if out.retErr != nil {
		// Unreachable endpoints are checked again at the interval rather than with the
		// workqueue's fast backoff: the condition already says what is wrong.
		log.FromContext(ctx).Info("mailbox not ready", "reason", out.reason, "message", out.message)
		return ctrl.Result{RequeueAfter: jitter(min(interval, time.Minute))}, nil
	}
	return ctrl.Result{RequeueAfter: out.requeueAfter}, nil
}

// reconcileSteps resolves credentials, checks the endpoints and counts the resources.
func (r *ExchangeMailboxReconciler) reconcileSteps(ctx context.Context, mb *v1alpha1.ExchangeMailbox) error {
	var resources v1alpha1.ExchangeResourceList
	if err := r.List(ctx, &resources, client.InNamespace(mb.Namespace), client.MatchingFields{mailboxRefIndex: mb.Name}); err != nil {
		return fmt.Errorf("list resources of mailbox: %w", err)
	}
	mb.Status.Resources = int32(len(resources.Items))

	creds, err := resolveCredentials(ctx, r.APIReader, mb)
	if err != nil {
		var s *StallingError
		reason, msg := v1alpha1.UnreachableReason, scrub(err.Error())
		if asStalling(err, &s) {
			reason = s.Reason
		}
		setCondition(mb, v1alpha1.CredentialsValidCondition, metav1.ConditionFalse, reason, msg)
		return err
	}
	setCondition(mb, v1alpha1.CredentialsValidCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, "every referenced Secret key is present and well formed")

	if r.Checker != nil {
		now := metav1.Now()
		mb.Status.LastCheckTime = &now
		room := ""
		for _, res := range resources.Items {
			if !res.Spec.Suspend {
				room = res.Spec.Exchange.Email
				break
			}
		}
		version, exErr := r.Checker.CheckExchange(ctx, mb, creds, room)
		if exErr != nil {
			setCondition(mb, v1alpha1.ExchangeReachableCondition, metav1.ConditionFalse, reasonOf(exErr, v1alpha1.UnreachableReason), scrub(exErr.Error()))
		} else {
			mb.Status.ServerVersion = version
			msg := "EWS endpoint accepted the credentials"
			if room != "" {
				msg += " and access to " + room
			}
			setCondition(mb, v1alpha1.ExchangeReachableCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, msg)
		}
		rsErr := r.Checker.CheckRespa(ctx, mb, creds)
		if rsErr != nil {
			setCondition(mb, v1alpha1.RespaReachableCondition, metav1.ConditionFalse, reasonOf(rsErr, v1alpha1.UnreachableReason), scrub(rsErr.Error()))
		} else {
			setCondition(mb, v1alpha1.RespaReachableCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, "Respa API accepted the token")
		}
		if exErr != nil {
			return fmt.Errorf("exchange: %w", exErr)
		}
		if rsErr != nil {
			return fmt.Errorf("respa: %w", rsErr)
		}
	}
	if r.Credentials != nil {
		r.Credentials.Put(types.NamespacedName{Namespace: mb.Namespace, Name: mb.Name}, mb.Generation, creds)
	}
	return nil
}
