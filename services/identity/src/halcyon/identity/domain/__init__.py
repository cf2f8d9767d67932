"""Identity's rules: roles, sign-in, personnel files, credential expiry. No I/O here."""
