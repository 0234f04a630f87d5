# The rohe agent image for machines that can pull a base image. Where no registry is reachable,
# `rohe agent image build` makes the same image through the Docker API from the rohe binary
# itself (no base image); agent.docker.image names whichever you use.
#
#   docker build -t rohe-agent:0.1.0 .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rohe

FROM debian:bookworm-slim
COPY --from=build /src/target/release/rohe /usr/local/bin/rohe
ENV XDG_STATE_HOME=/tmp XDG_DATA_HOME=/tmp XDG_CONFIG_HOME=/tmp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rohe"]
CMD ["agent", "run", "--help"]
