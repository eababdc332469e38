package ews

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// XML namespaces of EWS. Responses are matched on these URIs and local
// names only: servers use s:, soap:, soap11: or no prefix at all.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
	// nsSOAPDocs is the envelope namespace as Microsoft Learn rewrote it
	// (https). No server sends it, but the published samples do, so
	// responses in it are read rather than rejected.
	nsSOAPDocs = "https://schemas.xmlsoap.org/soap/envelope/"
)

// ewsTime is how every dateTime goes on the wire: UTC with a Z.
const ewsTime = "2006-01-02T15:04:05Z"

func formatTime(t time.Time) string { return t.UTC().Format(ewsTime) }

// parseTime reads an xs:dateTime; Exchange always sends a zone, but a value
// without one is taken as UTC, as Exchange2010+ does on input.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// request is one SOAP envelope under construction.
type request struct {
	doc    *etree.Document
	header *etree.Element
	body   *etree.Element
}

// newRequest starts an envelope with RequestServerVersion and, when the
// client impersonates, the ExchangeImpersonation header for mailbox.
func (c *Client) newRequest(mailbox string) *request {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	env := doc.CreateElement("soap:Envelope")
	env.CreateAttr("xmlns:soap", nsSOAP)
	env.CreateAttr("xmlns:t", nsTypes)
	env.CreateAttr("xmlns:m", nsMessages)
	h := env.CreateElement("soap:Header")
	h.CreateElement("t:RequestServerVersion").CreateAttr("Version", c.version)
	if mailbox != "" && c.impersonate {
		h.CreateElement("t:ExchangeImpersonation").
			CreateElement("t:ConnectingSID").
			CreateElement("t:SmtpAddress").SetText(mailbox)
	}
	if c.timeZoneID != "" {
		h.CreateElement("t:TimeZoneContext").CreateElement("t:TimeZoneDefinition").CreateAttr("Id", c.timeZoneID)
	}
	return &request{doc: doc, header: h, body: env.CreateElement("soap:Body")}
}

func (r *request) bytes() ([]byte, error) {
	var buf bytes.Buffer
	if _, err := r.doc.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// distinguishedFolder writes a well-known folder (the calendar) of mailbox.
// In delegate mode the mailbox is named in the folder id; with
// impersonation the header does it.
func (c *Client) distinguishedFolder(parent *etree.Element, id, mailbox string) {
	f := parent.CreateElement("t:DistinguishedFolderId")
	f.CreateAttr("Id", id)
	if !c.impersonate && mailbox != "" {
		f.CreateElement("t:Mailbox").CreateElement("t:EmailAddress").SetText(mailbox)
	}
}

func fieldURI(parent *etree.Element, uri string) {
	parent.CreateElement("t:FieldURI").CreateAttr("FieldURI", uri)
}

func extendedFieldURI(parent *etree.Element, name string) {
	e := parent.CreateElement("t:ExtendedFieldURI")
	e.CreateAttr("PropertySetId", PropertySetID)
	e.CreateAttr("PropertyName", name)
	e.CreateAttr("PropertyType", "String")
}

// is reports whether e is the element {ns}local. The cheap local-name test
// runs first; the namespace is resolved through the element's ancestors.
func is(e *etree.Element, ns, local string) bool {
	if e == nil || e.Tag != local {
		return false
	}
	uri := e.NamespaceURI()
	if ns == nsSOAP {
		return uri == nsSOAP || uri == nsSOAPDocs
	}
	return uri == ns
}

func child(e *etree.Element, ns, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if is(c, ns, local) {
			return c
		}
	}
	return nil
}

func children(e *etree.Element, ns, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

func childText(e *etree.Element, ns, local string) string { return text(child(e, ns, local)) }

func parseBool(s string) bool { return s == "true" || s == "1" }

// ServerVersionInfo is the server build Exchange puts in the SOAP header
// of every response, errors included.
type ServerVersionInfo struct {
	MajorVersion     int
	MinorVersion     int
	MajorBuildNumber int
	MinorBuildNumber int
	Version          string
}

// String renders the build as Exchange writes it, e.g. "15.1.1591.10".
func (v ServerVersionInfo) String() string {
	if v.MajorVersion == 0 {
		return ""
	}
	s := strconv.Itoa(v.MajorVersion) + "." + strconv.Itoa(v.MinorVersion) + "." +
		strconv.Itoa(v.MajorBuildNumber) + "." + strconv.Itoa(v.MinorBuildNumber)
	if v.Version != "" {
		s += " (" + v.Version + ")"
	}
	return s
}

// envelope is a parsed SOAP response.
type envelope struct {
	body    *etree.Element
	version ServerVersionInfo
}

// maxEnvelopeDepth bounds nesting; EWS responses are a dozen levels deep.
const maxEnvelopeDepth = 64

// parseEnvelope reads one SOAP envelope. A DOCTYPE is refused outright and
// encoding/xml never expands entities beyond the predefined five, so no
// entity expansion or external fetch can happen. A SOAP fault in the body
// is returned as *Error.
func parseEnvelope(op string, data []byte) (*envelope, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: maxEnvelopeDepth}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "response is not well-formed XML: " + err.Error()}
	}
	for _, t := range doc.Child {
		if _, ok := t.(*etree.Directive); ok {
			return nil, &Error{Op: op, Code: CodeBadResponse, Message: "response carries a DOCTYPE, refused"}
		}
	}
	root := doc.Root()
	if !is(root, nsSOAP, "Envelope") {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "response is not a SOAP envelope"}
	}
	env := &envelope{body: child(root, nsSOAP, "Body")}
	if h := child(root, nsSOAP, "Header"); h != nil {
		if v := child(h, nsTypes, "ServerVersionInfo"); v != nil {
			env.version = parseServerVersion(v)
		}
	}
	if env.body == nil {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "SOAP envelope has no Body"}
	}
	if f := child(env.body, nsSOAP, "Fault"); f != nil {
		return env, parseFault(op, f)
	}
	return env, nil
}

func parseServerVersion(v *etree.Element) ServerVersionInfo {
	atoi := func(k string) int { n, _ := strconv.Atoi(v.SelectAttrValue(k, "")); return n }
	return ServerVersionInfo{
		MajorVersion:     atoi("MajorVersion"),
		MinorVersion:     atoi("MinorVersion"),
		MajorBuildNumber: atoi("MajorBuildNumber"),
		MinorBuildNumber: atoi("MinorBuildNumber"),
		Version:          v.SelectAttrValue("Version", ""),
	}
}

// parseFault turns a SOAP fault into *Error. The detail's e:ResponseCode is
// preferred over the faultcode QName; both are trimmed because Exchange
// pads them with whitespace.
func parseFault(op string, f *etree.Element) *Error {
	e := &Error{Op: op, Fault: true}
	code := childText(f, "", "faultcode")
	if i := strings.LastIndexByte(code, ':'); i >= 0 {
		code = code[i+1:]
	}
	e.Code = code
	e.Message = childText(f, "", "faultstring")
	if d := child(f, "", "detail"); d != nil {
		if rc := childText(d, nsErrors, "ResponseCode"); rc != "" {
			e.Code = rc
		}
		if m := childText(d, nsErrors, "Message"); m != "" && e.Message == "" {
			e.Message = m
		}
		readMessageXML(e, child(d, nsTypes, "MessageXml"))
	}
	if e.Code == "" {
		e.Code = "SOAPFault"
	}
	return e
}

// readMessageXML copies the MessageXml details Exchange attaches to errors.
func readMessageXML(e *Error, mx *etree.Element) {
	if mx == nil {
		return
	}
	for _, c := range mx.ChildElements() {
		if c.NamespaceURI() != nsTypes {
			continue
		}
		switch c.Tag {
		case "LineNumber":
			e.Line, _ = strconv.Atoi(text(c))
		case "LinePosition":
			e.Position, _ = strconv.Atoi(text(c))
		case "Violation":
			e.Violation = text(c)
		case "Value":
			name, val := c.SelectAttrValue("Name", ""), text(c)
			switch name {
			case "BackOffMilliseconds":
				if ms, err := strconv.ParseInt(val, 10, 64); err == nil && ms > 0 {
					e.BackOff = time.Duration(ms) * time.Millisecond
				}
			case "InnerErrorResponseCode":
				e.InnerCode = val
			case "InnerErrorMessageText":
				e.InnerMessage = val
			default:
				if e.Values == nil {
					e.Values = map[string]string{}
				}
				e.Values[name] = val
			}
		}
	}
}

// responseMessages returns the ResponseMessage elements of an operation's
// response, in request order.
func (env *envelope) responseMessages(op string) ([]*etree.Element, error) {
	resp := child(env.body, nsMessages, op+"Response")
	if resp == nil {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "no " + op + "Response in the SOAP body"}
	}
	msgs := child(resp, nsMessages, "ResponseMessages")
	if msgs == nil {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "no ResponseMessages in " + op + "Response"}
	}
	var out []*etree.Element
	for _, m := range msgs.ChildElements() {
		if m.NamespaceURI() == nsMessages && strings.HasSuffix(m.Tag, "ResponseMessage") {
			out = append(out, m)
		}
	}
	return out, nil
}

// singleMessage is responseMessages for operations that answer with one.
func (env *envelope) singleMessage(op string) (*etree.Element, error) {
	msgs, err := env.responseMessages(op)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, &Error{Op: op, Code: CodeBadResponse, Message: "empty ResponseMessages"}
	}
	return msgs[0], messageError(op, msgs[0])
}

// messageError returns the *Error a ResponseMessage carries, or nil when
// its code is NoError. A Warning with another code (such as
// ErrorBatchProcessingStopped) is an error too: the item was not processed.
func messageError(op string, m *etree.Element) error {
	code := childText(m, nsMessages, "ResponseCode")
	class := m.SelectAttrValue("ResponseClass", "")
	if code == "NoError" || (code == "" && class == "Success") {
		return nil
	}
	if code == "" {
		code = "Error"
	}
	e := &Error{Op: op, Code: code, Message: childText(m, nsMessages, "MessageText")}
	readMessageXML(e, child(m, nsMessages, "MessageXml"))
	return e
}
