"""charrnn web app: generate text, classify reviews, train a model on a book, manage checkpoints.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoints checkpoints] [--share]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from charrnn import catalog, jobs, serving
from charrnn.checkpoint import CheckpointError
from charrnn.sample import MAX_LENGTH

HERE = Path(__file__).resolve().parent
DEFAULT_LM = "mysterious-island.pt"
DEFAULT_SENTIMENT = "imdb-sentiment.pt"
PROMPTS = ["The island", "Captain Nemo", "The engineer said", "At daybreak the settlers"]
REVIEWS = [
    "A wonderful film. The acting is superb, the story moving and the photography beautiful; I loved every minute.",
    "A dull, badly acted mess. The plot makes no sense and I wanted my two hours back. Avoid it.",
    "The first half is gripping and the leads are good, but the ending drags on and the twist falls flat.",
]
TABLE_HEADERS = ["name", "kind", "corpus", "size", "steps", "validation", "modified (UTC)"]
CURVE_COLUMNS = ["step", "loss", "split"]


def build(folder: str | os.PathLike, device: str = "auto") -> gr.Blocks:
    """The Blocks app serving the checkpoints in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lms = serving.char_lm_cache(device)
    classifiers = serving.sentiment_cache(device)
    manager = jobs.JobManager(folder)

    def menu(kind: str | None, *preferred: str | None) -> dict:
        """Dropdown choices of the folder's checkpoints (of `kind`); the value is the first preferred name present."""
        infos = catalog.list_checkpoints(folder, kind)
        names = [i.name for i in infos]
        value = next((n for n in preferred if n in names), names[0] if names and kind else None)
        return dict(choices=[(i.label if kind else i.name, i.name) for i in infos], value=value)

    def table() -> list[list]:
        return [[i.name, i.kind, i.corpus or "", f"{i.size / 2**20:.2f} MiB", "" if i.steps is None else i.steps,
                 i.error or i.score or "", i.modified.strftime("%Y-%m-%d %H:%M")]
                for i in catalog.list_checkpoints(folder)]

    def refresh(lm_name, sentiment_name, download_name):
        return (gr.Dropdown(**menu("char-lm", lm_name, DEFAULT_LM)),
                gr.Dropdown(**menu("sentiment", sentiment_name, DEFAULT_SENTIMENT)),
                gr.Dropdown(**menu(None, download_name)), table())

    def generate(prompt, checkpoint=None, length=300, temperature=0.8, top_k=0, top_p=1.0, seed=-1, num_samples=1):
        """Continue the prompt with a character model; the text streams in as it is sampled."""
        try:
            opts, notices = serving.sample_options(prompt, length, temperature, top_k, top_p, seed, num_samples)
            lm = lms.get(serving.pick(folder, checkpoint, "char-lm", DEFAULT_LM))
            for notice in notices:
                gr.Warning(notice)
            last = time.monotonic()
            samples = [opts.prompt]
            for samples in serving.stream_text(lm, opts):
                if time.monotonic() - last > 0.05:
                    last = time.monotonic()
                    yield serving.join_samples(samples)
            yield serving.join_samples(samples)
        except (ValueError, CheckpointError) as e:  # VocabError is a ValueError
            raise gr.Error(str(e), print_exception=False) from None

    def sentiment(text, checkpoint=None):
        """Probability that a movie review is positive."""
        try:
            text = serving.review_text(text)
            model = classifiers.get(serving.pick(folder, checkpoint, "sentiment", DEFAULT_SENTIMENT))
            p = serving.positive_probability(model, text)
        except (ValueError, CheckpointError, ImportError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        return {"positive": p, "negative": 1.0 - p}

    def curve(job: jobs.Job) -> gr.LinePlot:
        frame = pd.DataFrame(job.curve(), columns=CURVE_COLUMNS).astype({"step": "int64", "loss": "float64"})
        # the plot rebuilds its colour scale only when a property changes, so name the splits present
        return gr.LinePlot(frame, colors_in_legend=sorted(set(frame["split"])))

    def train(book, text_file=None, name="", cell="lstm", hidden=256, layers=1, steps=1000, batch_size=64, seq_len=100,
              lr=0.003, progress=gr.Progress(track_tqdm=True)):
        """Train a character model on a Gutenberg book or an uploaded text; yields status and loss curve."""
        try:
            request = jobs.make_request(book, text_file, name, cell, hidden, layers, steps, batch_size, seq_len, lr,
                                         device=device)
            job = manager.start(request)
        except (ValueError, jobs.JobBusy) as e:
            raise gr.Error(str(e), print_exception=False) from None
        progress(0, desc=f"loading {request.source}")
        while not job.done:
            yield job.summary(), curve(job)
            job.thread.join(timeout=1.0)
        if job.state == "failed":
            raise gr.Error(job.summary(), print_exception=False)
        gr.Info(job.summary())
        yield job.summary(), curve(job)

    def stop_training():
        if manager.stop():
            gr.Info("Stopping: the checkpoint is being saved")
        else:
            gr.Warning("No training job is running")

    def download(name):
        """The file of checkpoint `name` for download."""
        if not name:
            return None
        try:
            return str(catalog.resolve(folder, name))
        except CheckpointError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def upload(file):
        """Check an uploaded checkpoint and add it to the folder."""
        if not file:
            raise gr.Error("no file was uploaded", print_exception=False)
        try:
            result = catalog.accept_upload(file, folder, Path(file).name)
        except (CheckpointError, ImportError, OSError) as e:
            raise gr.Error(f"Upload refused: {e}", print_exception=False) from None
        gr.Info(result.message)
        return result.message

    with gr.Blocks(title="charrnn") as demo:
        gr.Markdown("# charrnn\nCharacter-level recurrent language models: generate, classify, train, share.")
        with gr.Tab("Generate") as tab_generate:
            with gr.Row():
                with gr.Column(scale=2):
                    lm_choice = gr.Dropdown(**menu("char-lm", DEFAULT_LM), label="Checkpoint",
                                            info="char-lm checkpoints: corpus and validation loss",
                                            allow_custom_value=True)
                    prompt = gr.Textbox(label="Prompt", value="The island", lines=2, max_length=serving.MAX_PROMPT)
                    with gr.Row():
                        gen_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                        gen_stop = gr.Button("Stop", elem_id="generate-stop")
                    output = gr.Textbox(label="Generated text", lines=14, buttons=["copy"], elem_id="generated")
                with gr.Column(scale=1):
                    length = gr.Number(value=300, label="Length (characters)", precision=0,
                                       info=f"at most {MAX_LENGTH:,}; more is clamped")
                    temperature = gr.Slider(0, 2.0, value=0.8, step=0.05, label="Temperature",
                                            info="Lower is safer and more repetitive, higher more surprising; "
                                                 "0 is greedy. T = 1/α, the textbook's scale factor α.")
                    top_k = gr.Slider(0, 100, value=0, step=1, label="Top-k",
                                      info="sample among the k likeliest (0 = off)")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p",
                                      info="sample from the smallest set holding this probability (1 = off)")
                    seed = gr.Number(value=-1, label="Seed", precision=0, info="same seed, same text; -1 = random")
                    num_samples = gr.Slider(1, serving.MAX_SAMPLES, value=1, step=1, label="Number of samples")
            gr.Examples([[p] for p in PROMPTS], inputs=[prompt], label="Prompts")
            gen_event = gr.on(
                [gen_btn.click, prompt.submit], generate,
                inputs=[prompt, lm_choice, length, temperature, top_k, top_p, seed, num_samples], outputs=output,
                api_name="generate", concurrency_limit=4, concurrency_id="generate",
            )
            gen_stop.click(None, cancels=[gen_event])

        with gr.Tab("Sentiment") as tab_sentiment:
            with gr.Row():
                with gr.Column(scale=2):
                    review = gr.Textbox(label="Movie review", lines=6, placeholder="Type or paste a review…")
                    sentiment_choice = gr.Dropdown(**menu("sentiment", DEFAULT_SENTIMENT),
                                                   label="Classifier", allow_custom_value=True)
                    classify_btn = gr.Button("Classify", variant="primary", elem_id="classify")
                with gr.Column(scale=1):
                    verdict = gr.Label(label="Probability", num_top_classes=2, elem_id="verdict")
            gr.Examples([[r] for r in REVIEWS], inputs=[review], label="Examples: positive, negative, mixed")
            gr.on([classify_btn.click, review.submit], sentiment, inputs=[review, sentiment_choice], outputs=verdict,
                  api_name="sentiment", concurrency_limit=4, concurrency_id="sentiment")

        with gr.Tab("Train") as tab_train:
            gr.Markdown("Train a character model on a Project Gutenberg book (pick one or type any ID) or on your "
                        "own `.txt` file. The defaults take a few minutes on a CPU. The result appears under "
                        "Generate when training ends or is stopped; one job runs at a time.")
            with gr.Row():
                with gr.Column():
                    book = gr.Dropdown(jobs.book_choices(), value=1268, label="Gutenberg book",
                                       info="choose, or type an ID or title", allow_custom_value=True)
                    text_file = gr.File(label="…or upload a .txt (used instead of the book)", file_types=[".txt"],
                                        type="filepath")
                    run_name = gr.Textbox(label="Checkpoint name", placeholder="automatic")
                with gr.Column():
                    with gr.Row():
                        cell = gr.Dropdown(["lstm", "gru", "rnn"], value="lstm", label="Cell")
                        hidden = gr.Number(256, label="Hidden units", precision=0)
                        layers = gr.Number(1, label="Layers", precision=0)
                    with gr.Row():
                        steps = gr.Number(1000, label="Steps", precision=0)
                        batch_size = gr.Number(64, label="Batch size", precision=0)
                        seq_len = gr.Number(100, label="Sequence length", precision=0)
                        lr = gr.Number(0.003, label="Learning rate")
                    with gr.Row():
                        train_btn = gr.Button("Start", variant="primary", elem_id="train-start")
                        train_stop = gr.Button("Stop", elem_id="train-stop")
            train_status = gr.Markdown(min_height=90, elem_id="train-status")
            loss_plot = gr.LinePlot(None, x="step", y="loss", color="split", title="Loss (nats per character)",
                                    y_title="loss", height=320)
            train_event = train_btn.click(
                train, inputs=[book, text_file, run_name, cell, hidden, layers, steps, batch_size, seq_len, lr],
                outputs=[train_status, loss_plot], api_name="train", concurrency_limit=4, concurrency_id="train",
                show_progress_on=[train_status],
            )
            train_stop.click(stop_training, api_name="stop_training", concurrency_limit=None)

        with gr.Tab("Checkpoints") as tab_checkpoints:
            ckpt_table = gr.Dataframe(table(), headers=TABLE_HEADERS, interactive=False,
                                      label=f"Checkpoints in {folder.name}/")
            with gr.Row():
                with gr.Column():
                    download_choice = gr.Dropdown(**menu(None),
                                                  label="Checkpoint to download", allow_custom_value=True)
                    download_btn = gr.DownloadButton("Download")
                with gr.Column():
                    upload_file = gr.File(label="Upload a checkpoint (.pt)", file_types=[".pt"], type="filepath")
                    upload_status = gr.Markdown()
            download_choice.change(download, download_choice, download_btn, api_name="download")
            upload_event = upload_file.upload(upload, upload_file, upload_status, api_name="upload")

        lists = [lm_choice, sentiment_choice, download_choice, ckpt_table]
        for trigger in (demo.load, tab_generate.select, tab_sentiment.select, tab_checkpoints.select):
            trigger(refresh, lists[:3], lists, api_visibility="private", queue=False)
        tab_train.select(lambda: manager.current.summary() if manager.current else "", None, train_status,
                         api_visibility="private", queue=False)
        for event in (train_event, upload_event):
            event.then(refresh, lists[:3], lists, api_visibility="private", queue=False)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="charrnn web app")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for the local network)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoints", default=str(HERE / "checkpoints"), help="folder of .pt checkpoints")
    p.add_argument("--device", default="auto", help="device for sampling and training: auto, cpu, cuda, mps")
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    demo = build(args.checkpoints, args.device)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="1gb",
                theme=gr.themes.Soft(), allowed_paths=[str(Path(args.checkpoints).resolve())])


if __name__ == "__main__":
    main()
