import logging

import pytest

from videohub.secrets import MaskingFilter, mask_text, mask_url, url_secrets


def test_mask_url():
    assert mask_url("rtsp://admin:pw@10.0.0.1:554/h264") == "rtsp://***@10.0.0.1:554/h264"
    assert mask_url("rtsp://10.0.0.1/x") == "rtsp://10.0.0.1/x"
    assert mask_url("rtsp://user@host/x") == "rtsp://***@host/x"


def test_mask_text_scrubs_urls_and_known_secrets():
    text = "[Errno 1] failed: 'rtsp://admin:p%40ss@h/x' (password p@ss)"
    masked = mask_text(text, url_secrets("rtsp://admin:p%40ss@h/x"))
    assert "p%40ss" not in masked and "p@ss" not in masked and "admin" not in masked


def test_logging_filter_masks_records(caplog):
    logger = logging.getLogger("videohub.test.masking")
    caplog.handler.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("opening %s", "rtsp://bob:hunter22@cam/1")
    assert "hunter22" not in caplog.text
    assert "rtsp://***@cam/1" in caplog.text


def test_password_with_at_sign_is_masked_whole():
    url = "rtsp://admin:p@ss-Zq9secret@10.1.1.1/x"
    assert mask_url(url) == "rtsp://***@10.1.1.1/x"
    text = f"[Errno 111] Connection refused: '{url}'"
    assert "Zq9secret" not in mask_text(text, url_secrets(url))
    assert "Zq9secret" not in mask_text(text)


def test_tracebacks_are_masked(caplog):
    logger = logging.getLogger("videohub.test.masking")
    caplog.handler.addFilter(MaskingFilter())
    try:
        raise RuntimeError("insert failed: parameters ('rtsp://bob:hunter22@cam/1',)")
    except RuntimeError:
        logger.exception("database error")
    assert "hunter22" not in caplog.text and "rtsp://***@cam/1" in caplog.text


def test_credentials_in_query_strings_are_masked_and_the_mask_is_refused():
    from videohub.config import validate_stream_url
    from videohub.secrets import has_masked_secret, mask_text, url_secrets

    dahua = "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0&user=admin&password=Dahua-123"
    assert mask_url(dahua) == "rtsp://10.0.0.5:554/cam/realmonitor?channel=1&subtype=0&user=admin&password=***"
    assert mask_url("https://a.example/h?Token=t0k-1&sig=abc&v=2") == "https://a.example/h?Token=***&sig=***&v=2"
    assert mask_url("https://a.example/h?passage=open&keys=3") == "https://a.example/h?passage=open&keys=3"
    logged = mask_text(f"could not open {dahua}: 401")
    assert "Dahua-123" not in logged and logged.startswith("could not open rtsp://10.0.0.5") and "401" in logged
    assert "Dahua-123" in url_secrets(dahua)
    assert has_masked_secret(mask_url(dahua)) and not has_masked_secret(dahua)
    with pytest.raises(ValueError, match=r"\*\*\*"):
        validate_stream_url(mask_url(dahua))
