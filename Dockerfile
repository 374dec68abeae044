# elicit: the web app and JSON API.
#
#   docker build -t elicit .
#   docker run -p 8000:8000 -e BASE_URL=https://elicit.example.org \
#              -e DATABASE_URL=postgresql://user:pass@host:5432/elicit elicit
#
# Without DATABASE_URL it uses SQLite at /data/elicit.db (mount a volume on /data to keep
# it). `docker compose up` runs it with PostgreSQL 15 (compose.yaml). Migrations are
# applied at start; one-off commands run in the same image, e.g.
#   docker compose exec app elicit demo --no-serve
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pg_dump and pg_restore for `elicit backup` / `elicit restore` on PostgreSQL (Debian's
# client is major version 15: it must not be older than the server, see compose.yaml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p app analysis \
    && touch app/__init__.py analysis/__init__.py \
    && pip install . \
    && pip uninstall -y elicit \
    && rm -rf app analysis build *.egg-info

# The code. migrations/ and surveys/ sit next to app/ and are found relative to it
# (app/migrate.py, app/survey_files.py), so the project is installed in place (-e): a
# plain wheel install would leave them behind.
COPY app ./app
COPY analysis ./analysis
COPY migrations ./migrations
COPY surveys ./surveys
RUN pip install --no-deps -e . \
    && elicit --help > /dev/null

# Run as an unprivileged user; /data holds the SQLite file when no DATABASE_URL is given.
RUN useradd --system --uid 10001 --user-group --home-dir /home/elicit --create-home elicit \
    && mkdir -p /data \
    && chown elicit:elicit /data
USER elicit

# DATABASE_URL and BASE_URL come from the environment (docker run -e, compose.yaml).
# BASE_URL is the public address put into invitation links: set it in production.
ENV DATABASE_URL=sqlite:////data/elicit.db

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["elicit", "serve", "--host", "0.0.0.0", "--port", "8000"]
