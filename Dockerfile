FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends procps && rm -rf /var/lib/apt/lists/*
COPY requirements/ requirements/
# The CPU build of torch: the default index would pull several GB of CUDA packages.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements/run.txt
COPY . .
RUN useradd --create-home trader && mkdir -p var && chown -R trader var
USER trader
EXPOSE 8000
