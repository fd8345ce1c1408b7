"""Network definitions; each exposes ``inference(images, keep_probability, phase_train,
bottleneck_layer_size, weight_decay, reuse)`` returning ``(prelogits, end_points)``."""
