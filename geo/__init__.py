"""Geometry for City Eye: coordinate systems, Xiangyang's county-level boundaries and the camera inventory."""
