"""The live view's HTTP routes, its token and Host checks, and a port in use, in-process."""

from __future__ import annotations

import http.client
import json
import re
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from squall.engine.model import build_model
from squall.errors import ConfigError
from squall.ui.server import UIServer
from squall.ui.state import LiveState
from tests.ui.samples import sample, task
from topologies.health import HealthTopology

MODEL = build_model(HealthTopology, "health")


@pytest.fixture
def serve():
    started = []

    def start(token=None):
        state = LiveState.of_model(MODEL)
        state.publish(sample(0.0, task("bmi", 1, executed=7)))
        server = UIServer("127.0.0.1", 0, state, token)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def get(server, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read() if response.getheader("Content-Type") != "text/event-stream" else b""
    return response, body


def test_the_page_and_its_assets_are_served_from_the_package(serve):
    server = serve()
    response, body = get(server, "/")
    assert response.status == 200 and b'src="/static/app.js"' in body
    assert response.getheader("Content-Security-Policy").startswith("default-src 'self'")
    for asset in ("app.js", "style.css"):
        response, body = get(server, f"/static/{asset}")
        assert response.status == 200 and body
    response, body = get(server, "/static/../server.py")
    assert response.status == 404 and body == b"no asset '../server.py'\n"


def test_api_state_and_metrics_show_the_same_counts(serve):
    server = serve()
    _, body = get(server, "/api/state")
    bmi = next(c for c in json.loads(body)["components"] if c["name"] == "bmi")
    assert bmi["executed"] == 7
    response, body = get(server, "/metrics")
    assert response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    executed = next(
        f
        for f in text_string_to_metric_families(body.decode())
        if f.name == "squall_tuples_executed"
    )
    assert [s.value for s in executed.samples if s.labels["component"] == "bmi"] == [7]


def test_events_stream_the_state_as_it_changes(serve):
    server = serve()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/events")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"

    def next_event():
        lines = []
        while (line := response.fp.readline().decode()) != "\n":
            lines.append(line.rstrip("\n"))
        return dict(line.split(": ", 1) for line in lines)

    first = next_event()
    assert first["event"] == "state" and json.loads(first["data"])["finished"] is False
    server.state.finish()
    second = next_event()
    assert int(second["id"]) > int(first["id"]) and json.loads(second["data"])["finished"]
    conn.close()


def test_an_unknown_path_names_the_routes(serve):
    response, body = get(serve(), "/nope")
    assert response.status == 404
    assert body == b"no page '/nope'; try / /events /api/state /metrics\n"


@pytest.mark.parametrize("path", ["/", "/api/state", "/metrics", "/events"])
def test_with_a_token_every_data_route_needs_it(serve, path):
    server = serve(token="s3cret")
    for bad in (path, f"{path}?token=wrong"):
        response, body = get(server, bad)
        assert response.status == 401
        assert body == b"this live view needs its token: ?token=... or Authorization: Bearer ...\n"
    response, _ = get(server, f"{path}?token=s3cret")
    assert response.status == 200
    response, _ = get(server, path, {"Authorization": "Bearer s3cret"})
    assert response.status == 200


def test_the_assets_need_no_token_they_hold_no_data(serve):
    response, _ = get(serve(token="s3cret"), "/static/app.js")
    assert response.status == 200


def test_without_a_token_only_a_loopback_host_header_is_answered(serve):
    server = serve()
    response, body = get(server, "/api/state", {"Host": f"attacker.example:{server.port}"})
    assert response.status == 403
    assert (
        body == b"Host 'attacker.example' is not the loopback; the live view answers only there\n"
    )
    response, _ = get(server, "/api/state", {"Host": f"localhost:{server.port}"})
    assert response.status == 200


def test_a_port_in_use_is_one_error_naming_the_port_and_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = (
            f"--port {port}: 127.0.0.1:{port} is already in use; choose another port with "
            "--port N (--port 0 picks a free one)"
        )
        with pytest.raises(ConfigError, match=re.escape(expected)):
            UIServer("127.0.0.1", port, LiveState.of_model(MODEL), None)
