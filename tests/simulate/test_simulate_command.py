"""`videohub simulate`: spec parsing, exit codes, a real run, and the in-process helper."""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import videohub
from videohub.rtsp.client import RawRtspClient
from videohub.simulate.command import (
    CameraSpecError,
    add_arguments,
    make_feed,
    parse_camera_option,
    run,
    start_simulator,
)
from videohub.simulate.file import FileFeed
from videohub.simulate.pattern import PatternFeed


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="videohub simulate")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse([])
    assert (args.host, args.port, args.camera) == ("0.0.0.0", 8554, [])


@pytest.mark.parametrize(
    ("spec", "size", "fps"),
    [("pattern", (1280, 720), 25), ("pattern:320x240", (320, 240), 25), ("pattern:640x360@10", (640, 360), 10)],
)
def test_pattern_specs(spec: str, size: tuple[int, int], fps: int) -> None:
    feed = make_feed("cam1", spec)
    assert isinstance(feed, PatternFeed)
    assert ((feed.width, feed.height), feed.fps, feed.name) == (size, fps, "cam1")


def test_file_spec(h264_mp4: Path) -> None:
    feed = make_feed("door", str(h264_mp4))
    assert isinstance(feed, FileFeed) and feed.name == "door"


@pytest.mark.parametrize(
    ("name", "spec", "needle"),
    [
        ("cam1", "pattern:big", "pattern:big"),
        ("cam1", "pattern:321x240", "even"),
        ("cam1", "pattern:320x240@0", "fps"),
        ("cam1", "/no/such/file.mp4", "/no/such/file.mp4"),
        ("bad name", "pattern", "bad name"),
    ],
)
def test_bad_specs(name: str, spec: str, needle: str) -> None:
    with pytest.raises(CameraSpecError, match=needle):
        make_feed(name, spec)


def test_camera_option_parsing() -> None:
    assert parse_camera_option("cam1") == ("cam1", "pattern")
    assert parse_camera_option("gate=pattern:320x240@5") == ("gate", "pattern:320x240@5")
    assert parse_camera_option("f=/tmp/a=b.mp4") == ("f", "/tmp/a=b.mp4")


def test_run_rejects_bad_spec_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse(["--port", "0", "--camera", "cam1=pattern:oops"])) == 2
    err = capsys.readouterr().err
    assert "cam1=pattern:oops" in err


def test_run_rejects_duplicate_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse(["--port", "0", "--camera", "a", "--camera", "a=pattern"])) == 2
    assert "given twice" in capsys.readouterr().err


def test_run_reports_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert run(parse(["--host", "127.0.0.1", "--port", str(port)])) == 1
    assert str(port) in capsys.readouterr().err


def test_simulate_process_serves_until_sigint(tmp_path: Path) -> None:
    src = str(Path(videohub.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    code = (
        "import argparse, sys\n"
        "from videohub.simulate.command import add_arguments, run\n"
        "p = argparse.ArgumentParser(); add_arguments(p)\n"
        "sys.exit(run(p.parse_args(sys.argv[1:])))\n"
    )
    argv = [sys.executable, "-c", code, "--host", "127.0.0.1", "--port", "0", "--camera", "gate=pattern:160x120@10"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 20)  # never hang on a silent child
            assert ready, "simulator printed nothing within 20 s"
            line = proc.stdout.readline()  # "gate: rtsp://127.0.0.1:PORT/gate"
            assert line.startswith("gate: rtsp://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
            url = line.split(": ", 1)[1].strip()
            with RawRtspClient(url) as client:
                client.start()
                assert client.read_rtp(timeout=5) is not None
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
            assert proc.stdout.read().strip().endswith("stopped")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def test_start_simulator_in_process(h264_mp4: Path) -> None:
    server = start_simulator({"a": "pattern:160x120@10", "b": str(h264_mp4)}, host="127.0.0.1", port=0)
    try:
        for path in ("a", "b"):
            with RawRtspClient(server.url(path)) as client:
                client.start()
                units = client.read_access_units(2, timeout=5)
                assert len(units) == 2
        with RawRtspClient(server.url("c")) as client:
            assert client.request("DESCRIBE").status == 404
    finally:
        server.stop()
    with pytest.raises(CameraSpecError):
        start_simulator({"x": "pattern:1x1"}, host="127.0.0.1", port=0)
