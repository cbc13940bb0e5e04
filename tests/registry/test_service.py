import pytest
from pydantic import ValidationError

from videohub.config import CameraSpec
from videohub.db import init_db, make_engine
from videohub.registry.service import CameraExists, CameraReadOnly, CameraRegistry


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/reg.db")
    yield init_db(engine)
    engine.dispose()


def test_api_cameras_persist_across_restarts(sessions):
    changes = []
    reg = CameraRegistry(sessions, [], "hub.yaml")
    reg.subscribe(lambda cid, spec: changes.append((cid, spec is not None)))
    reg.create(CameraSpec(id="c1", stream_url="rtsp://u:p@h/1", stream={"read_timeout": 3}))
    reg.update("c1", {"name": "Gate", "stream": {"connect_timeout": 4}})
    again = CameraRegistry(sessions, [], "hub.yaml").get("c1")
    assert again.origin == "api"
    assert again.spec.name == "Gate"
    assert again.spec.stream_url == "rtsp://u:p@h/1"  # stored in full, masked only on the way out
    assert again.spec.stream.model_fields_set == {"read_timeout", "connect_timeout"}
    reg.delete("c1")
    assert CameraRegistry(sessions, [], "hub.yaml").all() == []
    assert changes == [("c1", True), ("c1", True), ("c1", False)]


def test_config_cameras_are_read_only(sessions):
    reg = CameraRegistry(sessions, [CameraSpec(id="f1", stream_url="rtsp://h/1")], "hub.yaml")
    with pytest.raises(CameraReadOnly, match="hub.yaml"):
        reg.update("f1", {"name": "x"})
    with pytest.raises(CameraReadOnly):
        reg.delete("f1")
    with pytest.raises(CameraExists):
        reg.create(CameraSpec(id="f1", stream_url="rtsp://h/2"))


def test_invalid_update_leaves_camera_unchanged(sessions):
    reg = CameraRegistry(sessions, [], "hub.yaml")
    reg.create(CameraSpec(id="c1", stream_url="rtsp://h/1"))
    with pytest.raises(ValidationError):
        reg.update("c1", {"stream_url": "ftp://nope"})
    with pytest.raises(ValueError):
        reg.update("c1", {"id": "c2"})
    assert reg.get("c1").spec.stream_url == "rtsp://h/1"
