"""The agent side: WebSocket client, agent sessions joining calls to agents, their
media and metrics, the built-in echo agent and demo setup."""
