"""Model files: loading, writing (freezing), Keras conversion, pretrained downloads."""
