package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
)

// WriteTable writes the mailboxes and resources of the namespace with their health, the
// same facts `kubectl get exmb,exres` shows, plus the failed items.
func WriteTable(ctx context.Context, c client.Client, namespace string, w io.Writer) error {
	var mbs v1alpha1.ExchangeMailboxList
	if err := c.List(ctx, &mbs, client.InNamespace(namespace)); err != nil {
		return err
	}
	var rs v1alpha1.ExchangeResourceList
	if err := c.List(ctx, &rs, client.InNamespace(namespace)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXCHANGEMAILBOX\tREADY\tEXCHANGE\tRESPA\tRESOURCES\tMESSAGE")
	for i := range mbs.Items {
		mb := &mbs.Items[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", mb.Name, status(mb.Status.Conditions, v1alpha1.ReadyCondition),
			status(mb.Status.Conditions, v1alpha1.ExchangeReachableCondition), status(mb.Status.Conditions, v1alpha1.RespaReachableCondition),
			mb.Status.Resources, message(mb.Status.Conditions))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "EXCHANGERESOURCE\tROOM\tREADY\tSYNCED\tLAST SYNC\tLINKED\tEXCHANGE\tRESPA\tFAILED\tMESSAGE")
	for i := range rs.Items {
		r := &rs.Items[i]
		c := r.Status.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Name, r.Spec.Exchange.Email,
			status(r.Status.Conditions, v1alpha1.ReadyCondition), status(r.Status.Conditions, v1alpha1.SyncedCondition),
			ago(r.Status.LastSyncTime), c.LinkedPairs, c.ExchangeItems, c.RespaReservations, c.Failed, message(r.Status.Conditions))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i := range rs.Items {
		for _, f := range rs.Items[i].Status.FailedItems {
			fmt.Fprintf(w, "  ! %s: %s %s: %s: %s\n", rs.Items[i].Name, f.Side, f.Key, f.Reason, f.Message)
		}
	}
	return nil
}

func status(cs []metav1.Condition, typ string) string {
	c := apimeta.FindStatusCondition(cs, typ)
	if c == nil {
		return "-"
	}
	if c.Status == metav1.ConditionTrue {
		return "True"
	}
	return string(c.Status) + " (" + c.Reason + ")"
}

// message is the Ready message, shortened for a terminal line.
func message(cs []metav1.Condition) string {
	c := apimeta.FindStatusCondition(cs, v1alpha1.ReadyCondition)
	if c == nil {
		return ""
	}
	m := strings.ReplaceAll(c.Message, "\n", " ")
	if len(m) > 100 {
		m = m[:97] + "..."
	}
	return m
}

func ago(t *metav1.Time) string {
	if t == nil {
		return "never"
	}
	return time.Since(t.Time).Round(time.Second).String() + " ago"
}
