"""Face detection and alignment with MTCNN (``detect_face``) and the dataset aligner script."""
