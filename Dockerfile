# Mawid server image: built on the official Rust image, run on slim Debian as a non-root user.
# docker compose up (see docker-compose.yml) builds it; tests/api/deploy.rs keeps it honest.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build between image builds; the binary is copied out
# in the same step because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mawid-server --bin mawid \
    && cp target/release/mawid /usr/local/bin/mawid

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/mawid --create-home \
       --shell /usr/sbin/nologin mawid
COPY --from=builder /usr/local/bin/mawid /usr/local/bin/mawid
WORKDIR /var/lib/mawid
USER mawid:mawid
ENV MAWID_BIND=0.0.0.0:8080 \
    MAWID_LOG_FORMAT=json \
    MAWID_MAIL_DIR=/var/lib/mawid/mail
EXPOSE 8080
# The slim image has no curl: the binary probes its own /readyz (database included).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["mawid", "healthcheck"]
# SIGTERM lets in-flight requests finish and the mail worker complete its current message.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mawid"]
CMD ["serve"]
