"""Readiness groups that read many UDP/TCP sockets from one epoll registration."""
