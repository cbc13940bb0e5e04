"""The `videohub` command as a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import free_port, wait_for
from videohub.cli import main


def test_serve_with_a_bad_config_names_file_and_field(tmp_path, capsys):
    path = tmp_path / "hub.yaml"
    path.write_text("cameras:\n  - id: a\n    stream_url: rtsp://h/x\n    enabeld: true\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "cameras[0].enabeld: unknown key" in err


def test_serve_with_a_busy_rtsp_port_names_the_setting(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "hub.yaml"
        path.write_text(
            f"server: {{host: 127.0.0.1, port: {free_port()}, rtsp_port: {port}}}\n"
            f"database: {{url: 'sqlite:///{tmp_path}/x.db'}}\n"
        )
        assert main(["serve", "--config", str(path)]) == 2
    assert f"server.rtsp_port {port}" in capsys.readouterr().err


def test_demo_runs_and_stops_cleanly(tmp_path):
    port, rtsp_port, sim_port = free_port(), free_port(), free_port()
    env = dict(os.environ, VIDEOHUB_DATA=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "videohub.cli",
            "demo",
            "--port",
            str(port),
            "--rtsp-port",
            str(rtsp_port),
            "--sim-port",
            str(sim_port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    failure: BaseException | None = None
    try:

        def health() -> dict | None:
            try:
                return httpx.get(f"{base}/api/v1/health", timeout=2).json()
            except httpx.HTTPError:
                return None

        wait_for(lambda: (h := health()) and h["cameras"]["online"] >= 1, timeout=40, what="demo camera online")
        cams = {c["id"]: c for c in httpx.get(f"{base}/api/v1/cameras").json()}
        assert "s3cret-pass" not in str(cams) and cams["river-bridge"]["stream_url"].startswith("rtsp://***@")
        snap = httpx.get(f"{base}/api/v1/cameras/gate/snapshot.jpg", timeout=20)  # on-demand camera
        assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8", snap.text

        # The demo's rules raise standard events from what the simulated square shows.
        def fire_events() -> list[dict]:
            page = httpx.get(f"{base}/api/v1/events", params={"camera": "square", "category": "0401"}).json()
            return page["items"]

        (fire,) = wait_for(fire_events, timeout=40, what="a fire event from the demo's square")
        assert fire["source"] == "ai_video" and fire["has_snapshot"] and fire["region_code"] == "150102"
    except BaseException as exc:  # re-raised below with the demo's own output attached
        failure = exc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    if failure is not None:
        raise AssertionError(f"{failure!r}\n--- demo output ---\n{out}") from failure
    assert proc.returncode in (0, 130), out
    assert f"{base}/api/v1/cameras/square/mjpeg" in out and f"rtsp://127.0.0.1:{rtsp_port}/square" in out
    assert "s3cret-pass" not in out
    time.sleep(0.2)
    with socket.socket() as s:  # every port is free again
        s.bind(("127.0.0.1", rtsp_port))


def test_unusable_database_and_bad_port_are_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "hub.yaml"
    path.write_text(f"database: {{url: 'sqlite:///{blocker}/sub/hub.db'}}\nserver: {{rtsp_port: null}}\n")
    assert main(["serve", "--config", str(path)]) == 2
    assert "database.url" in capsys.readouterr().err
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--config", str(path), "--port", "70000"])
    assert exit_info.value.code == 2 and "70000 is not a port number" in capsys.readouterr().err
