package ews

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// Response builders for the behaviour tests and benchmarks. They use the
// prefix styles real servers use (s:, soap11:, a default namespace) so
// matching on namespace URIs is exercised, not prefixes.

const envOpen = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body>`
const envClose = `</s:Body></s:Envelope>`

func respWrap(op, messages string) []byte {
	return []byte(envOpen + `<m:` + op + `Response xmlns:m="` + nsMessages + `" xmlns:t="` + nsTypes + `"><m:ResponseMessages>` +
		messages + `</m:ResponseMessages></m:` + op + `Response>` + envClose)
}

func successMsg(op, inner string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` + inner + `</m:` + op + `ResponseMessage>`
}

func errorMsg(op, code, text string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>` + text + `</m:MessageText><m:ResponseCode>` + code +
		`</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:` + op + `ResponseMessage>`
}

func calendarItemXML(it CalendarItem) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<t:CalendarItem><t:ItemId Id="%s" ChangeKey="%s"/><t:Subject>%s</t:Subject>`, it.ItemID, it.ChangeKey, html.EscapeString(it.Subject))
	fmt.Fprintf(&b, `<t:LastModifiedTime>%s</t:LastModifiedTime>`, formatTime(it.LastModified))
	for _, k := range sortedKeys(it.ExtendedProperties) {
		fmt.Fprintf(&b, `<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="%s" PropertyName="%s" PropertyType="String"/><t:Value>%s</t:Value></t:ExtendedProperty>`,
			PropertySetID, k, html.EscapeString(it.ExtendedProperties[k]))
	}
	fmt.Fprintf(&b, `<t:UID>%s</t:UID>`, it.UID)
	if !it.RecurrenceID.IsZero() {
		fmt.Fprintf(&b, `<t:RecurrenceId>%s</t:RecurrenceId>`, formatTime(it.RecurrenceID))
	}
	fmt.Fprintf(&b, `<t:Start>%s</t:Start><t:End>%s</t:End><t:IsAllDayEvent>%t</t:IsAllDayEvent><t:Location>%s</t:Location><t:IsCancelled>%t</t:IsCancelled><t:CalendarItemType>%s</t:CalendarItemType>`,
		formatTime(it.Start), formatTime(it.End), it.IsAllDay, html.EscapeString(it.Location), it.IsCancelled, it.CalendarItemType)
	fmt.Fprintf(&b, `<t:Organizer><t:Mailbox><t:Name>%s</t:Name><t:EmailAddress>%s</t:EmailAddress><t:RoutingType>%s</t:RoutingType></t:Mailbox></t:Organizer></t:CalendarItem>`,
		html.EscapeString(it.Organizer.Name), it.Organizer.Email, it.Organizer.RoutingType)
	return b.String()
}

func findItemResponse(items []CalendarItem, complete bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<m:RootFolder TotalItemsInView="%d" IncludesLastItemInRange="%t"><t:Items>`, len(items), complete)
	for _, it := range items {
		b.WriteString(calendarItemXML(it))
	}
	b.WriteString(`</t:Items></m:RootFolder>`)
	return respWrap("FindItem", successMsg("FindItem", b.String()))
}

// genItems makes n distinct room bookings, one per hour from start.
func genItems(n int, start time.Time) []CalendarItem {
	items := make([]CalendarItem, n)
	for i := range items {
		s := start.Add(time.Duration(i) * time.Hour)
		items[i] = CalendarItem{
			ItemID: fmt.Sprintf("AAMkADk%06d=", i), ChangeKey: fmt.Sprintf("DwAAAB%04d", i),
			UID:     fmt.Sprintf("040000008200E00074C5B7101A82E008%08d", i),
			Subject: fmt.Sprintf("Booking %d & co", i), Location: "Room 101",
			Start: s, End: s.Add(45 * time.Minute), CalendarItemType: Single, LastModified: start,
			Organizer:          Mailbox{Name: "Organizer", Email: "org@example.org", RoutingType: "SMTP"},
			ExtendedProperties: map[string]string{PropertyLink: fmt.Sprintf("respa:%d", i)},
		}
	}
	return items
}

func faultBody(code, text string, backoffMs int) []byte {
	mx := ""
	if backoffMs > 0 {
		mx = fmt.Sprintf(`<t:MessageXml xmlns:t="%s"><t:Value Name="BackOffMilliseconds">%d</t:Value></t:MessageXml>`, nsTypes, backoffMs)
	}
	return []byte(`<soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body><soap11:Fault>` +
		`<faultcode xmlns:a="` + nsTypes + `">a:` + code + `</faultcode><faultstring xml:lang="en-US">` + text + `</faultstring>` +
		`<detail><e:ResponseCode xmlns:e="` + nsErrors + `">` + code + `</e:ResponseCode><e:Message xmlns:e="` + nsErrors + `">` + text + `</e:Message>` +
		mx + `</detail></soap11:Fault></soap11:Body></soap11:Envelope>`)
}
