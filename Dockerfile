# syntax=docker/dockerfile:1
# One image for every kbatch service: workers, beat, Flower, migrations and the simulator.
# docker-compose.yml gives each its command and health check; this image starts no service itself.
#
#   docker build -t kbatch:0.1.0 .
#
# Stage 1 builds the kbatch wheel and installs it, with its dependencies, into a virtualenv.
# Every dependency ships wheels for CPython 3.11 on Linux (amd64, arm64), so neither stage needs a
# compiler. Stage 2 is a fresh slim Python with that virtualenv copied in: no pip, no build
# backend, no source tree, and a user that is not root.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/kbatch
COPY pyproject.toml README.md ./
COPY jobs ./jobs
COPY worker ./worker
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/kbatch/bin/pip install /wheels/kbatch-*.whl \
 && /opt/kbatch/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
# The virtualenv's scripts name /opt/kbatch/bin/python, which points at this stage's
# /usr/local/bin/python3.11: both stages come from the same base image.
COPY --from=build /opt/kbatch /opt/kbatch
ENV PATH=/opt/kbatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The base image's own pip, setuptools and wheel (not the virtualenv's: PATH now starts there)
# serve no purpose at run time.
RUN /usr/local/bin/python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 kbatch \
 && useradd --system --uid 10001 --gid kbatch --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin kbatch \
 && mkdir -p /app/var \
 && chown kbatch:kbatch /app/var
WORKDIR /app
# The example manifests; compose mounts ./manifests over them so that yours are used.
COPY --chown=root:root manifests ./manifests
USER kbatch:kbatch
CMD ["kbatch", "--help"]
