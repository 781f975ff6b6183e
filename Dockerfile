# syntax=docker/dockerfile:1
#
# Kujenga container image.
#
#   docker build -t kujenga .
#   docker run -p 8080:8080 -v kujenga-data:/data kujenga
#   docker run -e DATABASE_URL=postgres://… -p 8080:8080 kujenga
#   docker run -i -v kujenga-data:/data kujenga admin create --email admin@example.org
#
# SQLite, libpq and OpenSSL are compiled from source into the binary
# (bundled/vendored crate features), so the build needs only a C compiler,
# perl and make — all present in the rust image — and the runtime image needs
# nothing beyond glibc, CA certificates and curl for the health check.

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

WORKDIR /src
COPY . .

# The cache mounts keep downloaded crates and compiled dependencies between
# builds; the binary is copied out of the (mounted) target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin kujenga \
 && install -D -m 0755 target/release/kujenga /out/kujenga

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 kujenga \
 && useradd --system --uid 10001 --gid kujenga --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin kujenga \
 && mkdir -p /data \
 && chown kujenga:kujenga /data

COPY --from=builder /out/kujenga /usr/local/bin/kujenga

# The SQLite database, the token-signing key and the mail folder live here.
VOLUME /data
WORKDIR /data

ENV KUJENGA_DATA_DIR=/data \
    KUJENGA_BIND=0.0.0.0:8080

USER kujenga:kujenga
EXPOSE 8080

# Liveness only (/healthz does no I/O). If you change KUJENGA_BIND's port,
# override the health check too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["kujenga"]
CMD ["serve"]
