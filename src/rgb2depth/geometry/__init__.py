"""3D from depth: camera models, point clouds, reconstruction (paper 003, Section 4.4)."""
