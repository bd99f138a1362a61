"""OCI layouts of random, incompressible layers, for tests and benchmarks that move bytes
(pushes, progress output) and need blobs no compressor or dedup can shrink."""

import hashlib
import json
import os

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def write_blob(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def random_layout(path, layer_sizes, ref_name=None):
    """Writes at `path` an OCI layout of one image whose layers are random bytes of the given
    sizes (plain tar media type; the digests stand in as diff IDs). Returns the layer digests."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers = []
    for size in layer_sizes:
        digest, size = write_blob(blobs, os.urandom(size))
        layers.append({"mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": size})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
    config_digest, config_size = write_blob(blobs, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": config_size},
                           "layers": layers}).encode()
    digest, size = write_blob(blobs, manifest)
    descriptor = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": size}
    if ref_name is not None:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return [l["digest"] for l in layers]
