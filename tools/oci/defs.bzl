"""oci_image and oci_load: a small stand-in for rules_oci (which needs the Bazel Central
Registry and downloads crane/regctl/jq from GitHub, neither reachable here).

The names and the main attributes follow rules_oci (`oci_image`, `oci_load`, `repo_tags`,
`entrypoint`, `user`, `env`, `labels`), so that moving to rules_oci where a registry is
reachable is a small change. The actions run //tools/ocibuild, a Go tool built by rules_go on
github.com/google/go-containerregistry. Images start from scratch.
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
    doc = "A docker-loadable tarball of an oci_image with repo_tags; `bazel run` loads it.",
    executable = True,
    attrs = {
        "image": attr.label(mandatory = True, providers = [OutputGroupInfo]),
        "repo_tags": attr.string_list(mandatory = True),
        "_ocibuild": attr.label(default = "//tools/ocibuild", executable = True, cfg = "exec"),
    },
)
