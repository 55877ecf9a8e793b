"""Media and formats, the lowest room above the catalog: decoding photos (EXIF orientation,
bombs refused), catalog paths, crop geometry, file hashing, and the bundle and manifest
formats facesets writes. Each rule is written once here and called from every stage."""
from facesets.media.decode import DecodedImage, DecodeError, read_bytes, read_image
from facesets.media.hashing import sha256_bytes, sha256_file
from facesets.media.paths import catalog_path, fs_path

__all__ = ["DecodedImage", "DecodeError", "read_bytes", "read_image", "sha256_file", "sha256_bytes", "catalog_path", "fs_path"]
