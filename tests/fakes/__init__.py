"""Fakes of the services the bot talks to, speaking their real protocols."""
