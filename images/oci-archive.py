#!/usr/bin/env python3
"""Writes a single-layer container image archive from a locally built binary, without a
container engine or a registry (called by images/build-oci.sh).

The layer holds the binary, the shared libraries the dynamic loader resolves for it on this
machine (so the image runs exactly the binary that was tested), a non-root user (65532) and a
writable /tmp. The archive is both an OCI image layout (oci-layout, index.json, blobs/) and a
`docker save` archive (manifest.json pointing at the same blobs), the format Docker 25+ writes,
so `docker load`, `podman load`, `skopeo copy oci-archive:` and `crane push` all read it.
Timestamps come from SOURCE_DATE_EPOCH (default 0), so the same inputs give the same digests.

    oci-archive.py build --binary PATH --name NAME --ref REPO:TAG --out ARCHIVE
                   [--lib PATH]... [--env K=V]... [--cmd ARG]... [--label K=V]...
    oci-archive.py inspect ARCHIVE DOCKERFILE
        checks that the archive's entrypoint, user and environment are those of the
        Dockerfile's final stage, and prints "ENTRYPOINT USER"
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile

NONROOT = 65532
PASSWD = f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = f"root:x:0:\nnonroot:x:{NONROOT}:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class ArchiveError(Exception):
    pass


class Layer:
    """A reproducible tar: fixed times and owners, parents created before children."""

    def __init__(self, mtime):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.mtime = mtime
        self.dirs = set()

    def _info(self, name, kind, mode, uid=0):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, self.mtime
        info.uid = info.gid = uid
        info.uname = info.gname = ""
        return info

    def dir(self, path, mode=0o755, uid=0):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.dir(os.path.dirname(path))
        self.dirs.add(path)
        self.tar.addfile(self._info(path + "/", tarfile.DIRTYPE, mode, uid))

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        info = self._info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ArchiveError(f"cannot read {path}: {e.strerror}") from e


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(args):
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entrypoint = f"/usr/local/bin/{args.name}"

    layer = Layer(epoch)
    for d in ("bin", "etc", "lib", "usr/bin", "usr/local/bin", "var"):
        layer.dir(d)
    layer.dir("tmp", mode=0o1777)
    layer.dir("home/nonroot", mode=0o755, uid=NONROOT)
    layer.file("etc/passwd", PASSWD.encode())
    layer.file("etc/group", GROUP.encode())
    layer.file("etc/nsswitch.conf", NSSWITCH.encode())
    if os.path.exists(CA_BUNDLE):
        layer.file(CA_BUNDLE, read(CA_BUNDLE))
    for lib in sorted(set(args.lib)):
        # Stored as regular files at the path the loader asks for (symlinks resolved).
        layer.file(lib, read(os.path.realpath(lib)), mode=0o755)
    layer.file(entrypoint, read(args.binary), mode=0o755)
    tar = layer.bytes()
    layer_gz = gzip.compress(tar, compresslevel=6, mtime=0)

    env = ["PATH=/usr/local/bin:/usr/bin:/bin"] + args.env
    labels = dict(kv.split("=", 1) for kv in args.label)
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": f"{NONROOT}:{NONROOT}",
            "Entrypoint": [entrypoint],
            "Cmd": args.cmd,
            "Env": env,
            "WorkingDir": "/home/nonroot",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [blob(tar)]},
        "history": [{"created": created, "created_by": f"images/build-oci.sh {args.name}"}],
    }
    config_json = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": blob(config_json), "size": len(config_json)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": blob(layer_gz), "size": len(layer_gz)}],
        "annotations": {"org.opencontainers.image.created": created, **labels},
    }
    manifest_json = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    tag = args.ref.rsplit(":", 1)[1] if ":" in args.ref.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": blob(manifest_json),
            "size": len(manifest_json),
            "annotations": {"io.containerd.image.name": args.ref, "org.opencontainers.image.ref.name": tag},
        }],
    }
    path_of = lambda data: "blobs/sha256/" + blob(data).split(":", 1)[1]
    docker_manifest = [{"Config": path_of(config_json), "RepoTags": [args.ref], "Layers": [path_of(layer_gz)]}]

    out = Layer(epoch)
    out.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for data in (layer_gz, config_json, manifest_json):
        out.file(path_of(data), data)
    out.file("index.json", json.dumps(index, sort_keys=True).encode())
    out.file("manifest.json", json.dumps(docker_manifest, sort_keys=True).encode())
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out.bytes())
    os.replace(tmp, args.out)
    print(f"{args.out}: {args.ref} {blob(manifest_json)} (layer {len(layer_gz) // 1024} KiB compressed)")


def inspect(archive, dockerfile):
    with tarfile.open(archive) as t:
        config_path = json.load(t.extractfile("manifest.json"))[0]["Config"]
        config = json.load(t.extractfile(config_path))["config"]
    final = read(dockerfile).decode().split("\nFROM ")[-1]
    entrypoint = re.search(r"^ENTRYPOINT (.*)$", final, re.M)
    user = re.search(r"^USER (\S+)$", final, re.M)
    if not entrypoint or not user:
        raise ArchiveError(f"{dockerfile}: the final stage needs ENTRYPOINT and USER")
    env = re.findall(r"^ENV (\S+=\S+)$", final, re.M)
    bad = [f"{key}: Dockerfile {want!r}, archive {config.get(key)!r}"
           for key, want in (("Entrypoint", json.loads(entrypoint.group(1))), ("User", user.group(1)))
           if config.get(key) != want]
    bad += [f"ENV {e} is not in the archive" for e in env if e not in config.get("Env", [])]
    bad += [f"archive Env {e} is not in the Dockerfile" for e in config.get("Env", [])
            if e not in env and not e.startswith("PATH=")]
    if bad:
        raise ArchiveError(f"{archive} and {dockerfile} disagree: " + "; ".join(bad))
    print(config["Entrypoint"][0], config["User"])


def main(argv):
    if len(argv) == 4 and argv[1] == "inspect":
        try:
            inspect(argv[2], argv[3])
        except (ArchiveError, OSError, KeyError, IndexError, ValueError, tarfile.TarError) as e:
            print(f"oci-archive: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) < 2 or argv[1] != "build":
        print(__doc__, file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(prog="oci-archive.py build", description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--name", required=True, help="file name of the binary in /usr/local/bin")
    p.add_argument("--ref", required=True, help="image reference recorded in the archive, REPO:TAG")
    p.add_argument("--out", required=True)
    p.add_argument("--lib", action="append", default=[], help="shared library to include (repeatable)")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    args = p.parse_args(argv[2:])
    try:
        build(args)
    except (ArchiveError, OSError, ValueError) as e:
        print(f"oci-archive: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
