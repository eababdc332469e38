package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/metrics"
)

// Syncer runs one sync pass for a resource: list both sides in the window, plan, write, keep
// the ledger. The sync engine implements it; tests drive the reconciler with their own.
type Syncer interface {
	Sync(ctx context.Context, req SyncRequest) (SyncResult, error)
}

// SyncRequest is what a pass needs.
type SyncRequest struct {
	Resource    *v1alpha1.ExchangeResource
	Mailbox     *v1alpha1.ExchangeMailbox
	Credentials *MailboxCredentials
	// AcknowledgedMassDeletion is the token from the acknowledge annotation, if any.
	AcknowledgedMassDeletion string
}

// SyncResult is what a pass found and did. Per-item failures are in FailedItems and do not
// make the pass fail; an error returned next to a result means the pass did not complete.
type SyncResult struct {
	Counts         v1alpha1.SyncCounts
	FailedItems    []v1alpha1.FailedItem
	PlannedActions []v1alpha1.PlannedAction
	// MassDeletion is set when the guard held deletions back.
	MassDeletion *v1alpha1.MassDeletionStatus
	// Changed is true when the pass wrote anything.
	Changed bool
	// Summary is one line for the Normal event of a pass that changed something.
	Summary string
}

// ExchangeResourceReconciler runs sync passes for ExchangeResources at their resync interval,
// on demand (requestedAt) and when their spec or mailbox changes.
type ExchangeResourceReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Syncer   Syncer
	// Credentials are the ones the mailbox controller resolved.
	Credentials *CredentialCache
	// APIReader reads Secrets when the cache has no credentials yet (right after a restart).
	APIReader               client.Reader
	Clock                   clock.PassiveClock
	MaxConcurrentReconciles int
	// Feed, when set, learns the rooms to watch, triggers passes on changes and supplies
	// status.stream.
	Feed ChangeFeed
}

// +kubebuilder:rbac:groups=respa-exchange.io,resources=exchangeresources,verbs=get;list;watch
// +kubebuilder:rbac:groups=respa-exchange.io,resources=exchangeresources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller and the mailboxRef index.
func (r *ExchangeResourceReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.ExchangeResource{}, mailboxRefIndex, func(o client.Object) []string {
		return []string{o.(*v1alpha1.ExchangeResource).Spec.MailboxRef.Name}
	}); err != nil {
		return fmt.Errorf("index resources by mailbox: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ExchangeResource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1alpha1.ExchangeMailbox{}, handler.EnqueueRequestsFromMapFunc(r.resourcesOfMailbox), builder.WithPredicates(mailboxReadinessChanged{}))
	if r.Feed != nil {
		b = b.WatchesRawSource(source.Channel(r.Feed.ResourceEvents(), &handler.EnqueueRequestForObject{}))
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Complete(r)
}

func (r *ExchangeResourceReconciler) resourcesOfMailbox(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsByIndex(ctx, r.Client, &v1alpha1.ExchangeResourceList{}, o.GetNamespace(), mailboxRefIndex, o.GetName())
}

// mailboxReadinessChanged passes mailbox events that can change what its resources do: creation,
// deletion, a new generation, or a change of its Ready condition.
type mailboxReadinessChanged struct{ predicate.Funcs }

func (mailboxReadinessChanged) Create(event.CreateEvent) bool   { return true }
func (mailboxReadinessChanged) Delete(event.DeleteEvent) bool   { return true }
func (mailboxReadinessChanged) Generic(event.GenericEvent) bool { return false }
func (mailboxReadinessChanged) Update(e event.UpdateEvent) bool {
	o, n := e.ObjectOld.(*v1alpha1.ExchangeMailbox), e.ObjectNew.(*v1alpha1.ExchangeMailbox)
	if o.Generation != n.Generation {
		return true
	}
	oc, nc := conditionOf(o, v1alpha1.ReadyCondition), conditionOf(n, v1alpha1.ReadyCondition)
	if (oc == nil) != (nc == nil) {
		return true
	}
	return oc != nil && (oc.Status != nc.Status || oc.Reason != nc.Reason)
}

// Reconcile decides whether a pass is due, runs it, and writes the status once at the end.
func (r *ExchangeResourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	res := &v1alpha1.ExchangeResource{}
	if err := r.Get(ctx, req.NamespacedName, res); err != nil {
		if client.IgnoreNotFound(err) == nil {
			if r.Feed != nil {
				r.Feed.Untrack(req.NamespacedName)
			}
			metrics.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !res.DeletionTimestamp.IsZero() {
		// The ledger ConfigMap is owned by the resource and goes with it.
		if r.Feed != nil {
			r.Feed.Untrack(req.NamespacedName)
		}
		return ctrl.Result{}, nil
	}
	patcher := newStatusPatcher(r.Client, res)
	before := conditionOf(res, v1alpha1.ReadyCondition).DeepCopy()
	defer func() {
		if err := patcher.patch(ctx, res); err != nil && retErr == nil {
			result, retErr = ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
		recordReadyTransition(r.Recorder, res, before)
	}()

	if res.Spec.Suspend {
		if r.Feed != nil {
			r.Feed.Untrack(req.NamespacedName)
			res.Status.Stream = nil
		}
		setCondition(res, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SuspendedReason, "sync is suspended (spec.suspend)")
		removeCondition(res, v1alpha1.ReconcilingCondition)
		res.Status.ObservedGeneration = res.Generation
		return ctrl.Result{}, nil
	}

	mb, err := r.readyMailbox(ctx, res)
	if err != nil {
		if r.Feed != nil {
			// The flood gate: no subscriptions or polls for a mailbox that is not Ready.
			r.Feed.Untrack(req.NamespacedName)
			res.Status.Stream = nil
		}
		return r.finish(res, err, 0), nil
	}

	interval := durationOr(res.Spec.ResyncInterval.Duration, 15*time.Minute)
	requested, forced := v1alpha1.ReconcileRequestedAt(res)
	forced = forced && requested != res.Status.LastHandledReconcileAt
	changed := false
	if r.Feed != nil {
		r.Feed.Track(res, mb)
		res.Status.Stream = r.Feed.ResourceStream(req.NamespacedName)
		changed = r.Feed.TakeChanged(req.NamespacedName)
	}
	if due := r.dueIn(res, interval); due > 0 && !forced && !changed && res.Status.ObservedGeneration == res.Generation {
		return ctrl.Result{RequeueAfter: due}, nil
	}
	if res.Status.ObservedGeneration != res.Generation {
		setCondition(res, v1alpha1.ReconcilingCondition, metav1.ConditionTrue, v1alpha1.ProgressingReason, fmt.Sprintf("syncing generation %d", res.Generation))
		if err := patcher.patch(ctx, res); err != nil {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
	}

	creds, err := r.credentials(ctx, mb)
	if err != nil {
		return r.finish(res, err, interval), nil
	}
	syncReq := SyncRequest{Resource: res, Mailbox: mb, Credentials: creds}
	syncReq.AcknowledgedMassDeletion = res.Annotations[v1alpha1.AcknowledgeMassDeletionAnnotation]
	syncRes, syncErr := r.Syncer.Sync(ctx, syncReq)
	if forced {
		res.Status.LastHandledReconcileAt = requested
	}
	r.recordPass(res, syncRes, syncErr)
	return r.finish(res, syncErr, interval), r.retryable(syncErr)
}

// readyMailbox returns the resource's mailbox when it is Ready: the flood gate that keeps a
// resource from calling anything while its mailbox cannot.
func (r *ExchangeResourceReconciler) readyMailbox(ctx context.Context, res *v1alpha1.ExchangeResource) (*v1alpha1.ExchangeMailbox, error) {
	mb := &v1alpha1.ExchangeMailbox{}
	key := types.NamespacedName{Namespace: res.Namespace, Name: res.Spec.MailboxRef.Name}
	if err := r.Get(ctx, key, mb); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, waiting(v1alpha1.MailboxNotFoundReason, 0, "ExchangeMailbox %q not found in namespace %q", key.Name, key.Namespace)
		}
		return nil, fmt.Errorf("get ExchangeMailbox %q: %w", key.Name, err)
	}
	if ready := conditionOf(mb, v1alpha1.ReadyCondition); ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != mb.Generation {
		msg := fmt.Sprintf("ExchangeMailbox %q is not ready", mb.Name)
		if ready != nil && ready.Status != metav1.ConditionTrue {
			msg += fmt.Sprintf(": %s: %s", ready.Reason, ready.Message)
		}
		return nil, waiting(v1alpha1.MailboxNotReadyReason, 0, "%s", msg)
	}
	return mb, nil
}

func (r *ExchangeResourceReconciler) credentials(ctx context.Context, mb *v1alpha1.ExchangeMailbox) (*MailboxCredentials, error) {
	key := types.NamespacedName{Namespace: mb.Namespace, Name: mb.Name}
	if r.Credentials != nil {
		if c, ok := r.Credentials.Get(key, mb.Generation); ok {
			return c, nil
		}
	}
	if r.APIReader == nil {
		return nil, waiting(v1alpha1.MailboxNotReadyReason, 5*time.Second, "credentials of ExchangeMailbox %q are not resolved yet", mb.Name)
	}
	c, err := resolveCredentials(ctx, r.APIReader, mb)
	if err != nil {
		return nil, waiting(v1alpha1.MailboxNotReadyReason, 30*time.Second, "ExchangeMailbox %q: %v", mb.Name, err)
	}
	if r.Credentials != nil {
		r.Credentials.Put(key, mb.Generation, c)
	}
	return c, nil
}

// dueIn is how long until the next pass is due: the resync interval measured from the end of
// the last pass. Zero or less means now.
func (r *ExchangeResourceReconciler) dueIn(res *v1alpha1.ExchangeResource, interval time.Duration) time.Duration {
	if res.Status.LastSyncTime == nil {
		return 0
	}
	return res.Status.LastSyncTime.Add(interval).Sub(r.Clock.Now())
}

// recordPass writes what the pass found into the status and emits its Events.
func (r *ExchangeResourceReconciler) recordPass(res *v1alpha1.ExchangeResource, sr SyncResult, err error) {
	now := metav1.NewTime(r.Clock.Now())
	res.Status.LastSyncTime = &now
	if err != nil {
		// A pass that did not complete tells nothing reliable about counts; keep the last ones.
		return
	}
	res.Status.LastSuccessfulSyncTime = &now
	newFailures := failuresNotIn(sr.FailedItems, res.Status.FailedItems)
	res.Status.Counts = sr.Counts
	res.Status.FailedItems = boundFailed(sr.FailedItems)
	res.Status.PlannedActions = nil
	if res.Spec.DryRun {
		res.Status.PlannedActions = boundPlanned(sr.PlannedActions)
	}
	res.Status.MassDeletion = sr.MassDeletion
	if r.Recorder == nil {
		return
	}
	if sr.Changed {
		r.Recorder.Eventf(res, nil, corev1.EventTypeNormal, "Synced", "Sync", "%s", sr.Summary)
	}
	for _, f := range newFailures {
		r.Recorder.Eventf(res, nil, corev1.EventTypeWarning, "ItemFailed", "Sync", "%s %s: %s: %s", f.Side, f.Key, f.Reason, scrub(f.Message))
	}
	if sr.MassDeletion != nil && res.Status.MassDeletion != nil {
		md := sr.MassDeletion
		r.Recorder.Eventf(res, nil, corev1.EventTypeWarning, v1alpha1.MassDeletionBlockedReason, "Sync",
			"held back %d deletions of %d linked bookings in %s; to allow them, annotate with %s=%s", md.Planned, md.Linked, md.Side, v1alpha1.AcknowledgeMassDeletionAnnotation, md.Token)
	}
}

// finish sets the conditions from the pass's outcome and says when to come back.
func (r *ExchangeResourceReconciler) finish(res *v1alpha1.ExchangeResource, err error, interval time.Duration) ctrl.Result {
	out := classify(err, v1alpha1.SyncFailedReason)
	removeCondition(res, v1alpha1.ReconcilingCondition)
	res.Status.ObservedGeneration = res.Generation
	if out.reason != "" {
		setCondition(res, v1alpha1.ReadyCondition, metav1.ConditionFalse, out.reason, out.message)
		if out.stalled {
			setCondition(res, v1alpha1.StalledCondition, metav1.ConditionTrue, out.reason, out.message)
		} else {
			removeCondition(res, v1alpha1.StalledCondition)
		}
		switch {
		case out.reason == v1alpha1.MailboxNotFoundReason || out.reason == v1alpha1.MailboxNotReadyReason:
			// The mailbox watch brings the resource back when the mailbox changes.
			removeCondition(res, v1alpha1.SyncedCondition)
			return ctrl.Result{RequeueAfter: out.requeueAfter}
		case out.stalled:
			setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionFalse, out.reason, out.message)
			return ctrl.Result{RequeueAfter: jitter(interval)}
		default:
			setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionFalse, out.reason, out.message)
			return ctrl.Result{RequeueAfter: out.requeueAfter}
		}
	}
	removeCondition(res, v1alpha1.StalledCondition)
	c := res.Status.Counts
	switch {
	case res.Spec.DryRun:
		setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionFalse, v1alpha1.DryRunReason, fmt.Sprintf("dry run: %d actions planned, nothing written; see status.plannedActions", len(res.Status.PlannedActions)))
	case res.Status.MassDeletion != nil:
		md := res.Status.MassDeletion
		setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionFalse, v1alpha1.MassDeletionBlockedReason,
			fmt.Sprintf("held back %d deletions of %d linked bookings in %s; to allow them, annotate with %s=%s", md.Planned, md.Linked, md.Side, v1alpha1.AcknowledgeMassDeletionAnnotation, md.Token))
	case c.Failed > 0:
		setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionFalse, v1alpha1.PartialSyncReason, fmt.Sprintf("%d items failed; see status.failedItems", c.Failed))
	default:
		setCondition(res, v1alpha1.SyncedCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, fmt.Sprintf("%d linked pairs in sync", c.LinkedPairs))
	}
	msg := fmt.Sprintf("%d linked pairs, %d Exchange items, %d Respa reservations", c.LinkedPairs, c.ExchangeItems, c.RespaReservations)
	if c.Failed > 0 {
		msg += fmt.Sprintf(", %d failed", c.Failed)
	}
	if c.Skipped > 0 {
		msg += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	setCondition(res, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason, msg)
	return ctrl.Result{RequeueAfter: jitter(interval)}
}

// retryable returns the error for controller-runtime's backoff when it is neither stalling
// nor waiting.
func (r *ExchangeResourceReconciler) retryable(err error) error {
	return classify(err, v1alpha1.SyncFailedReason).retErr
}

const (
	maxFailedItems   = 20
	maxPlannedAction = 50
)

func boundFailed(items []v1alpha1.FailedItem) []v1alpha1.FailedItem {
	if len(items) > maxFailedItems {
		items = items[:maxFailedItems]
	}
	out := make([]v1alpha1.FailedItem, len(items))
	for i, f := range items {
		f.Message = scrub(f.Message)
		out[i] = f
	}
	return out
}

func boundPlanned(items []v1alpha1.PlannedAction) []v1alpha1.PlannedAction {
	if len(items) > maxPlannedAction {
		items = items[:maxPlannedAction]
	}
	return append([]v1alpha1.PlannedAction(nil), items...)
}

// failuresNotIn returns the failures that were not already reported, so that a booking Respa
// keeps refusing gives one Warning, not one per pass.
func failuresNotIn(now, before []v1alpha1.FailedItem) []v1alpha1.FailedItem {
	seen := map[string]bool{}
	for _, f := range before {
		seen[f.Side+"\x00"+f.Key+"\x00"+f.Reason] = true
	}
	var out []v1alpha1.FailedItem
	for _, f := range now {
		if !seen[f.Side+"\x00"+f.Key+"\x00"+f.Reason] {
			out = append(out, f)
		}
	}
	return out
}
