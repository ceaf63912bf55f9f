"""Image backbones, text embeddings, LEAF's experts and gates, and the FER network."""
