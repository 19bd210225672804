"""The release version, in one place.

It is the image's tags and its org.opencontainers.image.version label, the SBOM's version,
and the connector's --version, linked in with x_defs both by //connector/cmd/connector
(`tools/bazel run //:connector -- --version`) and by the image's binaries (//images).
CHANGELOG.md's newest section and MODULE.bazel's version say the same, and the Kubernetes
manifests pull this tag: //images:image_test and //deploy/kubernetes check them.
"""

VERSION = "0.3.0"
