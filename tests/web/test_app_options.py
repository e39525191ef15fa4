"""The app's options without starting it: `charrnn app` and `python app.py` parse alike, the default folder,
passwords (--auth, --auth-file) and when the app is public."""
from __future__ import annotations

from pathlib import Path

import pytest

from charrnn.cli.main import build_parser, main
from charrnn.web import options
from charrnn.web.options import auth_pair, hosting, read_auth_file

ROOT = Path(__file__).resolve().parents[2]


def app_args(*argv: str):
    return build_parser().parse_args(["app", *argv])


def test_charrnn_app_takes_the_options_of_app_py(monkeypatch, capsys):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app_args()
    assert (args.host, args.port, args.device, args.share, args.public) == ("127.0.0.1", 7860, "auto", False, False)
    assert args.checkpoints == str(ROOT / "checkpoints")  # a checkout serves its shipped models
    alone = vars(options.parse_args(["--port", "9", "--auth", "a:b"]))
    assert alone == {k: v for k, v in vars(app_args("--port", "9", "--auth", "a:b")).items() if k in alone}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["app", "--help"])
    shown = capsys.readouterr().out
    for flag in ("--host", "--port", "--checkpoints", "--device", "--share", "--no-engine", "--auth", "--auth-file",
                 "--public", "--allow-training"):
        assert flag in shown


def test_the_data_folder_out_of_a_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert options.user_data_dir() == tmp_path / "data" / "charrnn"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert options.user_data_dir() == tmp_path / "home" / ".local" / "share" / "charrnn"
    monkeypatch.setattr(options, "checkout_checkpoints", lambda: None)
    assert options.default_checkpoints() == tmp_path / "home" / ".local" / "share" / "charrnn" / "checkpoints"


def test_auth_pairs_and_files(tmp_path):
    assert auth_pair("ann:pa:ss") == ("ann", "pa:ss")
    for bad in ("ann", "ann:", ":pass"):
        with pytest.raises(ValueError, match="expected USER:PASSWORD"):
            auth_pair(bad)
    good = tmp_path / "users.txt"
    good.write_text("# who may sign in\nann:one\n\nbob:two:three\n")
    assert read_auth_file(good) == [("ann", "one"), ("bob", "two:three")]
    bad = tmp_path / "bad.txt"
    bad.write_text("ann:one\nbob\n")
    with pytest.raises(ValueError, match=rf"{bad} line 2: expected USER:PASSWORD, got 'bob'"):
        read_auth_file(bad)
    with pytest.raises(ValueError, match="cannot read it"):
        read_auth_file(tmp_path / "missing.txt")
    assert hosting(app_args("--auth", "a:b", "--auth-file", str(good))).auth == [("a", "b"), ("ann", "one"),
                                                                                  ("bob", "two:three")]


def test_a_bad_auth_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("nobody\n")
    assert main(["app", "--auth-file", str(bad)]) == 2
    assert capsys.readouterr().err == f"charrnn app: error: {bad} line 1: expected USER:PASSWORD, got 'nobody'\n"
    with pytest.raises(SystemExit):
        main(["app", "--auth", "nocolon"])
    assert "expected USER:PASSWORD" in capsys.readouterr().err


@pytest.mark.parametrize("argv, public, note", [
    ((), False, None),
    (("--host", "localhost"), False, None),
    (("--host", "127.0.0.2"), False, None),
    (("--public",), True, "public mode: training"),
    (("--share",), True, "public mode (--share): training, stopping and uploads are turned off; start with "
                         "--allow-training to keep them"),
    (("--host", "0.0.0.0"), True, "public mode (--host 0.0.0.0)"),
    (("--host", "::"), True, "public mode (--host ::)"),
    (("--host", "0.0.0.0", "--allow-training"), False, "--allow-training: training and uploads are open"),
])
def test_share_and_open_hosts_imply_public(argv, public, note):
    who = hosting(app_args(*argv))
    assert who.public == public
    assert (note is None and who.notes == []) or who.notes[0].startswith(note)


def test_public_and_allow_training_exclude_each_other():
    with pytest.raises(SystemExit):
        app_args("--public", "--allow-training")


def test_a_public_webapp_refuses_training_stopping_and_uploads(tmp_path):
    from charrnn.serve.options import GenerateForm
    from charrnn.web.webapp import PUBLIC_REFUSAL, Refused, WebApp

    app = WebApp(tmp_path / "checkpoints", device="cpu", public=True)
    for action in (lambda: app.start_training(None), app.stop_training, lambda: app.start_classifier(None),
                   app.stop_classifier, lambda: app.upload(str(tmp_path / "x.pt")), app.check_open):
        with pytest.raises(Refused, match=PUBLIC_REFUSAL.replace("(", r"\(").replace(")", r"\)")):
            action()
    assert app.how_to_add() == "copy .pt checkpoints into it, or start the app with --checkpoints FOLDER"
    open_app = WebApp(tmp_path / "checkpoints", device="cpu")
    assert open_app.stop_training() is False and open_app.how_to_add().startswith("train one in the Train tab")
    with pytest.raises(Exception, match="no char-lm checkpoint in checkpoints/: train one in the Train tab"):
        list(open_app.generate(GenerateForm.parse(prompt="the")))
