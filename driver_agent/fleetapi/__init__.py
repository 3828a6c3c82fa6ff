"""Bringg's fleet API from the driver's side: wire bodies, webhook payloads, the client.

Pure: `wire` (request bodies, the task view, notes), `webhook_payloads` (the five webhooks
decoded), `ratelimit` and `resend` (what a call may do again). Edges: `client` (token cache,
retries, one method per endpoint) over `transport` and the HTTP/1.1 engine (`http11`,
`http11_parser`); `webhooks` (the receiver) and `merchant` (order creation on the merchant side).
"""

from __future__ import annotations
