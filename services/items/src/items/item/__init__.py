"""Items: the catalogue, with owners."""
