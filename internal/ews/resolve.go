package ews

import (
	"context"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// ResolveNames turns a name or an X500 (EX) address, as FindItem reports
// organizers on Exchange Online, into an SMTP mailbox. mailbox is the
// room whose identity makes the call. When several entries match, the
// first one with an SMTP address is taken.
func (c *Client) ResolveNames(ctx context.Context, mailbox, entry string) (Mailbox, error) {
	var out Mailbox
	req := c.buildResolveNames(mailbox, entry)
	err := c.do(ctx, call{op: "ResolveNames", mailbox: mailbox, idempotent: true}, req, func(env *envelope) error {
		var err error
		out, err = parseResolveNames(env)
		return err
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("resolve %q for %s: %w", entry, mailbox, err)
	}
	return out, nil
}

func (c *Client) buildResolveNames(mailbox, entry string) *request {
	r := c.newRequest(mailbox)
	rn := r.body.CreateElement("m:ResolveNames")
	rn.CreateAttr("ReturnFullContactData", "true")
	rn.CreateAttr("SearchScope", "ActiveDirectory")
	rn.CreateElement("m:UnresolvedEntry").SetText(entry)
	return r
}

func parseResolveNames(env *envelope) (Mailbox, error) {
	msgs, err := env.responseMessages("ResolveNames")
	if err != nil {
		return Mailbox{}, err
	}
	if len(msgs) == 0 {
		return Mailbox{}, &Error{Op: "ResolveNames", Code: CodeBadResponse, Message: "empty ResponseMessages"}
	}
	m := msgs[0]
	set := child(m, nsMessages, "ResolutionSet")
	// ErrorNameResolutionMultipleResults is a Warning that still carries
	// the candidates; any other non-success without them is an error.
	if set == nil || len(children(set, nsTypes, "Resolution")) == 0 {
		if err := messageError("ResolveNames", m); err != nil {
			return Mailbox{}, err
		}
		return Mailbox{}, &Error{Op: "ResolveNames", Code: CodeNameResolutionNoResults, Message: "no resolution returned"}
	}
	for _, res := range children(set, nsTypes, "Resolution") {
		if mb, ok := smtpOf(res); ok {
			return mb, nil
		}
	}
	return Mailbox{}, &Error{Op: "ResolveNames", Code: CodeNameResolutionNoResults, Message: "no resolution has an SMTP address"}
}

// smtpOf reads a Resolution's mailbox, falling back to the contact's
// "SMTP:" address when the mailbox itself is not SMTP-routed.
func smtpOf(res *etree.Element) (Mailbox, bool) {
	mb := parseMailbox(child(res, nsTypes, "Mailbox"))
	if strings.EqualFold(mb.RoutingType, "SMTP") && mb.Email != "" {
		mb.RoutingType = "SMTP"
		return mb, true
	}
	contact := child(res, nsTypes, "Contact")
	for _, e := range children(child(contact, nsTypes, "EmailAddresses"), nsTypes, "Entry") {
		if addr, ok := strings.CutPrefix(text(e), "SMTP:"); ok && addr != "" {
			name := mb.Name
			if name == "" {
				name = childText(contact, nsTypes, "DisplayName")
			}
			return Mailbox{Name: name, Email: addr, RoutingType: "SMTP"}, true
		}
	}
	return Mailbox{}, false
}

// CheckAccess proves endpoint, credentials and impersonation of mailbox
// with the cheapest real call, GetFolder of the calendar (IdOnly). The
// error carries the server's own words; the version is what the server
// reported, even alongside an error.
func (c *Client) CheckAccess(ctx context.Context, mailbox string) (ServerVersionInfo, error) {
	var version ServerVersionInfo
	req := c.buildGetFolder(mailbox)
	err := c.do(ctx, call{op: "GetFolder", mailbox: mailbox, idempotent: true}, req, func(env *envelope) error {
		version = env.version
		_, err := env.singleMessage("GetFolder")
		return err
	})
	if version.MajorVersion == 0 {
		version = c.ServerVersion()
	}
	if err != nil {
		return version, fmt.Errorf("check access to %s: %w", mailbox, err)
	}
	return version, nil
}

func (c *Client) buildGetFolder(mailbox string) *request {
	r := c.newRequest(mailbox)
	gf := r.body.CreateElement("m:GetFolder")
	gf.CreateElement("m:FolderShape").CreateElement("t:BaseShape").SetText("IdOnly")
	c.distinguishedFolder(gf.CreateElement("m:FolderIds"), "calendar", mailbox)
	return r
}

// SyncFolderItems returns the changes to the mailbox's calendar since
// syncState ("" for the first call, which reports every item as created),
// at most max of them (1–512). Ids only: read what changed with
// GetCalendarItems. Call again while IncludesLastItemInRange is false.
// ErrInvalidSyncStateData means: start again from "".
func (c *Client) SyncFolderItems(ctx context.Context, mailbox, syncState string, max int) (*SyncResult, error) {
	max = min(512, orInt(max, 512))
	var out *SyncResult
	req := c.buildSyncFolderItems(mailbox, syncState, max)
	err := c.do(ctx, call{op: "SyncFolderItems", mailbox: mailbox, idempotent: true}, req, func(env *envelope) error {
		var err error
		out, err = parseSyncFolderItems(env)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync calendar of %s: %w", mailbox, err)
	}
	return out, nil
}

func (c *Client) buildSyncFolderItems(mailbox, syncState string, max int) *request {
	r := c.newRequest(mailbox)
	sf := r.body.CreateElement("m:SyncFolderItems")
	sf.CreateElement("m:ItemShape").CreateElement("t:BaseShape").SetText("IdOnly")
	c.distinguishedFolder(sf.CreateElement("m:SyncFolderId"), "calendar", mailbox)
	if syncState != "" {
		sf.CreateElement("m:SyncState").SetText(syncState)
	}
	sf.CreateElement("m:MaxChangesReturned").SetText(fmt.Sprint(max))
	sf.CreateElement("m:SyncScope").SetText("NormalItems")
	return r
}

func parseSyncFolderItems(env *envelope) (*SyncResult, error) {
	m, err := env.singleMessage("SyncFolderItems")
	if err != nil {
		return nil, err
	}
	out := &SyncResult{
		SyncState:               childText(m, nsMessages, "SyncState"),
		IncludesLastItemInRange: childText(m, nsMessages, "IncludesLastItemInRange") != "false",
	}
	for _, ch := range child(m, nsMessages, "Changes").NotNil().ChildElements() {
		if ch.NamespaceURI() != nsTypes {
			continue
		}
		var id ItemID
		if ch.Tag == "Delete" || ch.Tag == "ReadFlagChange" {
			id = itemIDOf(child(ch, nsTypes, "ItemId"))
		} else {
			// Create and Update hold the item itself, of any item type.
			for _, it := range ch.ChildElements() {
				if e := child(it, nsTypes, "ItemId"); e != nil {
					id = itemIDOf(e)
					break
				}
			}
		}
		switch ch.Tag {
		case "Create":
			out.Created = append(out.Created, id)
		case "Update":
			out.Updated = append(out.Updated, id)
		case "Delete":
			out.Deleted = append(out.Deleted, id)
		}
	}
	return out, nil
}

// itemIDOf reads an ItemId element. Ids are trimmed: published samples
// carry stray spaces, and real ids (base64) never contain any.
func itemIDOf(e *etree.Element) ItemID {
	if e == nil {
		return ItemID{}
	}
	return ItemID{ID: strings.TrimSpace(e.SelectAttrValue("Id", "")), ChangeKey: strings.TrimSpace(e.SelectAttrValue("ChangeKey", ""))}
}
