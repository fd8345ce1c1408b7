"""Running a loaded model: the fast frozen graph, graph rewrites, embedding arrays and image paths."""
