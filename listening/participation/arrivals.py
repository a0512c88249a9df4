"""Who a listener arriving by the study's public link says they are: the platform (Prolific,
MTurk or a direct link), its participant id, the attempt id and the platform's parameters,
read from the link's query string.

Where it sits: the welcome page (``views.entry``) parses the link with :class:`Arrival`, then
looks the listener up by cookie or by id and attempt (``selectors.external_id_attempts``).
Nothing here proves anything: an id alone is public, only the attempt id with it is not.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from listening.models import Listener

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")


class Arrival:
    """Who the link says the listener is: platform, external id and the platform's params."""

    def __init__(self, query) -> None:
        self.preview = False
        self.error = ""
        #: The platform's id of this attempt: Prolific SESSION_ID, MTurk assignmentId.
        self.attempt_id = ""
        get = {key: (query.get(key) or "").strip() for key in query}
        if get.get("PROLIFIC_PID"):
            self.platform = Listener.Platform.PROLIFIC
            self.external_id = get["PROLIFIC_PID"]
            keys = ("STUDY_ID", "SESSION_ID")
            self.attempt_id = get.get("SESSION_ID", "")
        elif get.get("workerId") or get.get("assignmentId"):
            self.platform = Listener.Platform.MTURK
            self.external_id = get.get("workerId", "")
            keys = ("assignmentId", "hitId", "turkSubmitTo")
            self.attempt_id = get.get("assignmentId", "")
            self.preview = get.get("assignmentId") == MTURK_PREVIEW
            if not self.external_id and not self.preview:
                self.error = _("The link lacks the MTurk workerId: please open it from the HIT.")
        else:
            self.platform = Listener.Platform.NONE
            self.external_id = ""
            keys = ()
        if self.external_id and not EXTERNAL_ID_RE.match(self.external_id):
            self.error = _(
                "The participant id in this link is not valid: please open the study again "
                "from the platform's page."
            )
        self.params = {key: get[key][:200] for key in keys if get.get(key)}
