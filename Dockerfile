# Multi-stage build of relay-server and the relay CLI.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p relay-server -p relay-cli

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/relay --create-home relay \
    && chmod 0700 /var/lib/relay
COPY --from=build /src/target/release/relay-server /usr/local/bin/relay-server
COPY --from=build /src/target/release/relay /usr/local/bin/relay
COPY --from=build /src/packs /opt/relay/packs
USER relay
ENV RELAY_DATA_DIR=/var/lib/relay \
    RELAY_PACKS_DIR=/opt/relay/packs \
    RELAY_LISTEN=0.0.0.0:18190
VOLUME ["/var/lib/relay"]
EXPOSE 18190
ENTRYPOINT ["/usr/local/bin/relay-server"]
