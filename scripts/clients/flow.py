"""A citizen's path through Mawid driven by the client openapi-python-client generated from the
served contract (scripts/clients.sh): register, verify from the mail file, sign in, read the
availability, book, reschedule, cancel, open a document request, track it, and read a 422 as a
typed problem. Any answer other than the expected one fails the run.

Usage: python flow.py BASE_URL MAIL_DIR
"""

import datetime
import pathlib
import re
import sys
import time
from http import HTTPStatus

from mawid_client import AuthenticatedClient, Client
from mawid_client.api.appointments import (
    post_api_v1_appointments as book,
    post_api_v1_appointments_id_cancel as cancel,
    post_api_v1_appointments_id_reschedule as reschedule,
)
from mawid_client.api.auth import (
    post_api_v1_auth_login as login,
    post_api_v1_auth_register as register,
    post_api_v1_auth_verify_email as verify_email,
)
from mawid_client.api.catalogue import (
    get_api_v1_offices as offices,
    get_api_v1_offices_id_availability as availability,
    get_api_v1_services as services,
)
from mawid_client.api.document_requests import (
    get_api_v1_track_tracking_number as track,
    post_api_v1_document_requests as new_document_request,
)
from mawid_client.models import (
    Appointment,
    ApplicantWrite,
    Availability,
    BookingRequest,
    CancelRequest,
    CancelledBy,
    DocumentRequestApplicantInput,
    Language,
    LoginRequest,
    NewDocumentRequest,
    Problem,
    ProblemCode,
    RegisterRequest,
    RescheduleRequest,
    TokenPair,
    TokenRequest,
    TrackedDocumentRequest,
)

base_url, mail_dir = sys.argv[1], pathlib.Path(sys.argv[2])
email = f"python-{int(time.time())}@clients.test"
password = "python-client-pass"


def expect(response, status, kind=None):
    """The parsed body of a response with the expected status (and model), or exit."""
    if response.status_code != status or (kind is not None and not isinstance(response.parsed, kind)):
        sys.exit(f"python client: expected {status}, got {response.status_code}: {response.content!r}")
    return response.parsed


def verification_token():
    """The code in the decoded copy of the verification mail; the mail worker polls every second."""
    for _ in range(60):
        for txt in sorted(mail_dir.glob("*.txt")):
            text = txt.read_text()
            if f"\nTo: {email}\n" in f"\n{text}":
                found = re.search(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", text)
                if found:
                    return found.group(0)
        time.sleep(0.5)
    sys.exit("python client: no verification mail")


public = Client(base_url=base_url)
expect(
    register.sync_detailed(
        client=public,
        body=RegisterRequest(
            email=email, password=password, full_name="عمر الحلبي", preferred_language=Language.AR
        ),
    ),
    HTTPStatus.ACCEPTED,
)
expect(verify_email.sync_detailed(client=public, body=TokenRequest(token=verification_token())), HTTPStatus.NO_CONTENT)
pair = expect(login.sync_detailed(client=public, body=LoginRequest(email=email, password=password)), HTTPStatus.OK, TokenPair)
citizen = AuthenticatedClient(base_url=base_url, token=pair.access_token)

office = expect(offices.sync_detailed(client=public), HTTPStatus.OK).items[0]
catalogue = {s.code: s for s in expect(services.sync_detailed(client=public), HTTPStatus.OK).items}
attorney, birth = catalogue["power-of-attorney"], catalogue["civil-registry-birth"]

today = datetime.date.today()
free = expect(
    availability.sync_detailed(
        office.id,
        client=public,
        service_id=attorney.id,
        from_=today + datetime.timedelta(days=3),
        to=today + datetime.timedelta(days=30),
    ),
    HTTPStatus.OK,
    Availability,
)
if len(free.slots) < 2:
    sys.exit(f"python client: {len(free.slots)} free slots, need two")

booked = expect(
    book.sync_detailed(
        client=citizen,
        body=BookingRequest(
            office_id=office.id,
            service_id=attorney.id,
            start=free.slots[0].start,
            applicant=ApplicantWrite(passport_number="N1234567"),
        ),
    ),
    HTTPStatus.CREATED,
    Appointment,
)
moved = expect(
    reschedule.sync_detailed(booked.id, client=citizen, body=RescheduleRequest(start=free.slots[1].start)),
    HTTPStatus.OK,
    Appointment,
)
if moved.start != free.slots[1].start or moved.cancelled_by is not None:
    sys.exit(f"python client: rescheduled to {moved.start}")
cancelled = expect(
    cancel.sync_detailed(booked.id, client=citizen, body=CancelRequest(reason="plans changed")),
    HTTPStatus.OK,
    Appointment,
)
if cancelled.status != "cancelled" or cancelled.cancelled_by is not CancelledBy.CITIZEN:
    sys.exit(f"python client: cancel answered {cancelled.status} by {cancelled.cancelled_by}")

born = datetime.date(1990, 5, 1)
opened = expect(
    new_document_request.sync_detailed(
        client=citizen,
        body=NewDocumentRequest(
            office_id=office.id,
            service_id=birth.id,
            applicant=DocumentRequestApplicantInput(full_name="عمر الحلبي", date_of_birth=born),
        ),
    ),
    HTTPStatus.CREATED,
)
tracked = expect(
    track.sync_detailed(opened.tracking_number, client=public, date_of_birth=born),
    HTTPStatus.OK,
    TrackedDocumentRequest,
)
if tracked.status != "submitted" or len(opened.history) != 1:
    sys.exit(f"python client: tracked as {tracked.status}")

# A range ending before it starts: a 422 the client reads as a Problem with its code.
problem = expect(
    availability.sync_detailed(office.id, client=public, service_id=attorney.id, from_=today, to=today - datetime.timedelta(days=1)),
    HTTPStatus.UNPROCESSABLE_ENTITY,
    Problem,
)
if problem.code is not ProblemCode.INVALID_RANGE:
    sys.exit(f"python client: 422 with code {problem.code}")

print(f"python client: flow passed (booked {booked.reference}, tracked {tracked.tracking_number})")
