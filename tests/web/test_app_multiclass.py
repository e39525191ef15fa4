"""The app with classifiers of more than two classes, end to end through gradio_client: the preview counts each
class, a 5-class file trains from the Train a classifier tab, /sentiment's Label has every class and /explain pulls
towards the predicted one, or the class its third input names. The app runs in a subprocess on a folder of
generated classifiers only."""
from __future__ import annotations

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from charrnn import shelf  # noqa: E402
from charrnn.sentiment import load_labelled, preset, train_sentiment  # noqa: E402

from ..apphelpers import serving  # noqa: E402
from ..sentiment_fixtures import keyword_csv  # noqa: E402

THREE = ["sports", "arts", "tech"]
FIVE = ["sports", "arts", "tech", "food", "travel"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """`python app.py` on a folder holding one 3-class classifier trained here in a few seconds."""
    base = tmp_path_factory.mktemp("multiclass_app")
    folder = base / "checkpoints"
    folder.mkdir()
    model, config = preset("best", {"embed": 16, "hidden": 16, "dropout": 0.0},
                           {"epochs": 4, "lr": 0.01, "batch_size": 16, "device": "cpu"})
    data = load_labelled(keyword_csv(base / "three.csv", THREE, 60))
    result = train_sentiment(data, model, config, out=folder / "topics.pt", progress=False)
    assert result["val_accuracy"] > 0.9
    with serving(folder, base) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return app.client(tmp_path_factory.mktemp("downloads"))


def confidences(label: dict) -> dict:
    return {c["label"]: c["confidence"] for c in label["confidences"]}


def test_the_label_shows_every_class_and_explain_pulls_towards_the_predicted_one(client):
    label = client.predict("the striker scored a goal in the match", "topics.pt", api_name="/sentiment")
    p = confidences(label)
    assert set(p) == {"arts", "sports", "tech"} and abs(sum(p.values()) - 1) < 1e-5
    assert label["label"] == "sports" == max(p, key=p.get) and p["sports"] > 0.8
    words, running = client.predict("a painting of a striker", "topics.pt", api_name="/explain")
    assert words["label"] == "Each word's pull: red towards arts, purple away from it"
    assert [row[0] for row in running["value"]["data"]] == [1, 2, 3, 4, 5]
    assert [w["token"] for w in words["value"] if w["class_or_confidence"] is not None] == \
        ["a", "painting", "of", "a", "striker"]


def test_explain_pulls_towards_the_class_the_user_picks(client):
    text = "the painting in the gallery and the goal of the striker"
    pull = {}
    for target in ("sports", "arts"):
        words, _ = client.predict(text, "topics.pt", target, api_name="/explain")
        assert words["label"] == f"Each word's pull: red towards {target}, purple away from it"
        scores = {w["token"]: w["class_or_confidence"] for w in words["value"] if w["class_or_confidence"] is not None}
        pull[target] = (scores["goal"] + scores["striker"]) - (scores["painting"] + scores["gallery"])
    assert pull["sports"] > 0 > pull["arts"]  # each class's keywords pull harder towards it than the other's
    with pytest.raises(AppError, match="no class 'food': the classifier's classes are arts, sports, tech"):
        client.predict("a painting", "topics.pt", "food", api_name="/explain")


def test_the_explain_menu_lists_the_chosen_classifier_s_classes(app):
    from charrnn.web.webapp import WebApp

    menu = WebApp(app.folder).explain_targets("topics.pt")
    assert menu.choices == [("the predicted class", ""), ("arts", "arts"), ("sports", "sports"), ("tech", "tech")]
    assert menu.value == ""


def test_a_five_class_file_is_previewed_with_its_counts_and_trained_in_the_app(app, client, tmp_path):
    data = handle_file(str(keyword_csv(tmp_path / "five.csv", FIVE, 40)))
    table, *found, summary = client.predict(data, "auto", None, None, api_name="/preview_dataset")
    assert len(table["data"]) == 5 and summary.startswith("200 rows, format csv")
    assert ("5 classes: arts (40 rows) / food (40 rows) / sports (40 rows) / tech (40 rows) / travel (40 rows)"
            in summary)
    status, _, menu = client.predict(data, "csv", "text", "label", "five", "best", 4, 16, 16, 16, 0.01, None,
                                     api_name="/train_classifier")
    name = menu["value"]
    words, _ = client.predict("a spicy soup recipe", name, "food", api_name="/explain")  # not the menu's first classes
    assert words["label"] == "Each word's pull: red towards food, purple away from it"
    assert name == "five.pt" and status.startswith(
        "Finished classifier five on five.csv (arts / food / sports / tech / travel)"), status
    assert shelf.describe(app.folder / name).classes == ("arts", "food", "sports", "tech", "travel")
    assert any(label.startswith("five.pt — arts / food / sports / tech / travel — val accuracy ")
               for label, _ in menu["choices"])
    p = confidences(client.predict("a spicy soup recipe", name, api_name="/sentiment"))
    assert set(p) == {"arts", "food", "sports", "tech", "travel"} and max(p, key=p.get) == "food"
