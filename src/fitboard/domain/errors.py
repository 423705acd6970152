"""Domain errors. They carry no HTTP codes: the API maps them in one table."""

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain and application layers raise on purpose."""


@dataclass
class InvalidField(DomainError):
    """Input that can never be right, named by its field so a person can fix it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""


class Conflict(DomainError):
    """The request clashes with what is already stored (a taken username, say)."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class AuthenticationFailed(DomainError):
    """Missing, expired or forged credentials."""
