"""First-party vision plugin: plain-torch backbones and image datasets."""
