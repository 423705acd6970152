"""The bearer token is read from `Authorization` exactly as FastAPI's HTTPBearer read it
(entrypoints/api/deps.py no longer uses it): the scheme in any case, the token stripped;
anything else is the same 401, with its body and `WWW-Authenticate: Bearer`."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api

EMBEDDED = ["embedded"]
MISSING = "send Authorization: Bearer <token> (from /v1/auth/token)"


@pytest.mark.parametrize("api", EMBEDDED, indirect=True)
@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer    ", "Basic abc", " Bearer x"])
async def test_no_bearer_token_is_the_same_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for path in ("/v1/me", "/v1/workouts"):
        response = await api.client.get(path, headers=headers)
        assert response.status_code == 401, (path, header)
        assert response.json()["detail"] == MISSING
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("api", EMBEDDED, indirect=True)
@pytest.mark.parametrize("form", ["Bearer {}", "bearer {}", "BEARER {}", "Bearer   {}  "])
async def test_the_scheme_in_any_case_and_the_token_stripped(api: Api, form: str) -> None:
    token, _ = await api.register("ada")
    for path in ("/v1/me", "/v1/workouts"):
        response = await api.client.get(path, headers={"Authorization": form.format(token)})
        assert response.status_code == 200, (path, form, response.text)
