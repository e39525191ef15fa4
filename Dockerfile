# The charrnn web app on a CPU-only PyTorch, serving the shipped checkpoints publicly (docs/hosting.md#docker):
#   docker build -t charrnn-studio .  &&  docker run --rm -p 7860:7860 charrnn-studio
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    GRADIO_ANALYTICS_ENABLED=False

# the CPU build of PyTorch first (about 200 MB; PyPI's default on Linux x86-64 is the CUDA build)
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app
COPY pyproject.toml README.md ./
COPY charrnn ./charrnn
RUN pip install . && rm -rf build

COPY checkpoints/*.pt ./checkpoints/
RUN useradd --create-home charrnn && chown -R charrnn /app/checkpoints
USER charrnn

EXPOSE 7860
# inside a container the app listens on every address: public mode (no training, no uploads), said explicitly
CMD ["charrnn", "app", "--host", "0.0.0.0", "--port", "7860", "--public", "--checkpoints", "/app/checkpoints"]
