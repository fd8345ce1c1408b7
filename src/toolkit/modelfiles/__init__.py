"""Model files: loading, writing, converting and exporting FaceNet models."""
