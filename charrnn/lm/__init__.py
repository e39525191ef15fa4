"""The character model: corpus and Gutenberg loading, vocabulary, windows and streams, the model, its trainer and
time budget, sampling, stop strings, evaluation and dynamic evaluation. Imports only the top level of `charrnn`."""
