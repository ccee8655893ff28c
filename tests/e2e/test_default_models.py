"""The shipped default models, once they exist under models/, served end to end like any user would."""

import httpx
import pytest

from service.registry import list_versions
from service.settings import PROJECT_ROOT
from tests.audiokit import CONTAINERS, speech
from tests.audiokit import tone as tone_clip
from tests.conftest import USER_KEY, start_server, stop_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (list_versions(PROJECT_ROOT / "models", "voice") and list_versions(PROJECT_ROOT / "models", "text")),
        reason="the default voice and text models have not been shipped yet",
    ),
]


def test_default_models_serve_every_endpoint(tmp_path) -> None:
    server = start_server(tmp_path, PROJECT_ROOT / "models")
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": USER_KEY}, timeout=60) as c:
            voice = c.post("/v1/voice/score", content=CONTAINERS["audio/wav"](speech(6.0), 16000),
                           headers={"Content-Type": "audio/wav"})
            assert voice.status_code == 200, voice.text
            assert 0.0 <= voice.json()["score"] <= 1.0 and voice.json()["windows"]
            tone = c.post("/v1/voice/score", content=CONTAINERS["audio/wav"](tone_clip(6.0), 16000),
                          headers={"Content-Type": "audio/wav"})
            assert tone.status_code == 200 and tone.json()["verdict"] == "no_speech", tone.text
            text = c.post("/v1/text/score", json={"text": "Maak vandaag nog uw spaargeld over naar een veilige "
                                                          "rekening, anders wordt uw rekening geblokkeerd."})
            assert text.status_code == 200, text.text
            assert text.json()["cues"]
            legit = c.post("/v1/text/score", json={"text": "Hoi mam, ik ben om zes uur thuis. Zal ik brood meenemen?"})
            assert legit.status_code == 200, legit.text
            # The shipped model must rank an obvious safe-account demand above a family chat message.
            assert text.json()["llr"] > legit.json()["llr"], (text.json(), legit.json())
            models = c.get("/v1/models").json()
            # the speech recogniser is listed too where `make install-asr` assembled its weights
            assert {m["task"] for m in models["models"]} - {"asr"} == {"voice", "text"}
    finally:
        stop_server(server)
