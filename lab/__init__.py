"""Instruments: Protocols, inventory, scheduler, safety limits and transports."""
