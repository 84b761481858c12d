"""The error registry: each class is the whole truth about its problem."""

from __future__ import annotations

import pytest

from servicekit import errors
from servicekit.errors import (
    AppError,
    BadRequest,
    Conflict,
    ContentTooLarge,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UnprocessableContent,
    UnsupportedMediaType,
    error_for_status,
)
from servicekit.http import problem_responses


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classes a test declares are forgotten after it."""
    monkeypatch.setattr(errors, "_BY_STATUS", dict(errors._BY_STATUS))


class TestTheRegistry:
    @pytest.mark.parametrize(
        "error",
        [
            AppError,
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PreconditionFailed,
            ContentTooLarge,
            UnsupportedMediaType,
            UnprocessableContent,
            RateLimited,
            ServiceUnavailable,
        ],
    )
    def test_each_status_is_the_problem_of_its_class(self, error: type[AppError]) -> None:
        assert error_for_status(error.status) is error
        assert problem_responses(error.status) == {error.status: {"description": error.description}}

    def test_a_subclass_that_keeps_the_status_does_not_take_it_over(self) -> None:
        class EmailTaken(Conflict):
            slug = "email-taken"

        assert error_for_status(409) is Conflict

    def test_a_new_kind_of_error_is_one_class(self) -> None:
        class Gone(AppError):
            status = 410
            slug = "gone"
            title = "Gone"
            description = "It was here, and is no more."

        assert error_for_status(410) is Gone
        assert problem_responses(410) == {410: {"description": "It was here, and is no more."}}

    def test_a_status_no_class_declares_cannot_be_documented(self) -> None:
        with pytest.raises(ValueError, match="no servicekit error has status 418"):
            problem_responses(418)
