"""oci_image, oci_image_index, oci_load and oci_push: a small stand-in for rules_oci (which
needs the Bazel Central Registry and downloads crane/regctl/jq from GitHub, neither reachable
here), plus oci_sbom.

The names and the main attributes follow rules_oci (`oci_image`, `oci_image_index`,
`oci_load`, `oci_push`, `repo_tags`, `remote_tags`, `repository`, `entrypoint`, `user`, `env`,
`labels`), so that moving to rules_oci where a registry is reachable is a small change. The
actions run //tools/ocibuild and //tools/sbom, and `bazel run` of an oci_push runs
//tools/ocipush: Go tools built by rules_go on github.com/google/go-containerregistry.
Images start from scratch.
"""

def _oci_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + "_layout")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    spec = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    files = [struct(dest = ctx.attr.binary_path, src = ctx.executable.binary.path, mode = "0755", uid = 0, gid = 0)]
    inputs = [ctx.executable.binary]
    for target, dest in ctx.attr.files.items():
        f = target.files.to_list()
        if len(f) != 1:
            fail("%s: files entries must be single files" % target.label)
        files.append(struct(dest = dest, src = f[0].path, mode = "0644", uid = 0, gid = 0))
        inputs.append(f[0])
    dirs = []
    for d in ctx.attr.dirs:
        parts = d.split(":")
        uid = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        mode = parts[2] if len(parts) > 2 else "0755"
        dirs.append(struct(dest = parts[0], src = "", mode = mode, uid = uid, gid = uid))
    ctx.actions.write(spec, json.encode(struct(
        files = files,
        dirs = dirs,
        entrypoint = ctx.attr.entrypoint or [ctx.attr.binary_path],
        cmd = ctx.attr.cmd,
        user = ctx.attr.user,
        env = ["%s=%s" % (k, v) for k, v in sorted(ctx.attr.env.items())],
        labels = ctx.attr.labels,
        volumes = ctx.attr.volumes,
        ports = ctx.attr.ports,
        workdir = ctx.attr.workdir,
        arch = ctx.attr.architecture,
    )))
    ctx.actions.run(
        executable = ctx.executable._ocibuild,
        arguments = ["-spec", spec.path, "-layout", layout.path, "-digest", digest.path],
        inputs = inputs + [spec],
        outputs = [layout, digest],
        mnemonic = "OciImage",
        progress_message = "Assembling OCI image %{label}",
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(layout = depset([layout]), digest = depset([digest])),
    ]

oci_image = rule(
    implementation = _oci_image_impl,
    doc = "An OCI image layout from scratch: one layer with the binary, files and directories.",
    attrs = {
        "binary": attr.label(executable = True, cfg = "target", mandatory = True, doc = "the program (static)"),
        "binary_path": attr.string(default = "/app", doc = "where the binary goes in the image"),
        "files": attr.label_keyed_string_dict(allow_files = True, doc = "file label -> path in the image"),
        "dirs": attr.string_list(doc = "empty directories, as PATH, PATH:UID (owned by UID:UID) or PATH:UID:MODE (octal)"),
        "entrypoint": attr.string_list(doc = "default: [binary_path]"),
        "cmd": attr.string_list(),
        "user": attr.string(doc = "UID:GID the process runs as"),
        "env": attr.string_dict(),
        "labels": attr.string_dict(doc = "OCI labels (org.opencontainers.image.*)"),
        "volumes": attr.string_list(),
        "ports": attr.string_list(doc = "exposed ports, e.g. 9090/tcp"),
        "workdir": attr.string(),
        "architecture": attr.string(default = "amd64"),
        "_ocibuild": attr.label(default = "//tools/ocibuild", executable = True, cfg = "exec"),
    },
)

def _oci_load_impl(ctx):
    layout = ctx.attr.image[OutputGroupInfo].layout.to_list()[0]
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ["-from-layout", layout.path, "-tarball", tarball.path]
    if ctx.attr.platform:
        args += ["-platform", ctx.attr.platform]
    for t in ctx.attr.repo_tags:
        args += ["-tag", t]
    ctx.actions.run(
        executable = ctx.executable._ocibuild,
        arguments = args,
        inputs = [layout],
        outputs = [tarball],
        mnemonic = "OciTarball",
        progress_message = "Writing docker-loadable tarball %{label}",
        # go-containerregistry refuses layout blobs that are symlinks, which is how a sandbox
        # presents a directory input: read the layout where Bazel wrote it.
        execution_requirements = {"no-sandbox": "1"},
    )
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, is_executable = True, content = """#!/usr/bin/env bash
# Loads {tags} into the local container engine (docker, or podman).
set -euo pipefail
tarball="${{RUNFILES_DIR:-$0.runfiles}}/_main/{short}"
[[ -f $tarball ]] || tarball="{short}"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker load -i "$tarball"
elif command -v podman >/dev/null; then
  podman load -i "$tarball"
else
  echo "oci_load: no running container engine (docker or podman) found; the tarball is $tarball" >&2
  exit 1
fi
""".format(short = tarball.short_path, tags = " ".join(ctx.attr.repo_tags)))
    return [
        DefaultInfo(files = depset([tarball]), executable = script, runfiles = ctx.runfiles(files = [tarball])),
        OutputGroupInfo(tarball = depset([tarball])),
    ]

oci_load = rule(
    implementation = _oci_load_impl,
    doc = "A docker-loadable tarball of an oci_image (or of one platform's image of an " +
          "oci_image_index) with repo_tags; `bazel run` loads it.",
    executable = True,
    attrs = {
        "image": attr.label(mandatory = True, providers = [OutputGroupInfo], doc = "an oci_image or oci_image_index"),
        "repo_tags": attr.string_list(mandatory = True),
        "platform": attr.string(doc = "os/arch to take from an index; default: the platform Bazel runs on"),
        "_ocibuild": attr.label(default = "//tools/ocibuild", executable = True, cfg = "exec"),
    },
)

def _layout_of(target):
    return target[OutputGroupInfo].layout.to_list()[0]

def _oci_image_index_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + "_layout")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    layouts = [_layout_of(i) for i in ctx.attr.images]
    args = []
    for l in layouts:
        args += ["-index-of", l.path]
    ctx.actions.run(
        executable = ctx.executable._ocibuild,
        arguments = args + ["-layout", layout.path, "-digest", digest.path],
        inputs = layouts,
        outputs = [layout, digest],
        mnemonic = "OciImageIndex",
        progress_message = "Assembling OCI image index %{label}",
        # Layout blobs must not be symlinks (see oci_load).
        execution_requirements = {"no-sandbox": "1"},
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(layout = depset([layout]), digest = depset([digest])),
    ]

oci_image_index = rule(
    implementation = _oci_image_index_impl,
    doc = "An OCI image index (multi-platform image) of oci_images, one per platform, in the given order.",
    attrs = {
        "images": attr.label_list(mandatory = True, providers = [OutputGroupInfo], doc = "oci_image targets, one per platform"),
        "_ocibuild": attr.label(default = "//tools/ocibuild", executable = True, cfg = "exec"),
    },
)

def _oci_sbom_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".spdx.json")
    layout = _layout_of(ctx.attr.image)
    args = ["-layout", layout.path, "-name", ctx.attr.image_name, "-version", ctx.attr.version,
            "-namespace", ctx.attr.namespace, "-o", out.path]
    inputs = [layout]
    for target, dest in ctx.attr.generated.items():
        exe = target[DefaultInfo].files_to_run.executable
        args += ["-generated", "%s=%s" % (dest, exe.path)]
        inputs.append(exe)
    ctx.actions.run(
        executable = ctx.executable._sbom,
        arguments = args,
        inputs = inputs,
        outputs = [out],
        mnemonic = "OciSbom",
        progress_message = "Writing the SBOM of %{label}",
        execution_requirements = {"no-sandbox": "1"},
    )
    return [DefaultInfo(files = depset([out]))]

oci_sbom = rule(
    implementation = _oci_sbom_impl,
    doc = "The SPDX 2.3 JSON SBOM of an oci_image or oci_image_index, read from the Go programs' " +
          "build information in its layers (//tools/sbom).",
    attrs = {
        "image": attr.label(mandatory = True, providers = [OutputGroupInfo]),
        "image_name": attr.string(mandatory = True),
        "version": attr.string(mandatory = True),
        "namespace": attr.string(mandatory = True, doc = "URI prefix of the SPDX document namespace"),
        "generated": attr.label_keyed_string_dict(
            cfg = "exec",
            doc = "Go program -> the file in the image it generated (its modules are listed as contained)",
        ),
        "_sbom": attr.label(default = "//tools/sbom", executable = True, cfg = "exec"),
    },
)

def _oci_push_impl(ctx):
    layout = _layout_of(ctx.attr.image)
    push = ctx.executable._ocipush
    args = ["-layout", '"$r/%s"' % layout.short_path]
    files = [layout]
    if ctx.file.sbom:
        args += ["-sbom", '"$r/%s"' % ctx.file.sbom.short_path]
        files.append(ctx.file.sbom)
    for v in ctx.attr.remote_tags + [ctx.attr.repository]:
        if "'" in v:
            fail("%s: quotes are not allowed in remote_tags and repository" % ctx.label)
    for t in ctx.attr.remote_tags:
        args += ["-default-tag", "'%s'" % t]
    if ctx.attr.repository:
        args += ["-repository", "'%s'" % ctx.attr.repository]
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, is_executable = True, content = """#!/usr/bin/env bash
# Pushes {image} (and its SBOM) to --repository REGISTRY/PATH under --tag (default: {tags}),
# with the Docker credentials of the user (~/.docker/config.json). See //tools/ocipush.
set -euo pipefail
r="${{RUNFILES_DIR:-$0.runfiles}}/_main"
[[ -e $r/{push} ]] || r=.
exec "$r/{push}" {args} "$@"
""".format(image = ctx.attr.image.label, tags = " ".join(ctx.attr.remote_tags), push = push.short_path, args = " ".join(args)))
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._ocipush[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

oci_push = rule(
    implementation = _oci_push_impl,
    doc = "`bazel run` pushes an oci_image_index (or oci_image) to a registry, tags it and attaches the SBOM.",
    executable = True,
    attrs = {
        "image": attr.label(mandatory = True, providers = [OutputGroupInfo]),
        "sbom": attr.label(allow_single_file = True, doc = "SPDX JSON attached to the pushed index as an OCI referrer"),
        "repository": attr.string(doc = "default repository; --repository overrides it"),
        "remote_tags": attr.string_list(doc = "tags pushed when no --tag is given"),
        "_ocipush": attr.label(default = "//tools/ocipush", executable = True, cfg = "target"),
    },
)
