"""Prediction pictures: overlays, color splash, grids."""
