# One image for web and workers. The GPU worker gets the NVIDIA runtime through compose's
# device request; torch's PyPI wheels carry their CUDA libraries.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 curl build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir torch==2.9.1 torchaudio==2.9.1 \
    && pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0
RUN useradd --create-home harken && mkdir -p /app/var && chown -R harken /app/var
USER harken
EXPOSE 8000
CMD ["gunicorn", "mos_site.wsgi", "--bind", "0.0.0.0:8000", "--config", "mos_site/gunicorn_conf.py"]
