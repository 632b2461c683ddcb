# syntax=docker/dockerfile:1
# flowplane-operator image: the operator (entrypoint), the runtime (`flowplane-runtime`,
# the command of manifests/base/runtime-deployment.yaml) and the kubectl-flowplane plugin.
#
#   docker build -t ghcr.io/flowplane/flowplane-operator:0.1.0 .
#
# Stage 1 builds a wheel and installs it with its dependencies into a venv; stage 2 is
# a clean python:3.11-slim plus that venv, without pip, setuptools or any compiler, run
# as the unprivileged uid/gid 65532 (the "nonroot" user of distroless images).
# The local control plane and the test helpers are a separate package (devtools/,
# flowplane-devtools) outside the build context (.dockerignore), so the image has neither
# that package nor its `flowplane-cluster` script; the build fails if either turns up,
# if an installed module still imports the test helpers, or if an entry point cannot start.
# tests/unit/test_cli_packaging.py builds the same wheel into a fresh venv and runs both
# entry points from it (there is no Docker engine in CI).
# Without an engine, `make image` (hack/image/build.sh) builds the same image (same venv
# path, entrypoint, user, env, ports) from a debootstrap rootfs into an OCI archive.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN test ! -e devtools && test ! -e src/flowplane_devtools \
 && python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/flowplane \
 && python -m pip --python /opt/flowplane/bin/python install --no-compile /wheels/*.whl \
 && test ! -e /opt/flowplane/bin/flowplane-cluster \
 && test -z "$(find /opt/flowplane -name 'flowplane_devtools*')" \
 && ! grep -rlE --include='*.py' 'flowplane_devtools|flowplane\.testing' \
      /opt/flowplane/lib/python*/site-packages/flowplane \
 && for script in flowplane-operator flowplane-runtime kubectl-flowplane; do \
      /opt/flowplane/bin/$script --help > /dev/null || exit 1; \
    done \
 && /opt/flowplane/bin/python -m compileall -q /opt/flowplane/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="flowplane-operator" \
      org.opencontainers.image.description="Kubernetes operator and runtime for draft/published workflows" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN python -m pip uninstall --yes --quiet pip setuptools wheel
COPY --from=build /opt/flowplane /opt/flowplane
ENV PATH=/opt/flowplane/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
WORKDIR /tmp
# operator: metrics 8080, health 8081; runtime: events 8080, health 8081, metrics 9090
EXPOSE 8080 8081 9090
ENTRYPOINT ["flowplane-operator"]
