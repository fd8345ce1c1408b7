"""Faces in photos: detection and embedding, identification, clustering."""
