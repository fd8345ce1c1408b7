"""Building blocks of the networks: layers and the convolution gradients."""
