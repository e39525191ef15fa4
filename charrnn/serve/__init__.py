"""Serving many users, without Gradio: checked sampling options, the model cache, the batched engine and its
process, classifier scoring. Imports `charrnn.lm`, `charrnn.sentiment` and the top level."""
