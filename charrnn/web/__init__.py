"""The web app: forms, jobs, handlers and the Gradio UI. May import every other layer; only the app's entry points
import it."""
