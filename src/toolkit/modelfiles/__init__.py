"""Model files: loading, writing (freezing), Keras conversion, pretrained downloads, and
exports for deployment (SavedModel, ONNX, TFLite)."""
