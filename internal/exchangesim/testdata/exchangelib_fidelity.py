"""Drive the Exchange simulator with exchangelib, a widely used EWS client.

Usage: exchangelib_fidelity.py ENDPOINT USER PASSWORD ROOM START END

Connects with Basic auth and impersonation, lists a calendar view, then
creates, updates and deletes calendar items. Prints one JSON object with
what it saw and did, for the Go test to check against the admin API.
"""
import datetime
import json
import sys

from exchangelib import (BASIC, Account, CalendarItem, Configuration, Credentials, EWSDateTime,
                         ExtendedProperty, IMPERSONATION, UTC)
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter


class ResvId(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "ResvId"
    property_type = "String"


def main():
    endpoint, user, password, room, start, end = sys.argv[1:7]
    # The simulator speaks plain HTTP on 127.0.0.1; exchangelib takes the
    # endpoint as given. The no-verify adapter keeps it from insisting on
    # certificates should a proxy or redirect turn up TLS.
    BaseProtocol.HTTP_ADAPTER_CLS = NoVerifyHTTPAdapter
    CalendarItem.register("resv_id", ResvId)
    config = Configuration(service_endpoint=endpoint, credentials=Credentials(user, password), auth_type=BASIC)
    account = Account(primary_smtp_address=room, config=config, autodiscover=False, access_type=IMPERSONATION)
    out = {"version": str(account.version.api_version)}

    tz = UTC
    view_start = EWSDateTime.from_datetime(datetime.datetime.fromisoformat(start)).astimezone(tz)
    view_end = EWSDateTime.from_datetime(datetime.datetime.fromisoformat(end)).astimezone(tz)
    seen = []
    for item in account.calendar.view(start=view_start, end=view_end):
        seen.append({"id": item.id, "subject": item.subject, "start": item.start.isoformat(),
                     "type": item.type, "uid": item.uid})
    out["view"] = seen

    created = CalendarItem(account=account, folder=account.calendar, subject="Created by exchangelib",
                           start=view_start + datetime.timedelta(hours=30),
                           end=view_start + datetime.timedelta(hours=31), location="Room 1",
                           body="Booked through exchangelib", resv_id="resv-42")
    created.save(send_meeting_invitations="SendToNone")
    out["created"] = {"id": created.id, "changekey": created.changekey}

    to_update = CalendarItem(account=account, folder=account.calendar, subject="To be renamed",
                             start=view_start + datetime.timedelta(hours=50),
                             end=view_start + datetime.timedelta(hours=51))
    to_update.save(send_meeting_invitations="SendToNone")
    to_update.subject = "Renamed by exchangelib"
    to_update.end = view_start + datetime.timedelta(hours=52)
    to_update.save(update_fields=["subject", "end"], send_meeting_invitations="SendToNone")
    out["updated"] = {"id": to_update.id, "changekey": to_update.changekey}

    to_delete = CalendarItem(account=account, folder=account.calendar, subject="To be deleted",
                             start=view_start + datetime.timedelta(hours=70),
                             end=view_start + datetime.timedelta(hours=71))
    to_delete.save(send_meeting_invitations="SendToNone")
    deleted_id = to_delete.id
    to_delete.delete(send_meeting_cancellations="SendToNone")
    out["deleted"] = {"id": deleted_id}

    fetched = account.calendar.get(id=created.id, changekey=created.changekey)
    out["fetched"] = {"subject": fetched.subject, "resv_id": fetched.resv_id, "location": fetched.location}

    # Catch-up sync: every item of the calendar arrives as a Create, over
    # several rounds of two changes each.
    out["sync"] = [change_type for change_type, _ in account.calendar.sync_items(max_changes_returned=2)]

    # Streaming notifications: the Go test books the room while the stream is
    # open; the stream ends with ConnectionStatus Closed after the timeout.
    subscription_id = account.calendar.subscribe_to_streaming()
    events = []
    for notification in account.calendar.get_streaming_events(subscription_id, connection_timeout=1):
        for event in notification.events:
            events.append(type(event).__name__)
    account.calendar.unsubscribe(subscription_id)
    out["stream"] = events
    print(json.dumps(out))


if __name__ == "__main__":
    main()
