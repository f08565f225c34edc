# okta-token-exporter's container image: the statically linked binary on an empty base.
#
# Build it with `bash deploy/container/build.sh`, which first builds the static binary and stages
# it with the CA roots, /etc/passwd, /etc/group and /etc/nsswitch.conf in target/container/rootfs
# (the only part of the repository that .dockerignore lets into the build context), then runs
# `buildah bud` on this file. Nothing here runs a command: no base image to pull, no shell inside.
FROM scratch

ARG VERSION
ARG REVISION
ARG SOURCE

LABEL org.opencontainers.image.title="okta-token-exporter" \
      org.opencontainers.image.description="Prometheus exporter that warns before Okta API tokens lapse" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# /okta-token-exporter, /etc/ssl/certs/ca-certificates.crt, /etc/passwd, /etc/group,
# /etc/nsswitch.conf; all owned by root and read-only to the exporter's user.
COPY target/container/rootfs/ /

USER 65532:65532
EXPOSE 9871
ENTRYPOINT ["/okta-token-exporter"]
CMD ["--config.file=/etc/okta-token-exporter/config.yml"]
