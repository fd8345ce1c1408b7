"""Datasets on disk: image folders, training sets, the tf.data input pipeline, filtering, MS-Celeb."""
