# syntax=docker/dockerfile:1
# Build: the same static binary as `make build` (CI checks that binary).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION}

# Run: distroless, no shell, numeric non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/switchboard /usr/local/bin/switchboard
COPY config.yaml /etc/switchboard/config.yaml
USER 65532:65532
EXPOSE 8080 8081
# switchboard handles SIGTERM: GOODBYE to every session, then exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard", "--config", "/etc/switchboard/config.yaml"]
