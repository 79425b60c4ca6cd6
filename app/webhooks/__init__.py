"""Webhook machinery shared by the API (registration) and the delivery activity: the SSRF
address policy, the guarded connection, signing, secrets at rest, and one HTTP attempt."""
