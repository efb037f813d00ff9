# Trove's image on a Docker host: the static trove binary (controller, agent,
# CLI and built-in Functions) and restic, built from the versions pinned in
# go.mod, on a busybox userland. The dev node (test/cluster) writes the same
# layout offline with test/images, which is what Trove's CI tests; this file is
# used by kind/e2e.sh and for releases.
#
#   docker build -t trove.dev/trove:dev .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# restic is a tool of Trove's module: its version is the one go.mod pins.
RUN go build -ldflags "-s -w" -o /out/trove ./cmd/trove \
 && go build -ldflags "-s -w" -o /out/restic github.com/restic/restic/cmd/restic

FROM busybox:1.36.1
COPY --from=build /out/trove /out/restic /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/trove"]
