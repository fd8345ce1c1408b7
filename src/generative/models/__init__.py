"""VAE model definitions, chosen by name with the scripts' ``vae_def`` argument."""
