package respa

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// GetResource reads a resource with its unit (Respa's detail view nests
// the unit). An unknown id, or one hidden from the token's user, is
// ErrNotFound: the reconciler reports it as a stalled mapping.
func (c *Client) GetResource(ctx context.Context, id string) (Resource, error) {
	var w wireResource
	ref := "resource/" + url.PathEscape(id) + "/"
	if _, err := c.do(ctx, request{method: http.MethodGet, ref: ref, out: &w}); err != nil {
		return Resource{}, fmt.Errorf("get resource %s: %w", id, err)
	}
	r, err := w.resource()
	if err != nil {
		return Resource{}, fmt.Errorf("get resource %s: %w", id, err)
	}
	return r, nil
}

// CheckAccess proves the endpoint and the token with one cheap
// authenticated read (a one-item reservation listing; Respa's /v1/user/
// accepts only JWTs, so it cannot check DRF tokens). The error says what
// is wrong: errors.Is ErrUnauthorized (bad or expired token),
// ErrForbidden, ErrUnavailable (unreachable, timing out or 5xx after
// retries) or ErrNotFound (the base URL is not Respa's API root).
// Respa lets anonymous users read, so this cannot prove the token's
// permissions, only that Respa accepts it.
func (c *Client) CheckAccess(ctx context.Context) error {
	var pg wirePage
	if _, err := c.do(ctx, request{method: http.MethodGet, ref: "reservation/?page_size=1", out: &pg}); err != nil {
		return fmt.Errorf("check Respa access: %w", err)
	}
	return nil
}
