"""The refusals every service of the listening app raises.

A service that cannot do what a user asked raises :class:`ServiceError` (or a subclass) with a
message that says why and what to do instead; views show it, the API answers 409 with it (400 or
413 for an :class:`UploadError`), commands print it. Values out of range are Django's
``ValidationError`` (field -> messages), which forms and serializers already speak.
"""


class ServiceError(Exception):
    """An action a user asked for cannot be done; the message says why and what to do."""


class UploadError(ServiceError):
    """An upload is refused as a whole (too large, wrong type, not decodable text)."""
