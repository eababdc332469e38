package exchangesim

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zone-less times in requests are read in Windows zones

	"github.com/beevik/etree"
)

// Namespaces of EWS. Requests are matched on these URIs, never on prefixes.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// child returns the first child element with the namespace URI and local name.
func child(e *etree.Element, ns, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
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
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// path walks nested children, alternating namespace URI and local name.
func path(e *etree.Element, steps ...string) *etree.Element {
	for i := 0; i+1 < len(steps) && e != nil; i += 2 {
		e = child(e, steps[i], steps[i+1])
	}
	return e
}

func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

func attr(e *etree.Element, name string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Key == name && (a.Space == "" || a.NamespaceURI() == "") {
			return a.Value
		}
	}
	return ""
}

// fmtTime writes times as Exchange does: UTC with a Z.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// parseTime accepts xs:dateTime with Z, an offset, or no zone (UTC).
func parseTime(s string) (time.Time, error) { return parseTimeIn(s, time.UTC) }

// parseTimeIn reads a zone-less value in loc; a zone in the value wins.
func parseTimeIn(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("parse dateTime %q", s)
}

// windowsZones maps the Windows time zone ids clients send in
// TimeZoneContext and StartTimeZone to IANA zones, for the common ones.
var windowsZones = map[string]string{
	"UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
	"Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
	"FLE Standard Time": "Europe/Helsinki", "E. Europe Standard Time": "Europe/Chisinau",
	"Eastern Standard Time": "America/New_York", "Central Standard Time": "America/Chicago",
	"Mountain Standard Time": "America/Denver", "Pacific Standard Time": "America/Los_Angeles",
	"Tokyo Standard Time": "Asia/Tokyo",
}

// zoneOf resolves a TimeZoneDefinition-like element's Id; nil when absent or unknown.
func zoneOf(e *etree.Element) *time.Location {
	name, ok := windowsZones[attr(e, "Id")]
	if !ok {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}

// parseDate reads an xs:date, which may carry a zone suffix.
func parseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) < 10 {
		return "", fmt.Errorf("parse date %q", s)
	}
	if _, err := time.Parse("2006-01-02", s[:10]); err != nil {
		return "", fmt.Errorf("parse date %q: %w", s, err)
	}
	return s[:10], nil
}

// envelope starts a response with the ServerVersionInfo header Exchange puts
// on every response, errors included; exchangelib reads its version from it.
func envelope() (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", nsSOAP)
	hdr := env.CreateElement("s:Header")
	svi := hdr.CreateElement("h:ServerVersionInfo")
	svi.CreateAttr("MajorVersion", "15")
	svi.CreateAttr("MinorVersion", "2")
	svi.CreateAttr("MajorBuildNumber", "1748")
	svi.CreateAttr("MinorBuildNumber", "10")
	svi.CreateAttr("Version", "V2017_07_11")
	svi.CreateAttr("xmlns:h", nsTypes)
	svi.CreateAttr("xmlns", nsTypes)
	body := env.CreateElement("s:Body")
	return doc, body
}

// responseRoot adds <m:{Op}Response><m:ResponseMessages> to a body.
func responseRoot(body *etree.Element, op string) *etree.Element {
	r := body.CreateElement("m:" + op + "Response")
	r.CreateAttr("xmlns:m", nsMessages)
	r.CreateAttr("xmlns:t", nsTypes)
	return r.CreateElement("m:ResponseMessages")
}

// ewsError is a per-item or fault-level EWS error code with its message.
type ewsError struct {
	code, text string
	xml        [][2]string // MessageXml Value Name/value pairs
}

func (e *ewsError) Error() string { return e.code + ": " + e.text }

func errf(code, format string, a ...any) *ewsError {
	return &ewsError{code: code, text: fmt.Sprintf(format, a...)}
}

var (
	errItemNotFound = func() *ewsError {
		return errf("ErrorItemNotFound", "The specified object was not found in the store.")
	}
	errConflict = func() *ewsError {
		return errf("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item., Cannot save changes made to an item to store., SaveStatus: IrresolvableConflict")
	}
)

// message adds one ResponseMessage: success when err is nil.
func message(msgs *etree.Element, op string, err *ewsError) *etree.Element {
	m := msgs.CreateElement("m:" + op + "ResponseMessage")
	if err == nil {
		m.CreateAttr("ResponseClass", "Success")
		m.CreateElement("m:ResponseCode").SetText("NoError")
		return m
	}
	m.CreateAttr("ResponseClass", "Error")
	m.CreateElement("m:MessageText").SetText(err.text)
	m.CreateElement("m:ResponseCode").SetText(err.code)
	m.CreateElement("m:DescriptiveLinkKey").SetText("0")
	if len(err.xml) > 0 {
		mx := m.CreateElement("m:MessageXml")
		for _, v := range err.xml {
			ve := mx.CreateElement("t:Value")
			ve.CreateAttr("Name", v[0])
			ve.SetText(v[1])
		}
	}
	return m
}

// faultDoc builds a SOAP fault shaped like Exchange's (faultcode a:Code,
// detail/e:ResponseCode, e:Message, t:MessageXml).
func faultDoc(code, text string, messageXML func(mx *etree.Element)) *etree.Document {
	doc, body := envelope()
	f := body.CreateElement("s:Fault")
	fc := f.CreateElement("faultcode")
	fc.CreateAttr("xmlns:a", nsTypes)
	fc.SetText("a:" + code)
	// Exchange adds xml:lang="en-US" here; the project's envelope schema has
	// no room for it, and clients ignore it.
	f.CreateElement("faultstring").SetText(text)
	d := f.CreateElement("detail")
	rc := d.CreateElement("e:ResponseCode")
	rc.CreateAttr("xmlns:e", nsErrors)
	rc.SetText(code)
	msg := d.CreateElement("e:Message")
	msg.CreateAttr("xmlns:e", nsErrors)
	msg.SetText(text)
	if messageXML != nil {
		mx := d.CreateElement("t:MessageXml")
		mx.CreateAttr("xmlns:t", nsTypes)
		messageXML(mx)
	}
	return doc
}

func childElements(e *etree.Element) []*etree.Element {
	if e == nil {
		return nil
	}
	return e.ChildElements()
}
