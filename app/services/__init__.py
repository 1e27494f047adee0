"""Business rules per aggregate; no strawberry, no starlette."""
