"""Hosting end to end: the app with --public and --auth in a subprocess, driven with gradio_client.

Without credentials nothing is served; with them, Generate, Sentiment and Explain work while every endpoint that
trains, stops or uploads is refused on the server with the public-mode message (not only hidden in the page).
"""
import urllib.error
import urllib.request

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError, AuthenticationError  # noqa: E402

from charrnn.web.webapp import PUBLIC_REFUSAL  # noqa: E402

from ..apphelpers import checkpoint_folder, labelled_csv, serving  # noqa: E402

USERS = [("ann", "correct:horse"), ("bob", "battery")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    base = tmp_path_factory.mktemp("hosting")
    folder = checkpoint_folder(base)
    users = base / "users.txt"
    users.write_text(f"# who may sign in\n{USERS[1][0]}:{USERS[1][1]}\n")
    with serving(folder, base, options=("--public", "--auth", ":".join(USERS[0]), "--auth-file", str(users))) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return Client(app.url, auth=USERS[0], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_start_up_says_public_and_password_protected(app):
    output = "".join(app.lines)
    assert "public mode: training, stopping and uploads are turned off" in output
    assert "password protected: 2 user(s)" in output


def test_without_credentials_nothing_is_served(app):
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(app.url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(app.url, auth=("ann", "wrong"), verbose=False)
    with pytest.raises(urllib.error.HTTPError) as refused:  # not even the app's description
        urllib.request.urlopen(app.url.rstrip("/") + "/config", timeout=30)
    assert refused.value.code in (401, 403)


def test_the_second_user_from_the_file_signs_in(app):
    other = Client(app.url, auth=USERS[1], verbose=False)
    assert other.predict("the", "tiny.pt", 10, 1.0, 0, 1.0, 1, 1, api_name="/generate").startswith("the")


def test_generate_sentiment_and_explain_work(client):
    assert client.predict("the", "tiny.pt", 20, 0.8, 0, 1.0, 1, 1, api_name="/generate").startswith("the")
    label = client.predict("a good film", "toy-sentiment.pt", api_name="/sentiment")
    assert len(label["confidences"]) == 2
    words, running = client.predict("a good film", "toy-sentiment.pt", api_name="/explain")
    assert words and running


@pytest.mark.parametrize("api_name, args", [
    ("/train", lambda tmp: ([], None, "x", "lstm", 0, 1, 5, 0, 0, 0, 1)),
    ("/stop_training", lambda tmp: ()),
    ("/train_classifier", lambda tmp: (handle_file(str(labelled_csv(tmp / "l.csv", n=20))), "auto", None, None, "c",
                                       "book", 1, 8, 8, 8, 0.01, "0")),
    ("/stop_classifier", lambda tmp: ()),
    ("/upload", lambda tmp: (handle_file(str(tmp / "tiny.pt")),)),
])
def test_training_stopping_and_uploads_are_refused_on_the_server(client, app, tmp_path, api_name, args):
    (tmp_path / "tiny.pt").write_bytes((app.folder / "tiny.pt").read_bytes())  # a good checkpoint to upload
    before = sorted(p.name for p in app.folder.iterdir())
    with pytest.raises(AppError, match=PUBLIC_REFUSAL.split(":")[0]):
        client.predict(*args(tmp_path), api_name=api_name)
    assert sorted(p.name for p in app.folder.iterdir()) == before
