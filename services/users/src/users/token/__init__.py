"""Token issuing: the OAuth2 password grant."""
