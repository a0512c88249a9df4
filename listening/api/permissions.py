"""API permission: the same researchers as the pages (staff accounts and admins)."""

from rest_framework.permissions import BasePermission

from listening.access import is_researcher


class IsResearcher(BasePermission):
    message = (
        "This account is not a researcher account: ask an administrator to give it staff "
        "status (Admin → Users)."
    )

    def has_permission(self, request, view) -> bool:
        return is_researcher(request.user)
