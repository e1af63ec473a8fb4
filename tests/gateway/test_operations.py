"""/healthz, /metrics (authenticated; latency by route template), security headers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from gateway.auth.roles import Role, Scope


def test_healthz_is_anonymous(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_metrics_by_route_template_for_it_and_a_metrics_key(
    client: TestClient, token_for: Callable[[Role], str], make_api_key: Callable[..., str]
) -> None:
    it = {"Authorization": f"Bearer {token_for(Role.IT)}"}
    client.get("/api/admin/users/1.2.840.99999/disable", headers=it)  # 405: wrong method
    client.post("/api/admin/users/1.2.840.99999/disable", headers=it)  # 403 for IT
    response = client.get("/metrics", headers=it)
    assert response.status_code == 200
    text = response.text
    assert "lienthong_http_request_duration_seconds_bucket" in text
    assert 'route="/api/admin/users/{username}/disable"' in text
    assert 'status="403"' in text
    assert "1.2.840.99999" not in text  # concrete paths never become labels
    assert "lienthong_index_instances 0.0" in text
    audit_total = next(line for line in text.splitlines()
                       if line.startswith("lienthong_audit_events_total "))
    # The login, the refused POST, and this /metrics grant (written before the route ran); the
    # 405 matched no route, so no access decision was made for it.
    assert float(audit_total.split()[1]) == 3
    key = make_api_key("prometheus", Scope.METRICS)
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert scraped.status_code == 200
    assert 'route="/metrics"' in scraped.text


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/healthz", "/api/admin/users", "/no/such/route"):
        response = client.get(path)
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    token = client.post("/api/auth/token", data={"username": "x", "password": "y"})
    assert token.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in client.get("/docs").headers
