"""Token-signing keys: stored encrypted, published as a JWKS."""
