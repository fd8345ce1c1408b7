"""Generative experiments: variational autoencoders with a FaceNet perceptual loss."""
