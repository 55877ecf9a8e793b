"""Media and formats, the lowest room above the catalog: decoding photos (EXIF orientation,
bombs refused) and video frames (rotation applied), XMP face regions, catalog paths, crop
geometry, file hashing, and the bundle and manifest formats facesets writes. Each rule is written once here and called from every stage."""
from facesets.media.decode import DecodedImage, DecodeError, read_bytes, read_image, read_sha256
from facesets.media.hashing import sha256_bytes, sha256_file
from facesets.media.paths import catalog_path, fs_path
from facesets.media.video import is_video_path, read_source, sample_frames

__all__ = ["DecodedImage", "DecodeError", "read_bytes", "read_image", "read_sha256", "sha256_file", "sha256_bytes", "catalog_path", "fs_path",
           "is_video_path", "read_source", "sample_frames"]
