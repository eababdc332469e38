package metrics

import "context"

type operationKey struct{}

// WithOperation names the operation of the requests made with ctx. The EWS
// client sets it for each SOAP call, because every EWS request is a POST to
// the same URL and the transport cannot tell them apart otherwise.
func WithOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// OperationFrom returns the operation WithOperation put in ctx, or "".
func OperationFrom(ctx context.Context) string {
	op, _ := ctx.Value(operationKey{}).(string)
	return op
}
